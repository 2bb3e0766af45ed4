"""The mix sampler on Spark: which documents (and how many copies of each) a `MixPlan` takes.

- `available_tokens(kept_df, spec) -> list[dict]`: per leaf (source, group): docs, tokens, and the synthetic
  part of them (a Spark aggregate; only counts reach the driver), the input of `engine.plan.budgets.plan_mix`
- `apply_mix(kept_df, spec, plan) -> DataFrame`: the selected documents, with an `epoch` column
  (0 for a first copy, k for the (k+1)-th repetition)
- `realized_tokens(df, spec) -> list[dict]`: per leaf docs/tokens of a mixed DataFrame (or written shards)

Sampling (deterministic for identical spec + seed + inputs): every document gets u = xxhash64("tamis-mix",
seed, id), a 64-bit key. A part with target t and available a takes floor(t / a) full epochs (every
document, epoch 0..k-1) and, for the remainder, the documents with the smallest u whose token sum comes
closest to it (epoch k). The cut is found without sorting documents: a Spark aggregate of tokens into 4096
u-buckets per part locates the bucket where the running sum crosses the target, a second aggregate refines
inside it when it holds many documents, and the few (u, id, n_tokens) triples of the final bucket are
ordered on the driver. So a leaf's realized tokens are within one document of its target.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import functions as F

from engine.plan.budgets import NULL_GROUP, SYNTHETIC, InfeasibleMix, MixPlan

BUCKET_BITS = 12            # 4096 u-buckets per refinement level
FINAL_DOCS = 4096           # a boundary bucket with at most this many documents is ordered on the driver
MAX_LEVEL = 4               # 4 x 12 bits: beyond that only identical keys (duplicate ids) remain together
_MIN_LONG = -(1 << 63)
_PART = ["source", "_grp", "_syn"]


# ---------------------------------------------------------------- leaves and counts


def _group_expr(spec, columns):
    """The leaf's group per row: the source's group_by column as a string, '' for ungrouped sources."""
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
    return (df.withColumn("_grp", _group_expr(spec, df.columns))
              .withColumn("_syn", F.coalesce(F.col("kind") == F.lit(SYNTHETIC), F.lit(False))))


def _group_out(g: str):
    return None if g == "" else g


def available_tokens(kept, spec) -> list[dict]:
    """Docs and tokens per leaf (and their synthetic part): one small aggregate."""
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
    syn = F.when(F.col("kind") == F.lit(SYNTHETIC), F.col("n_tokens")).otherwise(F.lit(0))
    epoch = F.col("epoch") if "epoch" in df.columns else F.lit(0)
    rows = (with_leaf(df, spec).groupBy("source", "_grp")
            .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens"),
                 F.sum(syn).alias("synthetic_tokens"), F.max(epoch).alias("max_epoch")).collect())
    return sorted(({"source": r["source"], "group": _group_out(r["_grp"]), "docs": r["docs"],
                    "tokens": int(r["tokens"] or 0), "synthetic_tokens": int(r["synthetic_tokens"] or 0),
                    "max_epoch": r["max_epoch"]} for r in rows), key=lambda d: (d["source"], d["group"] or ""))


# ---------------------------------------------------------------- the cut of every part


def _keyed(kept, spec):
    """Leaf columns plus `_sk` (the sampling key, a signed long: u = (_sk + 2^63) / 2^64) and `_uk` (its bits
    as an unsigned number, for bucketing)."""
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
            # under a cap, synthetic parts round down and the others up: the realized share stays <= the cap
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


def _bucket_histogram(base, pending: list[_Cut], level: int) -> dict[tuple, list]:
    """Per pending part: (bucket, docs, tokens) of the 4096 u-buckets inside its current prefix."""
    sel = base.sparkSession.createDataFrame([(*c.key, c.prefix) for c in pending],
                                            "source string, _grp string, _syn boolean, _prefix long")
    docs = base.join(F.broadcast(sel), _PART)
    if level > 0:
        docs = docs.where(F.shiftrightunsigned(F.col("_uk"), 64 - BUCKET_BITS * level) == F.col("_prefix"))
    shift = 64 - BUCKET_BITS * (level + 1)
    bucket = F.shiftrightunsigned(F.col("_uk"), shift).bitwiseAND(F.lit((1 << BUCKET_BITS) - 1))
    rows = (docs.groupBy(*_PART, bucket.alias("_b"))
            .agg(F.count("*").alias("n"), F.sum("n_tokens").alias("t")).collect())
    hist: dict[tuple, list] = {}
    for r in rows:
        hist.setdefault((r["source"], r["_grp"], r["_syn"]), []).append((r["_b"], r["n"], int(r["t"] or 0)))
    return hist


def _descend(pending: list[_Cut], hist: dict[tuple, list], level: int) -> tuple[list[_Cut], list[_Cut]]:
    """Narrow every part to the bucket where its running sum crosses the target: (final, to refine)."""
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
    return final, refine


def _settle(base, final: list[_Cut], level: int):
    """Collect the few documents of each final bucket and set the part's threshold inside it."""
    sel = base.sparkSession.createDataFrame([(*c.key, c.prefix, c.level * BUCKET_BITS) for c in final],
                                            "source string, _grp string, _syn boolean, _prefix long, _bits int")
    shift = 64 - BUCKET_BITS * (level + 1)
    rows = (base.join(F.broadcast(sel), _PART)
            .where(F.shiftrightunsigned(F.col("_uk"), shift) == F.col("_prefix"))
            .select(*_PART, "_sk", "id", "n_tokens").collect())
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


def _find_cuts(keyed, cuts: list[_Cut]):
    """Locate every part's cut with bucket aggregates (4096 u-buckets per level) and one small final collect."""
    base = keyed.select(*_PART, "_sk", "_uk", "id", "n_tokens")
    pending = [c for c in cuts if c.target > 0]
    level = 0
    while pending:
        final, pending = _descend(pending, _bucket_histogram(base, pending, level), level)
        if final:
            _settle(base, final, level)
        level += 1


# ---------------------------------------------------------------- the mixed documents


def apply_mix(kept, spec, plan: MixPlan):
    """The mixed documents: `epoch` 0..k-1 for full epochs, k for the partial one (see the module doc)."""
    cols = list(kept.columns)
    cuts = _part_table(plan)
    keyed = _keyed(kept, spec)
    _find_cuts(keyed, cuts)
    rows = []
    for c in cuts:
        partial = c.target > 0
        thr_sk, thr_id = (c.threshold if c.threshold else (None, None))
        rows.append((*c.key, c.full, partial, c.take_all or thr_sk is None, thr_sk, thr_id))
    schema = ("source string, _grp string, _syn boolean, _full int, _partial boolean, _all boolean, "
              "_thr_sk long, _thr_id string")
    table = kept.sparkSession.createDataFrame(rows, schema)
    j = keyed.join(F.broadcast(table), _PART)
    before = (F.col("_sk") < F.col("_thr_sk")) | ((F.col("_sk") == F.col("_thr_sk")) & (F.col("id") < F.col("_thr_id")))
    in_partial = F.col("_partial") & (F.col("_all") | F.coalesce(before, F.lit(False)))
    copies = F.col("_full") + F.when(in_partial, F.lit(1)).otherwise(F.lit(0))
    j = j.withColumn("_copies", copies).where(F.col("_copies") > 0)
    j = j.withColumn("epoch", F.explode(F.sequence(F.lit(0), (F.col("_copies") - 1).cast("int"))))
    return j.select(*cols, "epoch")
