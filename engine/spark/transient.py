"""Stages that hold transient read errors are written, but never reused: the Spark side, a count.

After a stage is written, its rows with a transient read error (the reader sets `meta.transient`: an error
the OS raised, see `engine.readers.transient_error`) are counted here, on the stage as read back;
engine/stages.py records them in the stage's manifest (which then says it is not reusable), so the next run
recomputes it, whole, and `manifest.json` `stages` says why. Every later stage carries the same rows, so it
is recorded and recomputed too.
"""
from __future__ import annotations

MAX_FILES = 20


def find(df) -> dict:
    """{reason: {docs, files}} of the rows of stage DataFrame `df` with a transient read error."""
    from pyspark.sql import functions as F

    if not {"reason", "meta"} <= set(df.columns):
        return {}
    file = F.get_json_object("meta", "$.file")
    rows = (df.where(F.col("reason").startswith("read:error:"))
              .where(F.get_json_object("meta", "$.transient") == "true")
              .groupBy("reason").agg(F.count("*").alias("docs"),
                                     F.slice(F.sort_array(F.collect_set(file)), 1, MAX_FILES).alias("files"))
              .collect())
    return {r["reason"]: {"docs": r["docs"], "files": list(r["files"] or [])} for r in rows}
