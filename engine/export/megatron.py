"""Megatron-LM / NeMo indexed dataset: `<name>.bin` (token ids) + `<name>.idx` (the `MMIDIDX` index).

Layout, as megatron-core's `megatron/core/datasets/indexed_dataset.py` (`_IndexWriter`, `_IndexReader`) writes
and reads it, all little-endian:

    .bin  every sequence's token ids, back to back, in the index's dtype
    .idx  b"MMIDIDX\\x00\\x00"        9 bytes, magic
          version                     u64 = 1
          dtype code                  u8   (megatron-core `DType`: 4 = int32, 8 = uint16, ...)
          sequence count S            u64
          document count D            u64  (entries of the document index: documents + 1)
          sequence lengths            S x int32   (tokens per sequence)
          sequence pointers           S x int64   (byte offset of each sequence in .bin)
          document indices            D x int64   (0, then the sequence count after each document)

One sequence per document (as `tools/preprocess_data.py` without sentence splitting), the end-of-text id
appended (`--append-eod`), so the document indices are 0, 1, ..., N.
"""
from __future__ import annotations

import struct

import numpy as np

from engine.export.base import FileSet

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
# megatron-core DType codes (indexed_dataset.DType): the numpy name -> code
DTYPE_CODES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6, "float32": 7, "uint16": 8}
HEADER = struct.Struct("<9sQBQQ")   # magic, version, dtype code, sequence count, document count: 34 bytes


class MegatronFiles(FileSet):
    suffixes = (".bin", ".idx")

    def __init__(self, folder: str, name: str, dtype: np.dtype, tokenizer: str):
        super().__init__(folder, name, dtype, tokenizer)
        if self.dtype.name not in DTYPE_CODES:
            raise ValueError(f"Megatron's index has no code for {self.dtype.name}")
        self.bin = self.open(".bin")
        self.lengths: list[np.ndarray] = []

    def write_batch(self, ids, lengths, doc_ids):
        self.bin.write(ids.tobytes())
        self.lengths.append(lengths)

    def finish(self):
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64)
        self.open(".idx").write(index_bytes(lengths, self.dtype))


def index_bytes(lengths: np.ndarray, dtype: np.dtype) -> bytes:
    """The whole `.idx` for documents of `lengths` tokens (one sequence each)."""
    n = len(lengths)
    if n and int(lengths.max()) > np.iinfo(np.int32).max:
        raise ValueError("a document longer than 2^31 tokens does not fit Megatron's int32 sequence lengths")
    pointers = np.zeros(n, "<i8")
    if n:
        np.cumsum(lengths[:-1].astype("<i8") * np.dtype(dtype).itemsize, out=pointers[1:])
    header = HEADER.pack(MAGIC, VERSION, DTYPE_CODES[np.dtype(dtype).name], n, n + 1)
    return b"".join([header, lengths.astype("<i4").tobytes(), pointers.tobytes(), np.arange(n + 1, dtype="<i8").tobytes()])


def read_index(data: bytes) -> dict:
    """Parse an `.idx` (for checks and tests): dtype, lengths, pointers, document indices."""
    magic, version, code, seqs, docs = HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"not a Megatron MMIDIDX v1 index (magic {magic!r}, version {version})")
    names = {v: k for k, v in DTYPE_CODES.items()}
    off = HEADER.size
    lengths = np.frombuffer(data, "<i4", seqs, off)
    pointers = np.frombuffer(data, "<i8", seqs, off + 4 * seqs)
    doc_idx = np.frombuffer(data, "<i8", docs, off + 12 * seqs)
    if off + 12 * seqs + 8 * docs != len(data):
        raise ValueError(f"index of {len(data)} bytes, its header describes {off + 12 * seqs + 8 * docs}")
    return {"dtype": np.dtype(names[code]), "lengths": lengths, "pointers": pointers, "document_indices": doc_idx}


def data_path(entries: list[tuple[int, str]]) -> str:
    """Megatron's `--data-path` blend: `weight prefix weight prefix ...`, the weight of a prefix its tokens
    (Megatron normalizes the weights), so the blend samples the mix in its own proportions."""
    return " ".join(f"{tokens} {prefix}" for tokens, prefix in entries)
