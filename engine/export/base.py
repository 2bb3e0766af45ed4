"""What every export format shares: the token dtype, and a set of files written for one shard.

A `FileSet` receives the shard's documents batch by batch (token ids with the end-of-text id already appended,
and the ids per document) and streams them to its files through `engine.storage.open_output`: each file
appears whole when the set is closed, or not at all when the set is aborted (a failed Spark task must not
leave a half file under its final name; a retried task rewrites the same names). Only per-document numbers
(lengths, offsets) are kept until the end, never the shard's tokens.
"""
from __future__ import annotations

import contextlib

import numpy as np

from engine import storage


def token_dtype(fmt: str, vocab_size: int) -> np.dtype:
    """The little-endian dtype of token ids in format `fmt` for a vocabulary of `vocab_size` ids.

    Megatron's index names a dtype by a code and has no uint32 (megatron-core `DType`): like its
    `DType.optimal_dtype`, uint16 below 65,500 ids, else int32. datatrove/nanotron (`token_size`) and OLMo-core
    (`NumpyDatasetDType`) use uint16 when every id fits in 16 bits, else uint32."""
    if fmt == "megatron":
        dt = np.dtype("<u2") if vocab_size < 65500 else np.dtype("<i4")
    else:
        dt = np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")
    if vocab_size - 1 > np.iinfo(dt).max:
        raise ValueError(f"a vocabulary of {vocab_size:,} ids does not fit {dt.name}")
    return dt


class FileSet:
    """The files of one shard in one format; subclasses name them (`suffixes`) and write their index."""

    suffixes: tuple[str, ...] = ()

    def __init__(self, folder: str, name: str, dtype: np.dtype, tokenizer: str):
        self.folder, self.name, self.dtype, self.tokenizer = folder, name, np.dtype(dtype), tokenizer
        self.max_id = np.iinfo(self.dtype).max
        self.documents = self.tokens = 0
        self._files = contextlib.ExitStack()
        self._writers: dict[str, object] = {}

    def path(self, suffix: str) -> str:
        return storage.join(self.folder, self.name + suffix)

    def open(self, suffix: str):
        """A storage writer for `<name><suffix>`, kept open until `close` (or dropped by `abort`)."""
        w = self._files.enter_context(storage.open_output(self.path(suffix)))
        self._writers[suffix] = w
        return w

    def add(self, ids: np.ndarray, lengths: np.ndarray, doc_ids: list[str]):
        """One batch: `ids` of every document concatenated (end-of-text included), `lengths` per document."""
        if len(ids) and int(ids.max()) > self.max_id:
            raise ValueError(f"token id {int(ids.max())} does not fit {self.dtype.name}")
        self.write_batch(ids.astype(self.dtype, copy=False), lengths, doc_ids)
        self.documents += len(lengths)
        self.tokens += int(lengths.sum())

    def write_batch(self, ids: np.ndarray, lengths: np.ndarray, doc_ids: list[str]):
        raise NotImplementedError

    def finish(self):
        """Write what only the end knows (indexes), before the files are closed."""

    def close(self) -> list[dict]:
        """Commit every file; [{file, bytes, sha256}] in `suffixes` order."""
        self.finish()
        self._files.close()
        return [{"file": storage.basename(self.path(s)), "bytes": self._writers[s].bytes,
                 "sha256": self._writers[s].sha256} for s in self.suffixes]

    def abort(self):
        """No file of the set appears (open_output drops a file whose block raised)."""
        err = RuntimeError("export task failed")
        with contextlib.suppress(BaseException):
            self._files.__exit__(RuntimeError, err, None)
