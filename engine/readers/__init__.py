"""Readers: one input file -> Arrow record batches of READ_SCHEMA (engine/schema.py).

Contract for every reader `read(path, source) -> Iterator[pa.RecordBatch]`:
- stream: never hold a whole file in memory; yield batches of about BATCH_ROWS rows;
- stable ids: `stable_id(source.name, key)` with the record's own key (WARC-Record-ID, post id,
  path relative to the source's pattern + line number), never a counter that depends on partitioning;
- a record that cannot be read becomes a row with `reason = "read:<what>"` (text: a short excerpt or
  null): counted and quarantined, never fatal. `read_file` also turns an exception that escapes a reader
  into one such row, after what the reader already yielded.
"""
from __future__ import annotations

import glob
import os
import re
from typing import Callable, Iterator

import pyarrow as pa

from engine.schema import READ_SCHEMA, read_batch, stable_id

BATCH_ROWS = 1000
BATCH_TEXT_BYTES = 64 << 20   # a batch is also cut at this much text, so huge documents stay in small batches
READERS: dict[str, Callable] = {}


class RowBatcher:
    """Collects document rows; `add` returns a RecordBatch when BATCH_ROWS rows or BATCH_TEXT_BYTES of text are in."""

    def __init__(self):
        self.rows: list[dict] = []
        self.text_bytes = 0

    def add(self, row: dict) -> pa.RecordBatch | None:
        self.rows.append(row)
        self.text_bytes += len(row.get("text") or "")
        if len(self.rows) >= BATCH_ROWS or self.text_bytes >= BATCH_TEXT_BYTES:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        if not self.rows:
            return None
        b = read_batch(self.rows)
        self.rows, self.text_bytes = [], 0
        return b

    def batches(self, rows) -> Iterator[pa.RecordBatch]:
        """Every row of `rows` (None skipped), as batches."""
        for row in rows:
            if row is not None and (b := self.add(row)) is not None:
                yield b
        if (b := self.flush()) is not None:
            yield b


def reader(kind: str):
    def register(fn):
        READERS[kind] = fn
        return fn
    return register


def read_file(path: str, source) -> Iterator[pa.RecordBatch]:
    from engine.readers import records  # noqa: F401  (registers jsonl/parquet/synthetic)
    _register_optional()
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
                           "kind": None, "meta": _json(meta), "reason": f"read:error:{type(e).__name__}"}])


def transient_error(e: BaseException) -> bool:
    """An error of the file's surroundings, not of its content, that a rerun may not see again: one the OS
    raised (it has an errno: moved away, no permission, I/O error, ...) or a timeout / lost connection.
    Libraries report some content errors as OSError too (corrupt Parquet metadata, BadGzipFile): no errno."""
    return isinstance(e, (TimeoutError, ConnectionError)) or (isinstance(e, OSError) and e.errno is not None)


def _register_optional():
    # Readers in their own modules register on import; a missing optional module is not an error here.
    import importlib
    for mod in ("warc", "stackexchange", "code"):
        try:
            importlib.import_module(f"engine.readers.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"engine.readers.{mod}":
                raise


def relative_key(path: str, source) -> str:
    """The file's path relative to the fixed (non-glob) folder of the spec pattern that matched it.

    Stable when the data moves to another machine or folder, and distinct for same-named files
    in different sub-folders.
    """
    for pattern in source.paths:
        root = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        root = root if root.endswith("/") or not glob.has_magic(pattern) else os.path.dirname(root)
        if not glob.has_magic(pattern):
            root = os.path.dirname(pattern.rstrip("/"))
        if path.startswith(root):
            rel = os.path.relpath(path, root or ".")
            return rel
    return os.path.basename(path)


def open_maybe_compressed(path: str):
    """A binary stream of the file's content, by its magic bytes (not its extension): gzip, zstd or plain."""
    import gzip

    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        import io

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True)
        return io.BufferedReader(raw)
    return open(path, "rb")


def _json(d) -> str:
    import json

    return json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)
