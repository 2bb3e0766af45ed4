"""Mixing by tokens: which documents (and how many repetitions of each) go into the output.

Interface used by engine/run.py and engine/cli/plan.py:
- `available_tokens(kept_df, spec) -> list[dict]`: per leaf (source, group): docs, tokens, and the synthetic
  part of them (a Spark aggregate; only counts reach the driver)
- `plan_mix(spec, available) -> MixPlan`: pure Python on the driver, the token budget of every leaf;
  raises `InfeasibleMix` naming every source (and group) that cannot meet its budget
- `apply_mix(kept_df, spec, plan) -> DataFrame`: the selected documents, with an `epoch` column
  (0 for a first copy, k for the (k+1)-th repetition)
- `realized_tokens(df, spec) -> list[dict]`: per leaf docs/tokens of a mixed DataFrame (or written shards)

A leaf is (source, group); group is None for a source without `group_by`, and the column's value (as a
string; `(null)` when missing) for one with it.

Budgets (all token counts are integers; apportionments use the largest remainder method, so parts always
sum exactly to their whole):
1. Without `target_tokens` and without any `tokens`: every source keeps everything that passed (1 epoch);
   `weight` is not applied. A grouped source with `temperature`/`group_weights` keeps the largest budget, at
   most its available tokens, at which every group's share fits in `available x max_epochs`.
2. Otherwise a source with `tokens` gets exactly that; a source with neither `weight` nor `tokens` keeps
   everything it has; the sources with `weight` share the rest of `target_tokens` in proportion to their
   weights (with no `tokens` anywhere that is exactly `weight x target_tokens`).
3. Inside a grouped source, group shares are `available_g ** temperature`, renormalized (XLM-R / mT5
   sampling; temperature 1 = proportional, -> 0 = uniform), or `group_weights` renormalized (groups it does
   not name get 0); without either, proportional. `min_share`/`max_share` then bound every group's share:
   groups that fall outside the bounds are pinned at the bound and the others renormalized, until nothing
   moves. The fixed point is `share_g = clip(c * p_g, min, max)` with the one scale `c` that makes the shares
   sum to 1; it is computed exactly by walking the breakpoints of that monotone piecewise-linear sum
   (pinning in alternating passes can oscillate; this cannot). Bounds no set of shares can meet
   (groups x min_share > 1, groups x max_share < 1) are infeasible.
4. A leaf needs `requested <= available x max_epochs`; a budget on a source or group with 0 tokens after
   filters is infeasible.
5. `limits.synthetic_max_share`: documents with `kind == 'synthetic'` are counted wherever they sit (every
   leaf is split into a synthetic and a non-synthetic part, each sampled on its own so the realized share
   follows the plan). When the planned synthetic share exceeds the cap, the synthetic parts shrink (in
   proportion) to the cap; with a token budget the freed tokens go to the non-synthetic parts of the
   sources sized by `weight` (those with absolute `tokens` or kept whole keep their size; when no source has
   a weight, to every non-synthetic part), in proportion to their planned tokens, which keeps the proportions
   among them that the spec asked for. A part that cannot take its share within `max_epochs` makes the mix
   infeasible, naming it. Without a budget (keep everything) the synthetic parts just shrink. Under a cap, synthetic parts are cut at or below their target
   and non-synthetic ones at or above it, so the realized share never exceeds the cap.

Sampling (deterministic for identical spec + seed + inputs): every document gets u = xxhash64("tamis-mix",
seed, id), a 64-bit key. A part with target t and available a takes floor(t / a) full epochs (every
document, epoch 0..k-1) and, for the remainder, the documents with the smallest u whose token sum comes
closest to it (epoch k). The cut is found without sorting documents: a Spark aggregate of tokens into 4096
u-buckets per part locates the bucket where the running sum crosses the target, a second aggregate refines
inside it when it holds many documents, and the few (u, id, n_tokens) triples of the final bucket are
ordered on the driver. So a leaf's realized tokens are within one document of its target.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

SYNTHETIC = "synthetic"
NULL_GROUP = "(null)"       # the group of documents whose group_by column is null
BUCKET_BITS = 12            # 4096 u-buckets per refinement level
FINAL_DOCS = 4096           # a boundary bucket with at most this many documents is ordered on the driver
MAX_LEVEL = 4               # 4 x 12 bits: beyond that only identical keys (duplicate ids) remain together
_EPS = 1e-6


class InfeasibleMix(Exception):
    """A mix that cannot be met: names the source (and group), the tokens it has and the tokens it needs.

    `problems`: one line per leaf that fails; `plan`: the plan as far as it could be made (for `tamis plan`).
    """

    def __init__(self, problems, plan: "MixPlan | None" = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.plan = plan
        super().__init__("; ".join(self.problems))


@dataclass
class Leaf:
    source: str
    group: str | None
    available_tokens: int
    available_docs: int
    requested_tokens: int | None      # tokens this leaf must contribute (set by plan_mix)
    epochs: float = 1.0               # requested / available
    max_epochs: float = 1.0
    share: float | None = None        # the group's share of its source's budget (grouped sources)
    synthetic_available_tokens: int = 0
    synthetic_available_docs: int = 0
    synthetic_requested_tokens: int = 0
    problem: str | None = None        # why this leaf is infeasible

    @property
    def label(self) -> str:
        return f"source {self.source!r}" + (f" group {self.group!r}" if self.group is not None else "")

    def parts(self):
        """(synthetic, available_tokens, available_docs, requested_tokens) of the leaf's two parts."""
        req = self.requested_tokens or 0
        return [(False, self.available_tokens - self.synthetic_available_tokens,
                 self.available_docs - self.synthetic_available_docs, req - self.synthetic_requested_tokens),
                (True, self.synthetic_available_tokens, self.synthetic_available_docs,
                 self.synthetic_requested_tokens)]


