"""A stage's rows as Parquet files on any store, written and read by Spark tasks in Python.

Spark's own Parquet source and writer reach only the stores its JVM has connectors for (none for `s3://`
here) and commit with renames; so each task writes its partition to one Parquet file through
engine.storage (the file appears whole or not at all) and reports it, and reading back gives each listed
file a task of its own. The Spark schema is stored as JSON beside the files (in the stage's manifest) and
read back exactly: the files hold every field nullable (see `nullable`), Spark's nullability is in it.

Executors are other processes, maybe other hosts: every task configures storage first, with the options
captured in its closure (never a secret: those stay in the environment).
"""
from __future__ import annotations

import contextlib
import functools
import json
import uuid

from engine import storage
from engine.spark.session import ARROW_MAX_BYTES

META_DDL = "file string, rows long, bytes long, sha256 string, transient string"
READ_BATCH_ROWS = 10_000       # Spark's spark.sql.execution.arrow.maxRecordsPerBatch default


def part_name(partition: int, token: str, attempt: int = 0) -> str:
    """A task's file name: a retried or speculative attempt writes its own file, so the one the driver
    collects is never overwritten by a losing attempt (the other is a leftover, deleted at commit)."""
    suffix = f"-a{attempt}" if attempt else ""
    return f"part-{partition:05d}-{token}{suffix}.parquet"


def nullable(schema):
    """`schema` with every field nullable, at every depth: Arrow keeps a child slot under a null struct
    null even where Spark declares the child non-null, which the Parquet writer refuses. Spark's own
    nullability is in the stored Spark schema, not in the files."""
    import pyarrow as pa

    def relax(t):
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, relax(f.type), True) for f in t])
        if pa.types.is_map(t):
            return pa.map_(relax(t.key_type), pa.field(t.item_field.name, relax(t.item_type), True))
        if pa.types.is_large_list(t):
            return pa.large_list(pa.field(t.value_field.name, relax(t.value_type), True))
        if pa.types.is_list(t):
            return pa.list_(pa.field(t.value_field.name, relax(t.value_type), True))
        return t

    return pa.schema([pa.field(f.name, relax(f.type), True) for f in schema])


def _write_partition(batches, folder: str, token: str, options):
    """mapInArrow body: this partition's batches into one Parquet file; yields its metadata row."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    from engine.spark.transient import batch_errors, merge

    storage.configure(options)
    ctx = TaskContext.get()
    name = part_name(ctx.partitionId(), token, ctx.attemptNumber())
    rows, errors = 0, {}
    with contextlib.ExitStack() as stack:
        writer = out = None
        for b in batches:
            if b.num_rows == 0:
                continue
            if writer is None:      # opened at the first row: an empty partition writes nothing
                out = stack.enter_context(storage.open_output(storage.join(folder, name)))
                schema = nullable(b.schema)
                writer = pq.ParquetWriter(out, schema, compression="zstd")
            writer.write_batch(b.cast(schema))
            rows += b.num_rows
            errors = merge([errors, batch_errors(b)])   # transient read errors, counted as written
        if writer is not None:
            writer.close()
    if out is not None:
        row = {"file": name, "rows": rows, "bytes": out.bytes, "sha256": out.sha256, "transient": json.dumps(errors)}
        yield pa.RecordBatch.from_pylist([row], schema=pa.schema(
            [("file", pa.string()), ("rows", pa.int64()), ("bytes", pa.int64()), ("sha256", pa.string()),
             ("transient", pa.string())]))


def write_stage(df, folder: str, options=None) -> tuple[list[dict], str, dict]:
    """Write `df` under `folder`, one Parquet file per non-empty partition.

    Returns ([{file (name under folder), rows, bytes, sha256}] by partition, the Spark schema as JSON, the
    transient read errors of the rows written: {reason: {docs, files}}, engine/spark/transient.py).
    `options`: the StorageOptions tasks use (default: this process's)."""
    from engine.spark.transient import merge

    options = options if options is not None else storage.current()
    token = uuid.uuid4().hex[:8]
    run = functools.partial(_write_partition, folder=folder, token=token, options=options)
    files = [r.asDict() for r in df.mapInArrow(run, META_DDL).collect()]   # one small row per task
    errors = merge(json.loads(f.pop("transient")) for f in files)
    return sorted(files, key=lambda f: f["file"]), df.schema.json(), errors


def _batch_rows(meta) -> int:
    """Rows per batch read back: about ARROW_MAX_BYTES of uncompressed data, at most READ_BATCH_ROWS."""
    rows = sum(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    per_row = max(1, size // max(1, rows))
    return max(1, min(READ_BATCH_ROWS, ARROW_MAX_BYTES // per_row))


def _read_files(batches, folder: str, options, columns: list[str] | None = None):
    """mapInArrow body: the batches of each listed file, as written (Spark applies the stored schema); only
    `columns` when given (Spark cannot push a projection into a Python function: a check of ids must not
    decode every document's text)."""
    import pyarrow.parquet as pq

    storage.configure(options)
    for b in batches:
        for name in b.column("file").to_pylist():
            with storage.open_input_file(storage.join(folder, name)) as f:
                pf = pq.ParquetFile(f)
                rows = READ_BATCH_ROWS if columns else _batch_rows(pf.metadata)
                for batch in pf.iter_batches(batch_size=rows, columns=columns):
                    yield batch


def read_stage(spark, folder: str, files: list[dict], schema_json: str, options=None, pack: bool = False,
               columns: list[str] | None = None):
    """The DataFrame of a stage written by `write_stage`: one task per file, in the listed order; `pack`:
    small files packed into tasks by size (engine.spark.annotate.file_tasks: deterministic for given files);
    `columns`: only these (read as such from the files)."""
    from pyspark.sql.types import StructType

    schema = StructType.fromJson(json.loads(schema_json))
    if columns:
        schema = StructType([schema[c] for c in columns])
    if not files:
        return spark.createDataFrame([], schema)
    options = options if options is not None else storage.current()
    names = [f["file"] for f in files]
    if pack:
        from engine.spark.annotate import file_tasks

        tasks = file_tasks(names, spark.sparkContext.defaultParallelism, sizes={f["file"]: f["bytes"] for f in files})
    else:
        tasks = [[n] for n in names]
    listed = (spark.sparkContext.parallelize(tasks, len(tasks)).flatMap(lambda group: [(n,) for n in group])
              .toDF("file string"))
    run = functools.partial(_read_files, folder=folder, options=options, columns=columns)
    return listed.mapInArrow(run, schema)
