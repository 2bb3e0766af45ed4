"""Per-record quarantine: a record whose conversion raises becomes one reject row, and the file goes on.

Readers call these around the record -> row step, so an odd record (JSON nested deeper than Python's
recursion limit, invalid UTF-8 in one Parquet row, a value a library chokes on) costs that record only.
A file that cannot be opened at all stays one `read:error:<Exception>` row (engine.readers.read_file).
"""
from __future__ import annotations

from typing import Callable

import pyarrow as pa

from engine.readers.common import meta_json
from engine.schema import stable_id


def error_reason(e: BaseException) -> str:
    """`read:too_deep` for nesting beyond the recursion limit (JSON, HTML), else `read:error:<Exception>`."""
    if isinstance(e, RecursionError):
        return "read:too_deep"
    if isinstance(e, UnicodeDecodeError):
        return "read:invalid_utf8"
    return f"read:error:{type(e).__name__}"


def error_text(e: BaseException) -> str:
    # repr escapes lone surrogates, which Arrow could not store
    return repr(e)[:300]


def error_row(source, key: str, e: BaseException, kind: str | None = None, text: str | None = None,
              **meta) -> dict:
    """The quarantine row of one record that raised; `key` is the record's own key (its id's key)."""
    meta["error"] = error_text(e)
    return {"id": stable_id(source.name, key), "source": source.name, "kind": kind, "text": text,
            "meta": meta_json(meta), "reason": error_reason(e)}


def guarded(make: Callable[[], dict | None], source, key: str, kind: str | None = None, **meta) -> dict | None:
    """`make()`, or the quarantine row of the record when it raises."""
    try:
        return make()
    except Exception as e:  # noqa: BLE001  (any error of one record is that record's, not the file's)
        return error_row(source, key, e, kind=kind, **meta)


def batch_records(batch: pa.RecordBatch) -> list:
    """The rows of an Arrow batch as dicts. A row Arrow cannot convert (a Parquet string column holding
    invalid UTF-8) is its exception instead, so only that row is lost, not the batch."""
    try:
        return batch.to_pylist()
    except Exception:  # noqa: BLE001
        out: list = []
        for i in range(batch.num_rows):
            try:
                out.append(batch.slice(i, 1).to_pylist()[0])
            except Exception as e:  # noqa: BLE001
                out.append(e)
        return out