@dataclass
class MixPlan:
    leaves: list[Leaf] = field(default_factory=list)
    group_cols: tuple = ()            # the distinct group_by columns (for information)
    mode: str = "keep"                # keep: everything that passed; budget: target_tokens / tokens
    target_tokens: int | None = None
    synthetic_max_share: float | None = None
    synthetic_capped: bool = False    # the cap was binding and the plan was adjusted
    notes: list[str] = field(default_factory=list)

    @property
    def requested_tokens(self) -> int:
        return sum(l.requested_tokens or 0 for l in self.leaves)

    @property
    def available_tokens(self) -> int:
        return sum(l.available_tokens for l in self.leaves)

    @property
    def synthetic_share(self) -> float:
        req = self.requested_tokens
        return sum(l.synthetic_requested_tokens for l in self.leaves) / req if req else 0.0

    @property
    def expected_ratio(self) -> float:
        """Planned output tokens / available tokens (sizes the shard count)."""
        return self.requested_tokens / (self.available_tokens or 1)

    def leaf(self, source: str, group: str | None = None) -> Leaf:
        return next(l for l in self.leaves if l.source == source and l.group == group)

    def manifest_leaves(self, realized) -> list[dict]:
        out = []
        for l in self.leaves:
            rows = [r for r in realized if r["source"] == l.source and r.get("group") == l.group]
            out.append({"source": l.source, "group": l.group, "available_tokens": l.available_tokens,
                        "available_docs": l.available_docs, "requested_tokens": l.requested_tokens,
                        "realized_tokens": sum(r["tokens"] or 0 for r in rows),
                        "realized_docs": sum(r["docs"] for r in rows), "epochs": round(l.epochs, 6),
                        "max_epochs": l.max_epochs, "share": None if l.share is None else round(l.share, 6),
                        "synthetic_requested_tokens": l.synthetic_requested_tokens,
                        "synthetic_realized_tokens": sum(r.get("synthetic_tokens") or 0 for r in rows)})
        return out


# ---------------------------------------------------------------- pure arithmetic


