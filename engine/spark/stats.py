"""Counts of a run for its manifest: aggregates only, never documents on the driver."""
from __future__ import annotations


def reason_counts(df):
    """(rows of docs, tokens, text bytes and renamed ids per (source, reason), {source: {"<col>:<value>": n}}
    of every `*_skipped` value). All duplicates count under one reason, `duplicate`."""
    from pyspark.sql import functions as F

    from engine.spark.ids import renamed_count

    reason_key = F.when(F.col("reason").startswith("duplicate:"), F.lit("duplicate")).otherwise(F.col("reason"))
    counts = (df.groupBy("source", reason_key.alias("reason"))
                .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens"),
                     F.sum(F.length("text")).alias("text_bytes"), renamed_count().alias("renamed")).collect())
    skip_cols = [c for c in df.columns if c.endswith("_skipped")]
    skips = {}
    if skip_cols:
        values = F.array(*[F.when(F.col(c).isNotNull(), F.concat(F.lit(f"{c}:"), F.col(c))) for c in skip_cols])
        for r in (df.select("source", F.explode(values).alias("skip")).where(F.col("skip").isNotNull())
                    .groupBy("source", "skip").count().collect()):
            skips.setdefault(r["source"], {})[r["skip"]] = r["count"]
    return counts, skips


def text_bytes(counts, kept: bool) -> int:
    """Text bytes of the kept (`reason` null) or of the dropped documents, from `reason_counts`."""
    return sum(r["text_bytes"] or 0 for r in counts if (r["reason"] is None) == kept)


def kept_docs(df):
    from pyspark.sql import functions as F

    return df.where(F.col("reason").isNull())


def rejected_docs(df):
    from pyspark.sql import functions as F

    return df.where(F.col("reason").isNotNull())
