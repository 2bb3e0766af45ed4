"""Mixing by tokens, the plan: how many tokens every leaf of the mix contributes (pure Python, no Spark).

- `plan_mix(spec, available) -> MixPlan`: the token budget of every leaf, from what the leaves hold
  (`engine.spark.sample.available_tokens`); raises `InfeasibleMix` naming every source (and group) that
  cannot meet its budget. `engine.spark.sample.apply_mix` then picks the documents.

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
   moves (computed exactly: `engine.plan.shares.clip_shares`). Bounds no set of shares can meet
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
   infeasible, naming it. Without a budget (keep everything) the synthetic parts just shrink. Under a cap,
   the synthetic parts are cut at or below their targets and the non-synthetic cuts keep the realized share
   within the cap (engine/plan/cuts.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from engine.plan.shares import apportion, clip_shares, group_shares, temperature_shares  # noqa: F401 (API)

SYNTHETIC = "synthetic"
NULL_GROUP = "(null)"       # the group of documents whose group_by column is null
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
    expected_tokens: int | None = None   # what the sampler will realize (set from its cuts by `tamis plan`)
    expected_docs: int | None = None
    group_by: str | None = None          # the column whose value `group` is (grouped sources)

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
    cut: str = "nearest"              # the spec's cut policy (engine/plan/cuts.py)
    notes: list[str] = field(default_factory=list)

    @property
    def requested_tokens(self) -> int:
        return sum(l.requested_tokens or 0 for l in self.leaves)

    @property
    def available_tokens(self) -> int:
        return sum(l.available_tokens for l in self.leaves)

    @property
    def expected_tokens(self) -> int | None:
        """The realized total the sampler's cuts give (None until they are computed)."""
        if any(l.expected_tokens is None for l in self.leaves if l.requested_tokens):
            return None
        return sum(l.expected_tokens or 0 for l in self.leaves)

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


def _capacity(tokens: int, max_epochs: float) -> int:
    return math.floor(tokens * max_epochs + _EPS)


def _fmt(n) -> str:
    return f"{n:,}"


def _is_grouped(source) -> bool:
    return bool(source.group_by)


def _samples_groups(source) -> bool:
    return _is_grouped(source) and (source.temperature is not None or source.group_weights is not None
                                    or source.min_share is not None or source.max_share is not None)


# ---------------------------------------------------------------- plan


def plan_mix(spec, available: list[dict]) -> MixPlan:
    """Token budget per leaf. Raises InfeasibleMix (with `.plan`) listing every leaf that cannot be met.

    Problems are collected in the order of the steps (group shares, source budgets, group budgets, the
    synthetic cap, each leaf's capacity), so `tamis plan` shows every one of them at once.
    """
    budgeted = spec.target_tokens is not None or any(s.tokens is not None for s in spec.sources)
    plan = MixPlan(group_cols=tuple(dict.fromkeys(s.group_by for s in spec.sources if s.group_by)),
                   mode="budget" if budgeted else "keep",
                   target_tokens=spec.target_tokens, synthetic_max_share=spec.limits.synthetic_max_share,
                   cut=getattr(spec, "cut", "nearest"))
    problems: list[str] = []
    by_leaf = {(a["source"], a.get("group")): a for a in available}
    src_leaves = {s.name: _source_leaves(s, by_leaf) for s in spec.sources}
    for leaves in src_leaves.values():
        plan.leaves.extend(leaves)
    shares = {s.name: _shares_of(s, src_leaves[s.name], problems) for s in spec.sources}
    budgets, kept_whole = _source_budgets(spec, src_leaves, shares, plan, problems)
    for s in spec.sources:
        _group_budgets(s, src_leaves[s.name], budgets.get(s.name, 0), shares[s.name],
                       s.name in kept_whole, plan.mode, problems)
    if plan.synthetic_max_share is not None:
        _apply_synthetic_cap(plan, problems, {s.name for s in spec.sources if s.weight is not None})
    for l in plan.leaves:
        _check_leaf(l, spec.source(l.source))
        if l.problem:
            problems.append(l.problem)
    if problems:
        raise InfeasibleMix(problems, plan)
    return plan


def _source_leaves(s, by_leaf: dict[tuple, dict]) -> list[Leaf]:
    """The leaves of one source (its groups, or one leaf), with what the data holds for each."""
    groups = [None]
    if _is_grouped(s):
        groups = sorted(g for (src, g) in by_leaf if src == s.name and g is not None)
        if s.group_weights:   # a group the weights name is a leaf even without data (and then infeasible)
            groups = sorted(set(groups) | {g for g, w in s.group_weights.items() if w > 0})
        groups = groups or [None]
    leaves = []
    for g in groups:
        a = by_leaf.get((s.name, g), {})
        leaves.append(Leaf(s.name, g, int(a.get("tokens") or 0), int(a.get("docs") or 0), None,
                           max_epochs=s.max_epochs,
                           synthetic_available_tokens=int(a.get("synthetic_tokens") or 0),
                           synthetic_available_docs=int(a.get("synthetic_docs") or 0),
                           group_by=s.group_by if g is not None else None))
    return leaves


