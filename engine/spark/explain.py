"""What happened to the documents of every leaf before the mix, for `tamis plan`: one aggregate."""
from __future__ import annotations

from pyspark.sql import functions as F

from engine.spark.sample import with_leaf


def leaf_reasons(df, spec) -> list[dict]:
    """Docs and tokens per (source, group, reason) of the annotate/dedup stage DataFrame (every record, `reason`
    null for the kept ones; all duplicates under `duplicate`). Only these counts reach the driver."""
    reason = F.when(F.col("reason").startswith("duplicate:"), F.lit("duplicate")).otherwise(F.col("reason"))
    rows = (with_leaf(df, spec).groupBy("source", "_grp", reason.alias("reason"))
            .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens")).collect())
    return [{"source": r["source"], "group": r["_grp"] or None, "reason": r["reason"], "docs": r["docs"],
             "tokens": int(r["tokens"] or 0)} for r in rows]
