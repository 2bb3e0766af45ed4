"""Input files -> Spark tasks: how the score stage (engine/spark/score.py) packs its files into tasks.

Files are never split; big files get a task each and small ones are packed together (`file_tasks`, as
Spark's own file sources pack them), largest first.
"""
from __future__ import annotations

import os

from engine.storage import is_uri
from engine.settings import settings


MAX_TASK_BYTES = 128 << 20     # Spark's spark.sql.files.maxPartitionBytes default
MIN_TASK_BYTES = 4 << 20       # ... and its openCostInBytes: below this, a task's fixed cost dominates
TASKS_PER_CORE = 16            # enough tasks that the last ones to finish are small


def file_tasks(files: list[str], parallelism: int, max_bytes: int | None = None,
               min_bytes: int | None = None, sizes: dict[str, int | None] | None = None) -> list[list[str]]:
    """Input files grouped into tasks: each task's files total at most a target size (about 1/16 of a core's
    share of the input, between `min_bytes` and `max_bytes`, 4 and 128 MB by default, as Spark's
    openCostInBytes and maxPartitionBytes), files taken largest first (ties by path), so a file bigger than
    the target is a task alone, tasks start with the longest, and a folder of many small files is not one
    Spark task (~30 ms of scheduling and JVM work) per file. Deterministic for given files and sizes.
    `$TAMIS_MAX_TASK_BYTES` sets `max_bytes` (and caps `min_bytes`): `1` gives every file its own task.
    `sizes`: {path: bytes} as resolved with the inputs (engine.spec.paths.resolve_source); a path without a
    size there (a folder, a URI) counts as `min_bytes`. Without `sizes`, files are stat'ed here."""

    max_bytes = MAX_TASK_BYTES if max_bytes is None else max_bytes
    min_bytes = MIN_TASK_BYTES if min_bytes is None else min_bytes

    def size(p):
        if sizes is not None:
            return min_bytes if sizes.get(p) is None else sizes[p]
        if is_uri(p):   # never stat a remote path with os (nor a local one through a URI)
            return min_bytes
        try:
            return os.path.getsize(p) if os.path.isfile(p) else min_bytes
        except OSError:
            return 0

    sizes = {p: size(p) for p in files}
    total = sum(sizes.values())
    target = min(max_bytes, max(min_bytes, total // max(1, TASKS_PER_CORE * parallelism)))
    tasks: list[list[str]] = []
    current, acc = [], 0
    for p in sorted(files, key=lambda f: (-sizes[f], f)):
        if current and acc + sizes[p] > target:
            tasks.append(current)
            current, acc = [], 0
        current.append(p)
        acc += sizes[p]
    if current:
        tasks.append(current)
    return tasks


def task_max_bytes() -> int:
    """`$TAMIS_MAX_TASK_BYTES`, else MAX_TASK_BYTES."""
    configured = settings().max_task_bytes
    return MAX_TASK_BYTES if configured is None else configured
