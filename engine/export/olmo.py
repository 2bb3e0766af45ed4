"""OLMo-core's input: a flat token-id array `<name>.npy` + its document index `<name>.csv.gz`.

As OLMo-core's numpy datasets (olmo_core/data/numpy_dataset.py, data/utils.py) read them, the layout the
Dolma toolkit writes:

    .npy     raw little-endian token ids, no NumPy header despite the name (read with `np.memmap(path,
             dtype=...)`; the dtype is the dataset config's: uint16 when every id fits, else uint32), every
             document followed by the end-of-text id (OLMo-core adds no special tokens itself)
    .csv.gz  one line per document: `start,end,id` (token offsets into the array, end exclusive, so
             `end - start` counts the end-of-text id); OLMo-core's `iter_document_indices` reads the first two
             fields of each line when it does not scan the array for EOS ids (remote arrays); the Dolma toolkit
             writes the document id third, as here

The id is written with the csv module's quoting; a line break in an id is escaped (`\\n`, `\\r`) because
OLMo-core splits the file on lines. gzip with mtime 0: the same shard gives the same bytes.
"""
from __future__ import annotations

import csv
import gzip
import io

import numpy as np

from engine.export.base import FileSet


class OlmoFiles(FileSet):
    suffixes = (".npy", ".csv.gz")

    def __init__(self, folder: str, name: str, dtype: np.dtype, tokenizer: str):
        super().__init__(folder, name, dtype, tokenizer)
        self.npy = self.open(".npy")
        # filename="" keeps the file name out of the gzip header: bytes depend on the content only
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.open(".csv.gz"), mtime=0)
        self.text = io.TextIOWrapper(self.gz, encoding="utf-8", newline="")
        self.csv = csv.writer(self.text, lineterminator="\n")

    def write_batch(self, ids, lengths, doc_ids):
        self.npy.write(ids.tobytes())
        ends = self.tokens + np.cumsum(lengths, dtype=np.int64)
        starts = ends - lengths
        self.csv.writerows(zip(starts.tolist(), ends.tolist(), (_one_line(d) for d in doc_ids)))

    def finish(self):
        self.text.flush()
        self.text.detach()      # closing the wrapper would close the gzip stream's sink too early
        self.gz.close()         # writes the gzip trailer; the storage writer itself closes with the set

    def abort(self):
        import contextlib

        with contextlib.suppress(Exception):
            self.text.detach()
        self.gz.fileobj = None  # garbage-collecting the gzip stream must not write to the dropped file
        super().abort()


def _one_line(doc_id) -> str:
    s = "" if doc_id is None else str(doc_id)
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r") if ("\n" in s or "\r" in s) else s


def read_index(data: bytes) -> list[tuple[int, int, str]]:
    """Parse a `.csv.gz` document index (for checks and tests): (start, end, id) per document."""
    text = gzip.decompress(data).decode("utf-8")
    return [(int(r[0]), int(r[1]), r[2]) for r in csv.reader(io.StringIO(text, newline=""))]
