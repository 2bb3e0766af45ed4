"""Stage 1 on Spark: read every file of a source, score and decide with the filter chain, count tokens.

Files are never split; big files get a task each and small ones are packed together (`file_tasks`, as
Spark's own file sources pack them), largest first. Each task streams its files into Arrow batches with
`mapInArrow`, so filters see whole batches and models load once per Python worker.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.schema import READ_SCHEMA
from engine.spec import MixSpec, source_files
from filters.base import Filter
from filters.chain import apply_chain, chain_schema
from filters.registry import filter_kinds


def source_filters(source) -> list[Filter]:
    """The source's filters, with language ID added in tag mode when the spec has none.

    Every document of a non-code source carries `lang` (DESIGN.md: language code from language ID).
    """
    filters = list(source.filters)
    kinds = filter_kinds()
    if "language" in kinds and not any(f.kind == "language" for f in filters) and getattr(source, "kind", "") != "code":
        filters.insert(0, kinds["language"](kind="language", mode="tag"))
    from engine.spark.thresholds import for_chain

    return for_chain(filters)


def annotate_batch(batch: pa.RecordBatch, filters: list[Filter], schema: pa.Schema, tokenizer: str) -> pa.Table:
    """Filters, then tokens for the documents still kept (token counts of drops are not needed)."""
    from engine.tokenize import count_tokens

    table = apply_chain_isolating(filters, pa.Table.from_batches([batch]), schema)
    kept = pc.is_null(table.column("reason"))
    texts = pc.if_else(kept, table.column("text"), pa.scalar(None, pa.string()))
    i = table.schema.get_field_index("n_tokens")
    return table.set_column(i, "n_tokens", count_tokens(texts, tokenizer))


def apply_chain_isolating(filters: list[Filter], table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`apply_chain`, except that a filter raising on some record does not fail the batch (or the job).

    The failing batch is split in halves until the records that raise are alone: each of those is
    quarantined with reason `filter_error:<filter kind>:<ExceptionType>` (the error in `meta.filter_error`),
    every other record gets its normal verdict. Same result as the batch for per-document filters.
    """
    try:
        return apply_chain(filters, table, schema)
    except Exception as e:  # noqa: BLE001 - one bad record must not kill the task
        if table.num_rows <= 1:
            return _quarantine_filter_error(filters, table, schema, e)
        mid = table.num_rows // 2
        return pa.concat_tables([apply_chain_isolating(filters, table.slice(0, mid), schema),
                                 apply_chain_isolating(filters, table.slice(mid), schema)])


def _failing_filter(filters: list[Filter], row: pa.Table) -> str:
    """The kind of the first filter whose prefix of the chain raises on this one record."""
    for k in range(1, len(filters) + 1):
        try:
            apply_chain(filters[:k], row, chain_schema(filters[:k], row.schema))
        except Exception:  # noqa: BLE001
            return filters[k - 1].kind
    return "chain"


def _quarantine_filter_error(filters: list[Filter], row: pa.Table, schema: pa.Schema, err: Exception) -> pa.Table:
    import json

    reason = f"filter_error:{_failing_filter(filters, row)}:{type(err).__name__}"
    cols = {}
    for field in schema:
        if field.name in row.column_names and field.name != "reasons":
            cols[field.name] = row.column(field.name).cast(field.type)
        else:
            cols[field.name] = pa.nulls(row.num_rows, field.type)
    old = cols["reason"].to_pylist()
    cols["reason"] = pa.array([r or reason for r in old], pa.string())
    cols["reasons"] = pa.array([[reason]] * row.num_rows, pa.list_(pa.string()))
    metas = []
    for m in cols["meta"].to_pylist():
        try:
            d = json.loads(m) if m else {}
            d = d if isinstance(d, dict) else {"meta": d}
        except ValueError:
            d = {"meta": m}
        d["filter_error"] = repr(err)[:500]
        metas.append(json.dumps(d, ensure_ascii=False, sort_keys=True, default=str))
    cols["meta"] = pa.array(metas, pa.string())
    return pa.table(cols, schema=schema)


def bounded_batches(table: pa.Table, max_bytes: int):
    """`table` as record batches of at most about `max_bytes` each (one row may exceed it alone), so the
    Arrow stream to the JVM never nears the 2 GB limits of its buffers."""
    import numpy as np

    for b in table.to_batches():
        if b.nbytes <= max_bytes or b.num_rows <= 1:
            yield b
            continue
        sizes = pc.fill_null(pc.binary_length(b.column("text")), 0).to_numpy(zero_copy_only=False) + 256
        start, acc = 0, 0
        for i, n in enumerate(sizes):
            if acc and acc + n > max_bytes:
                yield b.slice(start, i - start)
                start, acc = i, 0
            acc += int(n)
        yield b.slice(start)