def apportion(total: int, weights) -> list[int]:
    """Split the integer `total` in proportion to `weights` (largest remainder; sums exactly to `total`).

    Ties in the remainders go to the earlier item. Exact arithmetic (fractions), so the result does not
    depend on float rounding.
    """
    weights = [Fraction(w) for w in weights]
    if total < 0:
        raise ValueError("cannot apportion a negative total")
    s = sum(weights)
    if total == 0 or not weights:
        return [0] * len(weights)
    if s <= 0:
        raise ValueError("cannot apportion a positive total over zero weights")
    quotas = [total * w / s for w in weights]
    out = [math.floor(q) for q in quotas]
    rest = total - sum(out)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - out[i]), i))
    for i in order[:rest]:
        out[i] += 1
    return out


def temperature_shares(available: dict[str, int], temperature: float) -> dict[str, float]:
    """Shares proportional to available ** temperature, renormalized (groups with 0 tokens get 0)."""
    base = {g: (a ** temperature if a > 0 else 0.0) for g, a in available.items()}
    s = sum(base.values())
    return {g: (b / s if s else 0.0) for g, b in base.items()}


def clip_shares(shares: dict[str, float], min_share: float | None = None,
                max_share: float | None = None) -> dict[str, float]:
    """Bound every positive share to [min_share, max_share] and renormalize the rest (see the module doc).

    Returns clip(c * p_g, lo, hi) with the c that makes them sum to 1; groups with share 0 stay 0.
    Raises ValueError when no shares can meet the bounds.
    """
    lo = min_share or 0.0
    hi = 1.0 if max_share is None else max_share
    active = {g: p for g, p in shares.items() if p > 0}
    n = len(active)
    out = {g: 0.0 for g in shares}
    if not n:
        return out
    if lo > hi:
        raise ValueError(f"min_share {lo:g} > max_share {hi:g}")
    if n * lo > 1 + 1e-12:
        raise ValueError(f"min_share {lo:g} x {n} groups = {n * lo:g} > 1")
    if n * hi < 1 - 1e-12:
        raise ValueError(f"max_share {hi:g} x {n} groups = {n * hi:g} < 1")
    total = sum(active.values())
    p = {g: v / total for g, v in active.items()}

    def f(c):
        return sum(min(max(c * v, lo), hi) for v in p.values())

    # f is continuous, nondecreasing and linear between the breakpoints lo/p and hi/p
    points = sorted({0.0} | {lo / v for v in p.values()} | {hi / v for v in p.values()})
    c = points[-1]
    prev = points[0]
    if f(prev) >= 1:
        c = prev
    else:
        for x in points[1:]:
            fx = f(x)
            if fx >= 1:
                fp = f(prev)
                mid = (prev + x) / 2
                slope = sum(v for v in p.values() if lo < mid * v < hi)
                c = prev + (1 - fp) / slope if slope > 0 else x
                break
            prev = x
    vals = {g: min(max(c * v, lo), hi) for g, v in p.items()}
    s = sum(vals.values())
    out.update({g: v / s for g, v in vals.items()})
    return out


def group_shares(source, available: dict[str, int]) -> dict[str, float]:
    """The share of each group of a grouped source (temperature, group_weights or proportional; then bounds)."""
    if source.group_weights is not None:
        base = {g: float(source.group_weights.get(g, 0.0)) for g in available}
        s = sum(base.values())
        base = {g: (w / s if s else 0.0) for g, w in base.items()}
    else:
        base = temperature_shares(available, source.temperature if source.temperature is not None else 1.0)
    return clip_shares(base, source.min_share, source.max_share)


def _capacity(tokens: int, max_epochs: float) -> int:
    return math.floor(tokens * max_epochs + _EPS)


def _fmt(n) -> str:
    return f"{n:,}"


# ---------------------------------------------------------------- plan


def _is_grouped(source) -> bool:
    return bool(source.group_by)


def _samples_groups(source) -> bool:
    return _is_grouped(source) and (source.temperature is not None or source.group_weights is not None
                                    or source.min_share is not None or source.max_share is not None)


