"""Shards: rows globally shuffled by hash(seed, id, epoch), written as zstd Parquet, byte-identical per input.

Each shard number goes to exactly one Spark task (hash partitioning on the shard column keeps a shard
whole), the task sorts it by a second hash and writes it with pyarrow in fixed-size row groups. So a
shard's bytes depend only on its rows: not on partition counts, batch boundaries or the machine.
A retried task rewrites the same file (it appears whole or not at all: engine.storage.open_output), which makes
retries harmless. Files go through engine.storage, so the output may be a local folder or an object store; the
size and sha256 come from the bytes as they are written, never from reading the file back.
"""
from __future__ import annotations

import contextlib
import math
import os

import pyarrow as pa
import pyarrow.parquet as pq

from engine import storage

ROW_GROUP_ROWS = 2000
# Up to this much text one task writes all shards: a shuffle job costs more than writing them, below it
SINGLE_TASK_BYTES = 64 * 1024 * 1024
META_SCHEMA = pa.schema([("file", pa.string()), ("rows", pa.int64()), ("tokens", pa.int64()),
                         ("bytes", pa.int64()), ("sha256", pa.string())])


def shard_count(total_text_bytes: int, shard_mb: float) -> int:
    return max(1, math.ceil(total_text_bytes / (shard_mb * 1e6)))


@contextlib.contextmanager
def _naming(path: str):
    """pyarrow's OSError names no file ("[Errno 28] Error writing bytes to file"): raise it again with the
    shard's path, so the one line the user sees says where the disk filled up (engine.cli.errors)."""
    try:
        yield
    except OSError as e:
        if e.filename is not None or not e.errno:
            raise
        raise OSError(e.errno, os.strerror(e.errno), path) from e


class _ShardWriter:
    """Buffers rows of one shard and writes them in row groups of exactly ROW_GROUP_ROWS."""

    def __init__(self, path: str, schema: pa.Schema):
        self.path = self.tmp = path
        self.file = contextlib.ExitStack()    # the storage output: committed at close, dropped on error
        with _naming(path):
            self.sink = self.file.enter_context(storage.open_output(path))
            self.writer = pq.ParquetWriter(self.sink, schema, compression="zstd", compression_level=3,
                                           write_statistics=True, store_schema=True)
        self.buf: list[pa.Table] = []
        self.buffered = self.rows = self.tokens = 0

    def add(self, table: pa.Table):
        self.buf.append(table)
        self.buffered += table.num_rows
        self.rows += table.num_rows
        if "n_tokens" in table.column_names:
            self.tokens += int(pa.compute.sum(table.column("n_tokens")).as_py() or 0)
        while self.buffered >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, n: int):
        t = pa.concat_tables(self.buf)
        with _naming(self.tmp):
            self.writer.write_table(t.slice(0, n), row_group_size=n)
        rest = t.slice(n)
        self.buf, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> dict:
        if self.buffered:
            self._flush(self.buffered)
        with _naming(self.tmp):
            self.writer.close()
            self.file.close()
        return {"file": storage.basename(self.path), "rows": self.rows, "tokens": self.tokens,
                "bytes": self.sink.bytes, "sha256": self.sink.sha256}

    def abort(self):
        """The file must not appear (a failed task): the storage output is dropped, not committed."""
        err = RuntimeError("task failed")
        with contextlib.suppress(BaseException):
            self.file.__exit__(RuntimeError, err, None)


def write_runs(batches, key_cols: list[str], data_cols: list[str], options, path_of) -> list[tuple]:
    """mapInArrow helper: batches sorted by `key_cols`, each run of one key written whole as one shard at
    `path_of(key)` (a key never spans tasks: the caller partitions by it). [(key, shard dict)] in order."""
    storage.configure(options)
    current, writer, done = None, None, []
    try:
        for b in batches:
            t = pa.Table.from_batches([b])
            keys = [t.column(c).to_numpy() for c in key_cols]
            start = 0
            while start < t.num_rows:          # split the sorted batch into runs of one key
                key = tuple(int(k[start]) for k in keys)
                end = start
                while end < t.num_rows and all(k[end] == v for k, v in zip(keys, key)):
                    end += 1
                if key != current:
                    if writer:
                        done.append((current, writer.close()))
                    current = key
                    writer = _ShardWriter(path_of(key), t.slice(0, 1).select(data_cols).schema)
                writer.add(t.slice(start, end - start).select(data_cols))
                start = end
        if writer:
            done.append((current, writer.close()))
            writer = None
    except BaseException:
        if writer:
            writer.abort()        # an object store must not get a half shard under its final name
        raise
    return done


def write_shards(df, out_dir: str, seed: int, n_shards: int, prefix: str = "shard",
                 text_bytes: int | None = None) -> list[dict]:
    """Write `df` as `out_dir/<prefix>-NNNNN.parquet`; returns one dict per shard (file, rows, tokens, sha256).

    Only shard metadata (one small row per shard) comes back to the driver. `text_bytes`: the expected text
    of `df`, when known; up to SINGLE_TASK_BYTES one task writes every shard, one after the other, without a
    shuffle (the bytes of a shard depend only on its rows and their order, so they are the same).
    """
    from pyspark.sql import functions as F

    storage.makedirs(out_dir)                 # a local folder; nothing on an object store
    options = storage.current()               # executors are other processes: they get the driver's options
    epoch = F.col("epoch") if "epoch" in df.columns else F.lit(0)
    keyed = (df.withColumn("_shard", F.pmod(F.xxhash64(F.lit(seed), F.col("id"), epoch), F.lit(n_shards)))
               .withColumn("_order", F.xxhash64(F.lit(seed + 1), F.col("id"), epoch)))
    sort_cols = ["_shard", "_order", "id"] + (["epoch"] if "epoch" in df.columns else [])
    one_task = text_bytes is not None and text_bytes <= SINGLE_TASK_BYTES
    # coalesce: the one task reads the rows where they are (no shuffle job); else one task per shard
    spread = keyed.coalesce(1) if one_task else keyed.repartition(n_shards, "_shard")
    ordered = spread.sortWithinPartitions(*sort_cols)
    data_cols = df.columns

    def write(batches):
        done = [meta for _, meta in write_runs(batches, ["_shard"], data_cols, options,
                                               lambda key: storage.join(out_dir, f"{prefix}-{key[0]:05d}.parquet"))]
        if done:
            yield pa.RecordBatch.from_pylist(done, schema=META_SCHEMA)

    from pyspark.sql.pandas.types import from_arrow_schema

    rows = ordered.mapInArrow(write, from_arrow_schema(META_SCHEMA)).collect()
    shards = sorted((r.asDict() for r in rows), key=lambda r: r["file"])
    if not shards:   # an empty mix still gets one (empty) shard, so readers find the schema
        from pyspark.sql.pandas.types import to_arrow_schema

        path = storage.join(out_dir, f"{prefix}-00000.parquet")
        with storage.open_output(path) as sink:
            pq.write_table(to_arrow_schema(df.schema).empty_table(), sink, compression="zstd")
        shards = [{"file": storage.basename(path), "rows": 0, "tokens": 0, "bytes": sink.bytes,
                   "sha256": sink.sha256}]
    return shards
