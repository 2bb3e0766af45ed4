"""Stages that hold transient read errors are written, but never reused.

A stage's key covers the input files' names, sizes and mtimes, not whether they could be read: a file
moved away mid-run (`read:error:FileNotFoundError`) and moved back unchanged gives the same key. So after
a stage is written, its rows with a transient read error (the reader sets `meta.transient`: an error the
OS raised, see `engine.readers.transient_error`) are counted, and a stage that has any gets a
`_TRANSIENT` file (reasons, counts, first files). A completed stage with that file is recomputed on the
next run, whole (stages are not per file yet), and `manifest.json` `stages` says why. Every later stage
carries the same rows, so it is marked and recomputed too.
"""
from __future__ import annotations

import json
import os

MARKER = "_TRANSIENT"
MAX_FILES = 20


class StageLog(dict):
    """{stage: reused} as before, plus `notes[stage]`: extra fields for manifest.json `stages`."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.notes: dict[str, dict] = {}


def note(reused: dict, name: str, **fields):
    notes = getattr(reused, "notes", None)
    if notes is not None:
        notes.setdefault(name, {}).update(fields)


def stored(path: str) -> dict | None:
    """The transient read errors a completed stage holds (None when it has none: reusable)."""
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"unreadable": {"docs": None, "files": []}}   # cannot tell: do not reuse


def summary(errors: dict) -> str:
    return ", ".join(f"{reason} ({v['docs']} docs)" for reason, v in sorted(errors.items()))


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


def before_build(path: str, reused: dict, name: str) -> bool:
    """Whether the completed stage at `path` may be reused; notes why not when it holds transient errors."""
    held = stored(path)
    if held is not None:
        note(reused, name, recomputed=f"the stored result had transient read errors: {summary(held)}")
    return held is None


def after_build(spark, tmp: str, reused: dict, name: str):
    """Mark the freshly written stage `tmp` not reusable when it holds transient read errors."""
    errors = find(spark, tmp)
    if errors:
        with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
            json.dump(errors, f, indent=1, sort_keys=True)
        note(reused, name, reusable=False, transient_read_errors=errors)