def plan_mix(spec, available: list[dict]) -> MixPlan:
    """Token budget per leaf. Raises InfeasibleMix (with `.plan`) listing every leaf that cannot be met."""
    by_leaf = {(a["source"], a.get("group")): a for a in available}
    plan = MixPlan(group_cols=tuple(dict.fromkeys(s.group_by for s in spec.sources if s.group_by)),
                   target_tokens=spec.target_tokens, synthetic_max_share=spec.limits.synthetic_max_share)
    problems: list[str] = []
    budgeted = spec.target_tokens is not None or any(s.tokens is not None for s in spec.sources)
    plan.mode = "budget" if budgeted else "keep"

    # leaves of every source, with what they have
    src_leaves: dict[str, list[Leaf]] = {}
    for s in spec.sources:
        if _is_grouped(s):
            groups = sorted(g for (src, g) in by_leaf if src == s.name and g is not None)
            if s.group_weights:
                groups = sorted(set(groups) | {g for g, w in s.group_weights.items() if w > 0})
            groups = groups or [None]
        else:
            groups = [None]
        leaves = []
        for g in groups:
            a = by_leaf.get((s.name, g), {})
            leaves.append(Leaf(s.name, g, int(a.get("tokens") or 0), int(a.get("docs") or 0), None,
                               max_epochs=s.max_epochs,
                               synthetic_available_tokens=int(a.get("synthetic_tokens") or 0),
                               synthetic_available_docs=int(a.get("synthetic_docs") or 0)))
        src_leaves[s.name] = leaves
        plan.leaves.extend(leaves)

    def shares_of(s, leaves) -> dict | None:
        if not _is_grouped(s) or leaves[0].group is None:
            return None
        try:
            return group_shares(s, {l.group: l.available_tokens for l in leaves})
        except ValueError as e:
            problems.append(f"source {s.name!r}: group shares: {e}")
            return None

    def keep_budget(s, leaves, shares) -> int:
        """What a source without a budget contributes: everything, or at these group shares the most it can."""
        total = sum(l.available_tokens for l in leaves)
        if shares is None or not _samples_groups(s):
            return total
        for l in leaves:
            if shares.get(l.group, 0) > 0 and _capacity(l.available_tokens, l.max_epochs) == 0:
                problems.append(f"{l.label} has 0 tokens after filters, but its group share "
                                f"{shares[l.group]:.3g} asks for part of the source")
        limits = [Fraction(_capacity(l.available_tokens, l.max_epochs)) / Fraction(shares[l.group])
                  for l in leaves if shares.get(l.group, 0) > 0]
        return int(min([Fraction(total)] + limits))

    # source budgets
    budgets: dict[str, int] = {}
    shares_by_source = {s.name: shares_of(s, src_leaves[s.name]) for s in spec.sources}
    keep_sources = [s for s in spec.sources if s.tokens is None and (s.weight is None or not budgeted)]
    for s in keep_sources:
        budgets[s.name] = keep_budget(s, src_leaves[s.name], shares_by_source[s.name])
    if budgeted:
        weighted = [s for s in spec.sources if s.weight is not None]
        for s in spec.sources:
            if s.tokens is not None:
                budgets[s.name] = s.tokens
        fixed = sum(budgets.values())
        if weighted and spec.target_tokens is None:
            for s in weighted:
                problems.append(f"source {s.name!r}: weight {s.weight:g} needs target_tokens "
                                f"(other sources give absolute tokens)")
                budgets[s.name] = 0
        elif spec.target_tokens is not None:
            rest = spec.target_tokens - fixed
            if rest < 0:
                problems.append(f"target_tokens {_fmt(spec.target_tokens)} is less than the sources with tokens "
                                f"or kept whole already need ({_fmt(fixed)})")
                rest = 0
            if weighted:
                ws = [s.weight for s in weighted]
                if sum(ws) <= 0:
                    if rest > 0:
                        problems.append(f"the weights are all 0 but {_fmt(rest)} tokens of target_tokens are left "
                                        f"to share")
                    ws, rest = [1.0] * len(weighted), 0
                for s, b in zip(weighted, apportion(rest, ws)):
                    budgets[s.name] = b
            elif rest > 0:
                problems.append(f"target_tokens {_fmt(spec.target_tokens)}: the sources give only {_fmt(fixed)} "
                                f"(give a source a weight to take the rest)")
    else:
        if any(s.weight is not None for s in spec.sources):
            plan.notes.append("no target_tokens: weights are not applied, every source keeps what passed")

    # group budgets
    keep_names = {s.name for s in keep_sources}
    for s in spec.sources:
        leaves = src_leaves[s.name]
        budget = budgets.get(s.name, 0)
        shares = shares_by_source[s.name]
        if s.name in keep_names and not _samples_groups(s):   # kept whole: exactly what each leaf has
            for l in leaves:
                l.requested_tokens = l.available_tokens
                l.share = None if shares is None else shares.get(l.group, 0.0)
                l.synthetic_requested_tokens = l.synthetic_available_tokens
            continue
        if shares is None:
            if len(leaves) == 1:
                leaves[0].requested_tokens = budget
            else:   # group shares failed (already a problem): proportional, for display
                for l, b in zip(leaves, apportion(budget, [l.available_tokens or 1 for l in leaves])):
                    l.requested_tokens = b
        else:
            for l in leaves:
                l.share = shares.get(l.group, 0.0)
            if budget > 0 and sum(shares.values()) <= 0:
                problems.append(f"source {s.name!r} has 0 tokens after filters in every group, "
                                f"needs {_fmt(budget)}")
                for l in leaves:
                    l.requested_tokens = 0
            else:
                for l, b in zip(leaves, apportion(budget, [shares.get(l.group, 0.0) for l in leaves])):
                    l.requested_tokens = b
            if plan.mode == "keep" or (s.tokens is None and s.weight is None):   # rounding never exceeds
                for l in leaves:
                    l.requested_tokens = min(l.requested_tokens, _capacity(l.available_tokens, l.max_epochs))
        for l in leaves:   # the synthetic part follows the leaf's composition until a cap says otherwise
            if l.available_tokens:
                l.synthetic_requested_tokens = int(Fraction(l.requested_tokens) * l.synthetic_available_tokens
                                                   / l.available_tokens)

    if plan.synthetic_max_share is not None:
        _apply_synthetic_cap(plan, problems, {s.name for s in spec.sources if s.weight is not None})

    # feasibility per leaf
    for l in plan.leaves:
        req = l.requested_tokens or 0
        l.epochs = req / l.available_tokens if l.available_tokens else 0.0
        if req <= 0:
            continue
        src = spec.source(l.source)
        if l.available_tokens == 0:
            if l.group is not None and l.share is not None:
                why = f"its group share {l.share:.3g}"
            elif src.weight is not None:
                why = f"weight {src.weight:g}"
            else:
                why = f"tokens {_fmt(src.tokens)}" if src.tokens is not None else "its budget"
            l.problem = (f"{l.label} has 0 tokens after filters, but {why} asks for {_fmt(req)} tokens")
        elif req > _capacity(l.available_tokens, l.max_epochs):
            l.problem = (f"{l.label} needs {_fmt(req)} tokens but has {_fmt(l.available_tokens)} "
                         f"(max_epochs {l.max_epochs:g} allows {_fmt(_capacity(l.available_tokens, l.max_epochs))}, "
                         f"needs {req / l.available_tokens:.3g} epochs)")
        else:
            for syn, a, _d, r in l.parts():
                if r > 0 and r > _capacity(a, l.max_epochs):
                    what = "synthetic" if syn else "non-synthetic"
                    l.problem = (f"{l.label} ({what} part, after limits.synthetic_max_share) needs {_fmt(r)} tokens "
                                 f"but has {_fmt(a)} (max_epochs {l.max_epochs:g} allows "
                                 f"{_fmt(_capacity(a, l.max_epochs))})")
        if l.problem:
            problems.append(l.problem)
    if problems:
        raise InfeasibleMix(problems, plan)
    return plan


