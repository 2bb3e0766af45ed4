"""`tamis export` on Spark: one task per shard of the committed output (engine.export.shard.export_shard).

Each task reads its shard through engine.storage (ranged reads: local disk or an object store), checks its
sha256 against the output's manifest, tokenizes it batch by batch and writes its file set through
engine.storage.open_output, so the executors need no disk shared with the driver when the export goes to an
object store. A task's result is one small dict (files, sizes, checksums, counts, or an error line); results
come back in the manifest's shard order. A retried task rewrites the same file names whole.
"""
from __future__ import annotations


def export_shards(spark, tasks: list[dict]) -> list[dict]:
    """Run every task (one Spark task each) and return their results in task order."""
    from engine.export.shard import export_shard

    if not tasks:
        return []
    # one partition per shard: parallelize slices the list evenly, so each shard is its own task
    results = spark.sparkContext.parallelize(tasks, len(tasks)).map(export_shard).collect()
    return sorted(results, key=lambda r: r["index"])