def _shares_of(s, leaves: list[Leaf], problems: list[str]) -> dict | None:
    """The group shares of a grouped source; None for an ungrouped one or when the bounds cannot be met."""
    if not _is_grouped(s) or leaves[0].group is None:
        return None
    try:
        return group_shares(s, {l.group: l.available_tokens for l in leaves})
    except ValueError as e:
        problems.append(f"source {s.name!r}: group shares: {e}")
        return None


# ---------------------------------------------------------------- source budgets


def _source_budgets(spec, src_leaves, shares, plan: MixPlan, problems: list[str]) -> tuple[dict, set]:
    """({source: tokens}, names of the sources kept whole): rules 1 and 2 of the module doc."""
    budgeted = plan.mode == "budget"
    keep_sources = [s for s in spec.sources if s.tokens is None and (s.weight is None or not budgeted)]
    budgets = {s.name: _keep_budget(s, src_leaves[s.name], shares[s.name], problems) for s in keep_sources}
    if budgeted:
        _budgeted_sources(spec, budgets, problems)
    elif any(s.weight is not None for s in spec.sources):
        plan.notes.append("no target_tokens: weights are not applied, every source keeps what passed")
    return budgets, {s.name for s in keep_sources}


def _keep_budget(s, leaves: list[Leaf], shares: dict | None, problems: list[str]) -> int:
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


def _budgeted_sources(spec, budgets: dict, problems: list[str]):
    """Budget mode: `tokens` as given, the rest of `target_tokens` shared by weight (into `budgets`)."""
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
        _share_target(spec.target_tokens, fixed, weighted, budgets, problems)


def _share_target(target: int, fixed: int, weighted: list, budgets: dict, problems: list[str]):
    """The weighted sources share what `target_tokens` leaves after the fixed ones, by weight."""
    rest = target - fixed
    if rest < 0:
        problems.append(f"target_tokens {_fmt(target)} is less than the sources with tokens "
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
        problems.append(f"target_tokens {_fmt(target)}: the sources give only {_fmt(fixed)} "
                        f"(give a source a weight to take the rest)")


# ---------------------------------------------------------------- group budgets


def _group_budgets(s, leaves: list[Leaf], budget: int, shares: dict | None, kept_whole: bool, mode: str,
                   problems: list[str]):
    """Split a source's budget over its leaves (rule 3); the synthetic part follows each leaf's composition."""
    if kept_whole and not _samples_groups(s):   # kept whole: exactly what each leaf has
        for l in leaves:
            l.requested_tokens = l.available_tokens
            l.share = None if shares is None else shares.get(l.group, 0.0)
            l.synthetic_requested_tokens = l.synthetic_available_tokens
        return
    if shares is None:
        if len(leaves) == 1:
            leaves[0].requested_tokens = budget
        else:   # group shares failed (already a problem): proportional, for display
            for l, b in zip(leaves, apportion(budget, [l.available_tokens or 1 for l in leaves])):
                l.requested_tokens = b
    else:
        _split_by_shares(s, leaves, budget, shares, mode, problems)
    for l in leaves:   # the synthetic part follows the leaf's composition until a cap says otherwise
        if l.available_tokens:
            l.synthetic_requested_tokens = int(Fraction(l.requested_tokens) * l.synthetic_available_tokens
                                               / l.available_tokens)


def _split_by_shares(s, leaves: list[Leaf], budget: int, shares: dict, mode: str, problems: list[str]):
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
    if mode == "keep" or (s.tokens is None and s.weight is None):   # rounding never exceeds
        for l in leaves:
            l.requested_tokens = min(l.requested_tokens, _capacity(l.available_tokens, l.max_epochs))


# ---------------------------------------------------------------- synthetic cap and feasibility


def _apply_synthetic_cap(plan: MixPlan, problems: list[str], weighted: set[str]):
    """Rule 5 of the module doc: shrink the synthetic parts to the cap, give the freed tokens to the others."""
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


def _check_leaf(l: Leaf, src):
    """Set the leaf's epochs, and its problem when its data cannot give what it is asked (rule 4)."""
    req = l.requested_tokens or 0
    l.epochs = req / l.available_tokens if l.available_tokens else 0.0
    if req <= 0:
        return
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