def _apply_synthetic_cap(plan: MixPlan, problems: list[str], weighted: set[str]):
    cap = plan.synthetic_max_share
    syn = [l.synthetic_requested_tokens for l in plan.leaves]
    non = [(l.requested_tokens or 0) - s for l, s in zip(plan.leaves, syn)]
    S, N = sum(syn), sum(non)
    total = S + N
    if S <= cap * total + _EPS:
        return
    plan.synthetic_capped = True
    if plan.mode == "budget":
        new_s = math.floor(cap * total + _EPS)
        new_n = total - new_s   # > N: the freed tokens
    else:                        # keep everything non-synthetic; shrink the synthetic tokens to the cap
        new_n = N
        new_s = math.floor(cap * N / (1 - cap) + _EPS) if cap < 1 else S
    if new_n > 0 and N == 0:
        problems.append(f"limits.synthetic_max_share {cap:g}: the mix has no non-synthetic tokens to take the "
                        f"{_fmt(new_n)} tokens the cap frees")
        return
    syn2 = apportion(new_s, syn) if new_s else [0] * len(syn)
    # the freed tokens go to the non-synthetic parts of sources sized relative to the target (weight);
    # sources with absolute tokens or kept whole keep their size (all non-synthetic parts when none has a weight)
    takers = [l.source in weighted and n > 0 for l, n in zip(plan.leaves, non)]
    if not any(takers):
        takers = [n > 0 for n in non]
    extra = apportion(new_n - N, [n if t else 0 for n, t in zip(non, takers)]) if new_n > N else [0] * len(non)
    non2 = [n + e for n, e in zip(non, extra)]
    for l, s2, n2 in zip(plan.leaves, syn2, non2):
        l.synthetic_requested_tokens = s2
        l.requested_tokens = s2 + n2
    plan.notes.append(f"limits.synthetic_max_share {cap:g}: synthetic tokens cut from {_fmt(S)} to {_fmt(new_s)}"
                      + (f", non-synthetic raised from {_fmt(N)} to {_fmt(new_n)} in proportion"
                         if new_n != N else ""))


