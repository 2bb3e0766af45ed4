"""Shards: rows globally shuffled by hash(seed, id, epoch), written as zstd Parquet, byte-identical per input.

Each shard number goes to exactly one Spark task (hash partitioning on the shard column keeps a shard
whole), the task sorts it by a second hash and writes it with pyarrow in fixed-size row groups. So a
shard's bytes depend only on its rows: not on partition counts, batch boundaries or the machine.
A retried task rewrites the same file (tmp name + rename), which makes retries harmless.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 2000
META_SCHEMA = pa.schema([("file", pa.string()), ("rows", pa.int64()), ("tokens", pa.int64()),
                         ("bytes", pa.int64()), ("sha256", pa.string())])


def shard_count(total_text_bytes: int, shard_mb: float) -> int:
    return max(1, math.ceil(total_text_bytes / (shard_mb * 1e6)))


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
        self.path, self.tmp = path, f"{path}.inprogress"
        with _naming(self.tmp):
            self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd", compression_level=3,
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
        os.replace(self.tmp, self.path)
        return {"file": os.path.basename(self.path), "rows": self.rows, "tokens": self.tokens,
                "bytes": os.path.getsize(self.path), "sha256": _sha256(self.path)}


def write_shards(df, out_dir: str, seed: int, n_shards: int, prefix: str = "shard") -> list[dict]:
    """Write `df` as `out_dir/<prefix>-NNNNN.parquet`; returns one dict per shard (file, rows, tokens, sha256).

    Only shard metadata (one small row per shard) comes back to the driver.
    """
    from pyspark.sql import functions as F

    os.makedirs(out_dir, exist_ok=True)
    epoch = F.col("epoch") if "epoch" in df.columns else F.lit(0)
    keyed = (df.withColumn("_shard", F.pmod(F.xxhash64(F.lit(seed), F.col("id"), epoch), F.lit(n_shards)))
               .withColumn("_order", F.xxhash64(F.lit(seed + 1), F.col("id"), epoch)))
    sort_cols = ["_shard", "_order", "id"] + (["epoch"] if "epoch" in df.columns else [])
    ordered = keyed.repartition(n_shards, "_shard").sortWithinPartitions(*sort_cols)
    data_cols = df.columns

    def write(batches):
        current, writer, done = None, None, []
        for b in batches:
            t = pa.Table.from_batches([b])
            shards = t.column("_shard").to_numpy()
            start = 0
            while start < len(shards):   # split the sorted batch into runs of one shard
                s = int(shards[start])
                end = start
                while end < len(shards) and shards[end] == s:
                    end += 1
                if s != current:
                    if writer:
                        done.append(writer.close())
                    current = s
                    piece = t.slice(0, 1).select(data_cols)
                    writer = _ShardWriter(os.path.join(out_dir, f"{prefix}-{s:05d}.parquet"), piece.schema)
                writer.add(t.slice(start, end - start).select(data_cols))
                start = end
        if writer:
            done.append(writer.close())
        if done:
            yield pa.RecordBatch.from_pylist(done, schema=META_SCHEMA)

    from pyspark.sql.pandas.types import from_arrow_schema

    rows = ordered.mapInArrow(write, from_arrow_schema(META_SCHEMA)).collect()
    shards = sorted((r.asDict() for r in rows), key=lambda r: r["file"])
    if not shards:   # an empty mix still gets one (empty) shard, so readers find the schema
        from pyspark.sql.pandas.types import to_arrow_schema

        path = os.path.join(out_dir, f"{prefix}-00000.parquet")
        pq.write_table(to_arrow_schema(df.schema).empty_table(), path, compression="zstd")
        shards = [{"file": os.path.basename(path), "rows": 0, "tokens": 0, "bytes": os.path.getsize(path),
                   "sha256": _sha256(path)}]
    return shards
