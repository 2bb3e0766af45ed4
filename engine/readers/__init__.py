"""Readers: one input file -> Arrow record batches of READ_SCHEMA (engine/schema.py).

Contract for every reader `read(path, source) -> Iterator[pa.RecordBatch]`:
- stream: never hold a whole file in memory; yield batches of about BATCH_ROWS rows;
- stable ids: `stable_id(source.name, key)` with the record's own key (WARC-Record-ID, post id,
  path relative to the source's pattern + line number), never a counter that depends on partitioning;
- a record that cannot be read becomes a row with `reason = "read:<what>"` (text: a short excerpt or
  null): counted and quarantined, never fatal. `read_file` also turns an exception that escapes a reader
  into one such row, after what the reader already yielded;
- except a file that cannot be opened at all (gone, no permission, no such bucket, access denied, store
  unreachable) before any record: the driver listed it, so this host sees other storage than the driver
  (no shared disk, other credentials). That is `InputUnreadable`, which fails the run with one line naming
  the file and the host, instead of a source quietly written with none of its documents.

A new reader is a module here plus one READERS entry (and its source model in engine/spec).
"""
from __future__ import annotations

import re
import socket
from typing import Callable, Iterator

import pyarrow as pa

from engine import storage
from engine.readers.code import read_code
from engine.readers.common import BATCH_ROWS, meta_json, relative_key
from engine.readers.records import read_jsonl, read_parquet, read_synthetic
from engine.readers.stackexchange import read_stackexchange
from engine.readers.warc import read_warc, read_wet
from engine.schema import read_batch, stable_id

__all__ = ["BATCH_ROWS", "READERS", "InputUnreadable", "read_file", "relative_key", "transient_error"]


class InputUnreadable(RuntimeError):
    """An input the driver listed that this process cannot open. One line: `cannot read input <path> on host
    <host>: <why>` (engine.cli.errors finds it in the Spark failure and prints it)."""

    PREFIX = "cannot read input "

    def __init__(self, path: str, e: BaseException):
        why = storage.describe(e, path)
        why = why[len(path) + 2:] if why.startswith(f"{path}: ") else why
        super().__init__(f"{self.PREFIX}{path} on host {socket.gethostname()}: {why}")


# the store's own words for "this object or bucket cannot be opened" (pyarrow raises a plain OSError)
_OPEN_FAILURES = re.compile(r"AWS Error (ACCESS_DENIED|NO_SUCH_BUCKET|NO_SUCH_KEY|RESOURCE_NOT_FOUND|"
                            r"INVALID_ACCESS_KEY_ID|SIGNATURE_DOES_NOT_MATCH|NETWORK_CONNECTION)|Path does not exist")


def cannot_open(e: BaseException, path: str) -> bool:
    """`e`, raised before any record of `path`, says the file itself cannot be opened (not a nested file of
    a folder or an archive, nor its content)."""
    if isinstance(e, (FileNotFoundError, PermissionError)):
        name = getattr(e, "filename", None)
        return name is None or storage.normalize(str(name)).rstrip("/") in (
            storage.normalize(path).rstrip("/"), storage.local_path(path).rstrip("/"))
    return isinstance(e, OSError) and bool(_OPEN_FAILURES.search(str(e)))


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
    started = False
    try:
        for batch in fn(path, source):
            if batch.num_rows:
                started = True
                yield batch
    except Exception as e:  # a reader bug or an unreadable record must not kill the task
        if not started and cannot_open(e, path):
            raise InputUnreadable(path, e) from None
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