# ---------------------------------------------------------------- Spark side


def _group_expr(spec, columns):
    """The leaf's group per row: the source's group_by column as a string, '' for ungrouped sources."""
    from pyspark.sql import functions as F

    expr = None
    for s in spec.sources:
        if not s.group_by:
            continue
        if s.group_by not in columns:
            raise InfeasibleMix(f"source {s.name!r}: group_by column {s.group_by!r} does not exist "
                                f"(columns: {', '.join(sorted(columns))})")
        e = F.coalesce(F.col(s.group_by).cast("string"), F.lit(NULL_GROUP))
        cond = F.col("source") == F.lit(s.name)
        expr = F.when(cond, e) if expr is None else expr.when(cond, e)
    return F.lit("") if expr is None else expr.otherwise(F.lit(""))


def with_leaf(df, spec):
    """`df` plus `_grp` (group, '' for none) and `_syn` (kind == synthetic)."""
    from pyspark.sql import functions as F

    return (df.withColumn("_grp", _group_expr(spec, df.columns))
              .withColumn("_syn", F.coalesce(F.col("kind") == F.lit(SYNTHETIC), F.lit(False))))


def _group_out(g: str):
    return None if g == "" else g


def available_tokens(kept, spec) -> list[dict]:
    """Docs and tokens per leaf (and their synthetic part): one small aggregate."""
    from pyspark.sql import functions as F

    rows = (with_leaf(kept, spec).groupBy("source", "_grp", "_syn")
            .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens")).collect())
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (r["source"], _group_out(r["_grp"]))
        d = out.setdefault(key, {"source": key[0], "group": key[1], "docs": 0, "tokens": 0,
                                 "synthetic_docs": 0, "synthetic_tokens": 0})
        d["docs"] += r["docs"]
        d["tokens"] += int(r["tokens"] or 0)
        if r["_syn"]:
            d["synthetic_docs"] += r["docs"]
            d["synthetic_tokens"] += int(r["tokens"] or 0)
    return sorted(out.values(), key=lambda d: (d["source"], d["group"] or ""))


def realized_tokens(df, spec) -> list[dict]:
    """Docs, tokens, synthetic tokens and the highest epoch per leaf of a mixed DataFrame."""
    from pyspark.sql import functions as F

    syn = F.when(F.col("kind") == F.lit(SYNTHETIC), F.col("n_tokens")).otherwise(F.lit(0))
    epoch = F.col("epoch") if "epoch" in df.columns else F.lit(0)
    rows = (with_leaf(df, spec).groupBy("source", "_grp")
            .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens"),
                 F.sum(syn).alias("synthetic_tokens"), F.max(epoch).alias("max_epoch")).collect())
    return sorted(({"source": r["source"], "group": _group_out(r["_grp"]), "docs": r["docs"],
                    "tokens": int(r["tokens"] or 0), "synthetic_tokens": int(r["synthetic_tokens"] or 0),
                    "max_epoch": r["max_epoch"]} for r in rows), key=lambda d: (d["source"], d["group"] or ""))


