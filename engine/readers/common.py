"""What every reader shares: batching rows, the file's relative key, opening compressed files, meta JSON."""
from __future__ import annotations

import glob
import gzip
import io
import json
import os
import re
from typing import Iterator

import pyarrow as pa

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
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard   # only for .zst inputs

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True)
        return io.BufferedReader(raw)
    return open(path, "rb")


def meta_json(d) -> str:
    """The `meta` column's JSON: sorted keys, so equal metadata is equal text."""
    return json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)
