"""What every reader shares: batching rows, the file's relative key, opening compressed files, meta JSON."""
from __future__ import annotations

import gzip
import io
import json
import os
import posixpath
import re
from typing import Iterator

import pyarrow as pa

from engine import storage
from engine.schema import read_batch

BATCH_ROWS = 1000
BATCH_TEXT_BYTES = 64 << 20   # a batch is also cut at this much text, so huge documents stay in small batches


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


def relative_key(path: str, source) -> str:
    """The file's path relative to the fixed (non-glob) folder of the spec pattern that matched it.

    Stable when the data moves to another machine, folder or store: `s3://b/x/data/f.warc.gz` under
    `s3://b/x/data/*.warc.gz` has the key `f.warc.gz`, as `/d/data/f.warc.gz` under `/d/data/*.warc.gz`
    does, so document ids (and so shards) do not depend on where the inputs live. Distinct for same-named
    files in different sub-folders. A file of a `paths_file` source: its key in the list (under `prefix`).
    """
    path = storage.normalize(path)
    prefix = getattr(source, "prefix", None)
    if getattr(source, "paths_file", None) and prefix:   # a crawl's path list: the key is the list's line
        base = storage.normalize(prefix).rstrip("/") + "/"
        if path.startswith(base):
            return path[len(base):]
    for pattern in source.paths:
        pattern = storage.normalize(pattern)
        if storage.is_uri(pattern) != storage.is_uri(path):
            continue
        root = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        if not storage.has_magic(pattern):
            root = storage.dirname(pattern.rstrip("/"))
        elif not root.endswith("/"):
            root = storage.dirname(root)
        if path.startswith(root):
            if storage.is_uri(path):   # keys always use "/", like local relpath on POSIX
                return posixpath.relpath(path.split("://", 1)[1], root.split("://", 1)[1] or "/")
            return os.path.relpath(path, root or ".")
    return storage.basename(path)


def open_maybe_compressed(path: str):
    """A binary stream of the file's content, by its magic bytes (not its extension): gzip, zstd or plain.

    One streaming open on any store: the magic is peeked from the buffered stream, never re-read by path."""
    f = storage.open_input_stream(path)
    try:
        magic = f.peek(4)[:4]
    except BaseException:
        f.close()
        raise
    if magic[:2] == b"\x1f\x8b":
        return _GzipStream(f)
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard   # only for .zst inputs

        raw = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True, closefd=True)
        return io.BufferedReader(raw)
    return f


def open_parquet(path: str):
    """A `pq.ParquetFile` of a local path or URI (ranged reads on object stores: footer, then column chunks).
    Locally by path, so Arrow reads with its own native file. Close it with `.close()` (or use `with`)."""
    import pyarrow.parquet as pq

    if not storage.is_remote(path):
        return pq.ParquetFile(storage.local_path(path))
    src = storage.open_input_file(path)
    try:
        return pq.ParquetFile(src)
    except BaseException:
        src.close()
        raise


class _GzipStream(gzip.GzipFile):
    """gzip over an open stream that it owns: closing it closes the stream (GzipFile(fileobj=) would not)."""

    def __init__(self, raw):
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self):
        try:
            super().close()
        finally:
            self._raw.close()


def meta_json(d) -> str:
    """The `meta` column's JSON: sorted keys, so equal metadata is equal text."""
    return json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)