_MIN_LONG = -(1 << 63)


def _keyed(kept, spec):
    """Leaf columns plus `_sk` (the sampling key, a signed long: u = (_sk + 2^63) / 2^64) and `_uk` (its bits
    as an unsigned number, for bucketing)."""
    from pyspark.sql import functions as F

    sk = F.xxhash64(F.lit("tamis-mix"), F.lit(int(spec.seed)), F.col("id"))
    return (with_leaf(kept, spec).withColumn("_sk", sk)
            .withColumn("_uk", F.col("_sk").bitwiseXOR(F.lit(_MIN_LONG))))


@dataclass
class _Cut:
    key: tuple                 # (source, _grp, _syn)
    full: int                  # full epochs
    target: int                # tokens wanted from the partial epoch (0 < target < available)
    rule: str                  # closest | floor | ceil
    level: int = 0
    prefix: int = 0            # the u bits fixed so far (level x 12 bits)
    before: int = 0            # tokens of the documents with u below the current range
    threshold: tuple | None = None   # (sk, id): the partial epoch takes documents with (sk, id) < threshold
    take_all: bool = False


def _part_table(plan: MixPlan):
    """(source, _grp, _syn, full epochs, remainder target, rule) per part that contributes documents."""
    capped = plan.synthetic_max_share is not None
    out = []
    for l in plan.leaves:
        for syn, a, _d, req in l.parts():
            if req <= 0 or a <= 0:
                continue
            full, rem = divmod(req, a)
            rule = ("floor" if syn else "ceil") if capped else "closest"
            out.append(_Cut((l.source, "" if l.group is None else l.group, syn), full, rem, rule))
    return out


def _choose(before: int, target: int, docs: list[tuple], rule: str):
    """docs: (sk, id, n_tokens) sorted; the running sum starts at `before` (< target).

    Returns the threshold (sk, id) of the first document *not* taken, or None when all are taken.
    """
    cum = before
    sums = [cum]
    for d in docs:
        cum += d[2] or 0
        sums.append(cum)
    # j = number of docs taken; sums[j] running total; floor: max j with sums[j] <= target
    j_floor = max(j for j, c in enumerate(sums) if c <= target)
    j_ceil = next((j for j, c in enumerate(sums) if c >= target), len(docs))
    if rule == "floor":
        j = j_floor
    elif rule == "ceil":
        j = j_ceil
    else:
        j = j_floor if target - sums[j_floor] <= sums[j_ceil] - target else j_ceil
    return None if j >= len(docs) else (docs[j][0], docs[j][1])


