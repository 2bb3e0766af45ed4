"""Stage 1, worker side: one input file -> Arrow batches of records scored and decided by the filter chain,
with token counts. Pure Arrow: this runs inside Spark's Python workers (`mapInArrow`, driven by
engine/spark/score.py) and imports no pyspark, so it is also what tests and benchmarks call directly.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from filters.base import Filter
from filters.chain import apply_chain, chain_schema, for_chain
from filters.registry import filter_kinds


def source_filters(source) -> list[Filter]:
    """The source's filters, with language ID added in tag mode when the spec has none.

    Every document of a non-code source carries `lang` (DESIGN.md: language code from language ID).
    """
    filters = list(source.filters)
    kinds = filter_kinds()
    if "language" in kinds and not any(f.kind == "language" for f in filters) and getattr(source, "kind", "") != "code":
        filters.insert(0, kinds["language"](kind="language", mode="tag"))
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
    from engine.readers.common import meta_json, relative_key
    from engine.schema import read_batch, stable_id

    key = relative_key(path, source)
    return read_batch([{"id": stable_id(source.name, f"{key}:empty"), "source": source.name, "text": None,
                        "meta": meta_json({"file": key, "bytes": 0}), "reason": "read:empty_file"}])


def read_and_annotate(path: str, source, filters: list[Filter], schema: pa.Schema, tokenizer: str,
                      max_bytes: int):
    """Every record of one input file (or site folder), annotated, in batches of at most about `max_bytes`.

    A file the driver listed that is not there (or not reachable) from this process is `InputUnreadable`:
    the run fails naming the file and the host, rather than writing the source without it."""
    from engine import storage
    from engine.readers import InputUnreadable, read_file

    try:
        found = storage.info(path)
    except OSError as e:   # no such bucket, access denied, endpoint down
        raise InputUnreadable(path, e) from None
    if found is None:
        raise InputUnreadable(path, FileNotFoundError(2, "No such file or directory", path))
    empty = not found.is_dir and found.size == 0
    batches = [_empty_file_row(path, source)] if empty else read_file(path, source)   # 0 bytes: counted
    for batch in batches:
        yield from bounded_batches(annotate_batch(batch, filters, schema, tokenizer), max_bytes)


class WorkerState:
    """What this Python worker process remembers between tasks.

    Spark reuses a Python worker for many tasks (spark.python.worker.reuse), so module state lives as long
    as the worker; this object says which state that is instead of a loose module flag.
    """
    settled = False     # `settle_worker` ran: the loaded models are in the GC's permanent generation


WORKER = WorkerState()


def settle_worker() -> None:
    """Once per Python worker, after its first task: move what is alive (modules, models, memo tables) out of
    the cyclic GC's way.

    PySpark's daemon runs a full `gc.collect()` after every task of a reused worker; with the filters' models
    and memo tables loaded, that is a noticeable share of a small task's time (bench/README.md).
    `gc.freeze()` puts every object that exists now in a permanent generation that collections skip;
    collecting first means no garbage gets frozen. After the first task, so that the models are loaded.
    """
    if not WORKER.settled:
        import gc

        gc.collect()
        gc.freeze()
        WORKER.settled = True
