"""The mix sampler on Spark: which documents (and how many copies of each) a `MixPlan` takes.

- `available_tokens(kept_df, spec) -> list[dict]`: per leaf (source, group): docs, tokens, and the synthetic
  part of them (a Spark aggregate; only counts reach the driver), the input of `engine.plan.budgets.plan_mix`
- `apply_mix(kept_df, spec, plan) -> DataFrame`: the selected documents, with an `epoch` column
  (0 for a first copy, k for the (k+1)-th repetition)
- `realized_tokens(df, spec) -> list[dict]`: per leaf docs/tokens of a mixed DataFrame (or written shards)
- `plan_cuts(kept_df, spec, plan) -> list[Part]`: where every part stops, and the tokens and documents it
  will realize (`tamis plan` shows them; `apply_mix` takes exactly those documents)

Sampling (deterministic for identical spec + seed + inputs): every document gets u = xxhash64("tamis-mix",
seed, id), a 64-bit key. A part with target t and available a takes floor(t / a) full epochs (every
document, epoch 0..k-1) and, for the remainder, the documents with the smallest u up to the cut that the
spec's `cut:` policy picks (epoch k; engine/plan/cuts.py). The cut is found without sorting documents, from
token sums per u-bucket (engine/spark/cuts.py).
"""
from __future__ import annotations

from pyspark.sql import functions as F

from engine.plan.budgets import NULL_GROUP, SYNTHETIC, InfeasibleMix, MixPlan
from engine.plan.cuts import Part, part_table
from engine.spark.cuts import PART, find_cuts, keyed


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


# ---------------------------------------------------------------- the mixed documents


def plan_cuts(kept, spec, plan: MixPlan, keyed_df=None) -> list[Part]:
    """Every part's full epochs and cut under the spec's `cut:` policy; `Part.realized` is what it will give."""
    parts = part_table(plan, spec.cut)
    find_cuts(keyed_df if keyed_df is not None else keyed(kept, spec, with_leaf), parts, spec.cut,
              plan.synthetic_max_share)
    return parts


def expected_per_leaf(parts: list[Part]) -> dict[tuple, tuple[int, int]]:
    """{(source, group): (tokens, docs)} that the cuts realize (group None for an ungrouped source)."""
    out: dict[tuple, tuple[int, int]] = {}
    for p in parts:
        key = (p.key[0], _group_out(p.key[1]))
        t, d = out.get(key, (0, 0))
        out[key] = (t + p.realized, d + p.realized_docs)
    return out


def apply_mix(kept, spec, plan: MixPlan):
    """The mixed documents: `epoch` 0..k-1 for full epochs, k for the partial one (see the module doc)."""
    cols = list(kept.columns)
    keyed_df = keyed(kept, spec, with_leaf)
    rows = []
    for c in plan_cuts(kept, spec, plan, keyed_df):
        partial = c.target > 0
        thr_sk, thr_id = (c.threshold if c.threshold else (None, None))
        rows.append((*c.key, c.full, partial, c.take_all or thr_sk is None, thr_sk, thr_id))
    schema = ("source string, _grp string, _syn boolean, _full int, _partial boolean, _all boolean, "
              "_thr_sk long, _thr_id string")
    table = kept.sparkSession.createDataFrame(rows, schema)
    j = keyed_df.join(F.broadcast(table), PART)
    before = (F.col("_sk") < F.col("_thr_sk")) | ((F.col("_sk") == F.col("_thr_sk")) & (F.col("id") < F.col("_thr_id")))
    in_partial = F.col("_partial") & (F.col("_all") | F.coalesce(before, F.lit(False)))
    copies = F.col("_full") + F.when(in_partial, F.lit(1)).otherwise(F.lit(0))
    j = j.withColumn("_copies", copies).where(F.col("_copies") > 0)
    j = j.withColumn("epoch", F.explode(F.sequence(F.lit(0), (F.col("_copies") - 1).cast("int"))))
    return j.select(*cols, "epoch")