def _find_cuts(keyed, cuts: list[_Cut]):
    """Locate every part's cut with bucket aggregates (4096 u-buckets per level) and one small final collect."""
    from pyspark.sql import functions as F

    spark = keyed.sparkSession
    pending = [c for c in cuts if c.target > 0]
    level = 0
    base = keyed.select("source", "_grp", "_syn", "_sk", "_uk", "id", "n_tokens")
    while pending:
        shift = 64 - BUCKET_BITS * (level + 1)
        sel = spark.createDataFrame([(c.key[0], c.key[1], c.key[2], c.prefix) for c in pending],
                                    "source string, _grp string, _syn boolean, _prefix long")
        docs = base.join(F.broadcast(sel), ["source", "_grp", "_syn"])
        if level > 0:
            docs = docs.where(F.shiftrightunsigned(F.col("_uk"), 64 - BUCKET_BITS * level) == F.col("_prefix"))
        bucket = F.shiftrightunsigned(F.col("_uk"), shift).bitwiseAND(F.lit((1 << BUCKET_BITS) - 1))
        rows = (docs.groupBy("source", "_grp", "_syn", bucket.alias("_b"))
                .agg(F.count("*").alias("n"), F.sum("n_tokens").alias("t")).collect())
        hist: dict[tuple, list] = {}
        for r in rows:
            hist.setdefault((r["source"], r["_grp"], r["_syn"]), []).append((r["_b"], r["n"], int(r["t"] or 0)))
        final, refine = [], []
        for c in pending:
            cum = c.before
            chosen = None
            for b, n, t in sorted(hist.get(c.key, [])):
                if cum + t >= c.target:     # the running sum crosses the target inside bucket b
                    chosen = (b, n)
                    break
                cum += t
            if chosen is None:              # cannot happen (target < available); take everything
                c.take_all = True
                continue
            c.before = cum
            c.prefix = (c.prefix << BUCKET_BITS) | chosen[0]
            c.level = level + 1
            (final if chosen[1] <= FINAL_DOCS or c.level >= MAX_LEVEL else refine).append(c)
        if final:
            sel = spark.createDataFrame([(c.key[0], c.key[1], c.key[2], c.prefix, c.level * BUCKET_BITS)
                                         for c in final],
                                        "source string, _grp string, _syn boolean, _prefix long, _bits int")
            shift_final = 64 - BUCKET_BITS * (level + 1)
            rows = (base.join(F.broadcast(sel), ["source", "_grp", "_syn"])
                    .where(F.shiftrightunsigned(F.col("_uk"), shift_final) == F.col("_prefix"))
                    .select("source", "_grp", "_syn", "_sk", "id", "n_tokens").collect())
            per: dict[tuple, list] = {}
            for r in rows:
                per.setdefault((r["source"], r["_grp"], r["_syn"]), []).append((r["_sk"], r["id"], r["n_tokens"]))
            for c in final:
                docs_c = sorted(per.get(c.key, []), key=lambda d: (d[0], d[1].encode("utf-8")))
                thr = _choose(c.before, c.target, docs_c, c.rule)
                if thr is None:
                    # everything in this bucket: the cut is the bucket's end (the next bucket's first key)
                    end = (c.prefix + 1) << (64 - BUCKET_BITS * c.level)
                    if end >= 1 << 64:
                        c.take_all = True
                    else:
                        c.threshold = (end + _MIN_LONG, "")
                else:
                    c.threshold = thr
        pending = refine
        level += 1


def apply_mix(kept, spec, plan: MixPlan):
    """The mixed documents: `epoch` 0..k-1 for full epochs, k for the partial one (see the module doc)."""
    from pyspark.sql import functions as F

    cols = list(kept.columns)
    cuts = _part_table(plan)
    keyed = _keyed(kept, spec)
    _find_cuts(keyed, cuts)
    spark = kept.sparkSession
    rows = []
    for c in cuts:
        partial = c.target > 0
        thr_sk, thr_id = (c.threshold if c.threshold else (None, None))
        rows.append((c.key[0], c.key[1], c.key[2], c.full, partial, c.take_all or thr_sk is None, thr_sk, thr_id))
    schema = ("source string, _grp string, _syn boolean, _full int, _partial boolean, _all boolean, "
              "_thr_sk long, _thr_id string")
    table = spark.createDataFrame(rows, schema)
    j = keyed.join(F.broadcast(table), ["source", "_grp", "_syn"])
    before = (F.col("_sk") < F.col("_thr_sk")) | ((F.col("_sk") == F.col("_thr_sk")) & (F.col("id") < F.col("_thr_id")))
    in_partial = F.col("_partial") & (F.col("_all") | F.coalesce(before, F.lit(False)))
    copies = F.col("_full") + F.when(in_partial, F.lit(1)).otherwise(F.lit(0))
    j = j.withColumn("_copies", copies).where(F.col("_copies") > 0)
    j = j.withColumn("epoch", F.explode(F.sequence(F.lit(0), (F.col("_copies") - 1).cast("int"))))
    return j.select(*cols, "epoch")