def _empty_file_row(path: str, source) -> pa.RecordBatch:
    from engine.readers import _json, relative_key
    from engine.schema import read_batch, stable_id

    key = relative_key(path, source)
    return read_batch([{"id": stable_id(source.name, f"{key}:empty"), "source": source.name, "text": None,
                        "meta": _json({"file": key, "bytes": 0}), "reason": "read:empty_file"}])


def read_and_annotate(path: str, source, filters: list[Filter], schema: pa.Schema, tokenizer: str):
    import os

    from engine.readers import read_file
    from engine.spark.session import ARROW_MAX_BYTES

    try:
        empty = os.path.isfile(path) and os.path.getsize(path) == 0
    except OSError:
        empty = False
    batches = [_empty_file_row(path, source)] if empty else read_file(path, source)   # 0 bytes: counted
    for batch in batches:
        yield from bounded_batches(annotate_batch(batch, filters, schema, tokenizer), ARROW_MAX_BYTES)


_SETTLED = False


def settle_worker() -> None:
    """Once per Python worker, after its first task: move what is alive (modules, models, memo tables) out of
    the cyclic GC's way.

    PySpark's daemon runs a full `gc.collect()` after every task of a reused worker; with the filters' models
    and memo tables loaded that took ~55 ms per task (measured with a task per file: 1,320 pages in 48 WARC
    files, 2.6 of 13 worker CPU-seconds). `gc.freeze()` puts every object that exists now in a
    permanent generation that collections skip; collecting first means no garbage gets frozen.
    """
    global _SETTLED
    if not _SETTLED:
        import gc

        gc.collect()
        gc.freeze()
        _SETTLED = True


MAX_TASK_BYTES = 128 << 20     # Spark's spark.sql.files.maxPartitionBytes default
MIN_TASK_BYTES = 4 << 20       # ... and its openCostInBytes: below this, a task's fixed cost dominates
TASKS_PER_CORE = 16            # enough tasks that the last ones to finish are small


def file_tasks(files: list[str], parallelism: int, max_bytes: int | None = None,
               min_bytes: int | None = None) -> list[list[str]]:
    """Input files grouped into tasks: each task's files total at most a target size (about 1/16 of a core's
    share of the input, between `min_bytes` and `max_bytes`, 4 and 128 MB by default, as Spark's
    openCostInBytes and maxPartitionBytes), files taken largest first (ties by path), so a file bigger than
    the target is a task alone, tasks start with the longest, and a folder of many small files is not one
    Spark task (~30 ms of scheduling and JVM work) per file. Deterministic for given files and sizes.
    `$TAMIS_MAX_TASK_BYTES` sets `max_bytes` (and caps `min_bytes`): `1` gives every file its own task."""
    import os

    max_bytes = MAX_TASK_BYTES if max_bytes is None else max_bytes
    min_bytes = MIN_TASK_BYTES if min_bytes is None else min_bytes

    def size(p):
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


def annotate_source(spark, spec: MixSpec, source):
    """DataFrame of every record of `source`: document columns, signals, `reason`, `reasons`."""
    from pyspark.sql.pandas.types import from_arrow_schema

    files = source_files(source)
    filters = source_filters(source)
    schema = chain_schema(filters, READ_SCHEMA)
    tokenizer = spec.tokenizer

    def run(batches):
        for b in batches:
            for path in b.column("path").to_pylist():
                yield from read_and_annotate(path, source, filters, schema, tokenizer)
        settle_worker()

    # one partition per task: parallelize slices a list evenly, so each group of files is its own task
    import os

    raw = os.environ.get("TAMIS_MAX_TASK_BYTES", "").strip()
    if raw and not raw.isdigit():
        raise ValueError(f"TAMIS_MAX_TASK_BYTES must be a number of bytes, got {raw!r}")
    max_bytes = int(raw) if raw else MAX_TASK_BYTES
    tasks = file_tasks(files, spark.sparkContext.defaultParallelism, max_bytes, min(MIN_TASK_BYTES, max_bytes)) or [[]]
    paths = (spark.sparkContext.parallelize(tasks, len(tasks)).flatMap(lambda group: [(p,) for p in group])
             .toDF("path string"))
    return paths.mapInArrow(run, from_arrow_schema(schema))
