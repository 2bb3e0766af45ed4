"""Readers: one input file -> Arrow record batches of READ_SCHEMA (engine/schema.py).

Contract for every reader `read(path, source) -> Iterator[pa.RecordBatch]`:
- stream: never hold a whole file in memory; yield batches of about BATCH_ROWS rows;
- stable ids: `stable_id(source.name, key)` with the record's own key (WARC-Record-ID, post id,
  path relative to the source's pattern + line number), never a counter that depends on partitioning;
- a record that cannot be read becomes a row with `reason = "read:<what>"` (text: a short excerpt or
  null): counted and quarantined, never fatal. `read_file` also turns an exception that escapes a reader
  into one such row, after what the reader already yielded.

A new reader is a module here plus one READERS entry (and its source model in engine/spec).
"""
from __future__ import annotations

from typing import Callable, Iterator

import pyarrow as pa

from engine.readers.code import read_code
from engine.readers.common import BATCH_ROWS, meta_json, relative_key
from engine.readers.records import read_jsonl, read_parquet, read_synthetic
from engine.readers.stackexchange import read_stackexchange
from engine.readers.warc import read_warc, read_wet
from engine.schema import read_batch, stable_id

__all__ = ["BATCH_ROWS", "READERS", "read_file", "relative_key", "transient_error"]

# source kind -> reader
READERS: dict[str, Callable[..., Iterator[pa.RecordBatch]]] = {
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "synthetic": read_synthetic,
    "warc": read_warc,
    "wet": read_wet,
    "stackexchange": read_stackexchange,
    "code": read_code,
}


def read_file(path: str, source) -> Iterator[pa.RecordBatch]:
    fn = READERS[source.kind]
    try:
        for batch in fn(path, source):
            if batch.num_rows:
                yield batch
    except Exception as e:  # a reader bug or an unreadable file must not kill the task
        key = f"{relative_key(path, source)}:error"
        meta = {"file": relative_key(path, source), "error": repr(e)[:500]}
        if transient_error(e):   # the stage holding it is not reused (engine/spark/transient.py)
            meta["transient"] = True
        yield read_batch([{"id": stable_id(source.name, key), "source": source.name, "text": None,
                           "kind": None, "meta": meta_json(meta), "reason": f"read:error:{type(e).__name__}"}])


def transient_error(e: BaseException) -> bool:
    """An error of the file's surroundings, not of its content, that a rerun may not see again: one the OS
    raised (it has an errno: moved away, no permission, I/O error, ...) or a timeout / lost connection.
    Libraries report some content errors as OSError too (corrupt Parquet metadata, BadGzipFile): no errno."""
    return isinstance(e, (TimeoutError, ConnectionError)) or (isinstance(e, OSError) and e.errno is not None)
