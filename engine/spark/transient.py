"""Stages that hold transient read errors are written, but never reused: the Spark side, a count.

After a stage is written, its rows with a transient read error (the reader sets `meta.transient`: an error
the OS raised, see `engine.readers.transient_error`) are counted here; engine/stages.py marks a stage that
has any (`_TRANSIENT`), refuses to reuse it (the next run recomputes it, whole), and `manifest.json`
`stages` says why. Every later stage carries the same rows, so it is marked and recomputed too.
"""
from __future__ import annotations

MAX_FILES = 20


def find(spark, path: str) -> dict:
    """{reason: {docs, files}} of the rows with a transient read error in the stage at `path`."""
    from pyspark.sql import functions as F

    df = spark.read.parquet(path)
    if not {"reason", "meta"} <= set(df.columns):
        return {}
    file = F.get_json_object("meta", "$.file")
    rows = (df.where(F.col("reason").startswith("read:error:"))
              .where(F.get_json_object("meta", "$.transient") == "true")
              .groupBy("reason").agg(F.count("*").alias("docs"),
                                     F.slice(F.sort_array(F.collect_set(file)), 1, MAX_FILES).alias("files"))
              .collect())
    return {r["reason"]: {"docs": r["docs"], "files": list(r["files"] or [])} for r in rows}

