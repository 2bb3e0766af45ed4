"""Stages that hold transient read errors are written, but never reused: counting them.

The reader marks an error the OS raised as transient (`meta.transient`, see `engine.readers.transient_error`).
Each task that writes a stage's part counts those rows in the batches it writes (`batch_errors`, Arrow
compute on the `reason` column; only error rows are parsed), the driver merges the tasks' counts (`merge`),
and engine/stages.py records them in the stage's manifest, which then says it is not reusable: the next run
recomputes it, whole, and `manifest.json` `stages` says why. Every later stage carries the same rows, so it
is recorded and recomputed too. No second pass over the stage.
"""
from __future__ import annotations

import json

MAX_FILES = 20


def batch_errors(batch) -> dict:
    """{reason: {docs, files}} of the rows of Arrow `batch` with a transient read error (files: sorted, at
    most MAX_FILES)."""
    import pyarrow.compute as pc

    if "reason" not in batch.schema.names or "meta" not in batch.schema.names:
        return {}
    mask = pc.fill_null(pc.starts_with(batch.column("reason"), "read:error:"), False)
    if not pc.any(mask).as_py():
        return {}
    found: dict[str, dict] = {}
    for row in batch.filter(mask).select(["reason", "meta"]).to_pylist():   # error rows only
        meta = json.loads(row["meta"] or "{}")
        if meta.get("transient") is True:
            e = found.setdefault(row["reason"], {"docs": 0, "files": set()})
            e["docs"] += 1
            if meta.get("file") is not None:
                e["files"].add(meta["file"])
    return {r: {"docs": e["docs"], "files": sorted(e["files"])[:MAX_FILES]} for r, e in found.items()}


def merge(parts) -> dict:
    """The counts of several batches or tasks as one (files: the MAX_FILES first, sorted)."""
    out: dict[str, dict] = {}
    for part in parts:
        for reason, e in part.items():
            m = out.setdefault(reason, {"docs": 0, "files": set()})
            m["docs"] += e["docs"]
            m["files"].update(e["files"])
    return {r: {"docs": m["docs"], "files": sorted(m["files"])[:MAX_FILES]} for r, m in sorted(out.items())}
