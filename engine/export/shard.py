"""One shard's export: read the Parquet shard through engine.storage, tokenize it in Arrow batches, write its
file set. Runs in a Spark task (engine/spark/export.py) or in-process; never imports pyspark.

A shard is streamed batch by batch (`BATCH_ROWS` documents): memory is one batch of text and its ids plus a
few numbers per document, not the shard's tokens. Problems the user must fix (a shard that is not the file the
manifest lists, token counts that another tokenizer made) come back as an `error` in the result, with no file
written, rather than as an exception: Spark would retry an exception, and the driver turns errors into one line.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pyarrow.parquet as pq

from engine import storage
from engine.export import file_set_class
from engine.tokenize import encode

BATCH_ROWS = 1024
CHECK_ROWS = 16      # documents the driver re-tokenizes before any work (`first_batch_problem`): a
                     # wrong tokenizer miscounts nearly every document; each task then checks them all


def set_name(shard_file: str) -> str:
    """The file set's name: the shard file's stem (`shard-00003.parquet` -> `shard-00003`)."""
    return shard_file.rsplit(".", 1)[0] if "." in shard_file else shard_file


def count_problem(shard: str, tokenizer: str, doc_ids, counted, lengths: np.ndarray) -> str | None:
    """One line if a document's `n_tokens` differs from `lengths` (ids per document, end-of-text excluded)."""
    counted = np.asarray([-1 if c is None else c for c in counted], np.int64)
    bad = np.flatnonzero((counted >= 0) & (counted != lengths))
    if not len(bad):
        return None
    i = int(bad[0])
    shown = json.dumps(str(doc_ids[i]), ensure_ascii=False)   # quoted, a line break escaped: one line
    return (f"{shard}: document {shown} has n_tokens {counted[i]} but {tokenizer} gives {lengths[i]} "
            f"({len(bad)} of {len(counted)} documents differ): its tokens were counted with another tokenizer")


class MissingColumns(Exception):
    pass


def _batches(path: str, rows: int):
    """(ids, texts, n_tokens) Arrow columns of the shard, `rows` at a time."""
    with storage.open_input_file(path) as f:
        pf = pq.ParquetFile(f)
        missing = {"id", "text", "n_tokens"} - set(pf.schema_arrow.names)
        if missing:
            raise MissingColumns(f"no column {', '.join(sorted(missing))}")
        for b in pf.iter_batches(batch_size=rows, columns=["id", "text", "n_tokens"]):
            yield b.column(0).to_pylist(), b.column(1), b.column(2).to_pylist()


def first_batch_problem(path: str, shard: str, tokenizer: str, rows: int = CHECK_ROWS) -> str | None:
    """Re-tokenize the first `rows` documents of a shard and compare with their `n_tokens` (on the driver,
    before Spark starts: a wrong tokenizer is refused in a second)."""
    try:
        for doc_ids, texts, counted in _batches(path, rows):
            _, lengths = encode(texts, tokenizer)
            return count_problem(shard, tokenizer, doc_ids, counted, lengths)
    except MissingColumns as e:
        return f"{shard}: {e}"
    return None


def export_shard(task: dict) -> dict:
    """Export one shard. `task`: index, shard (file name), path, bytes, sha256 (as the output manifest lists
    them), dest (folder), format, tokenizer, eos, dtype, options (storage), verify (check the sha256 first).
    Returns index, shard, name, documents, tokens (end-of-text included), text_tokens, files, seconds (the
    task's wall time); or an error."""
    started = time.perf_counter()
    storage.configure(task["options"])
    shard, path = task["shard"], task["path"]
    if task.get("verify") and (got := storage.sha256(path)) != task["sha256"]:
        return {"index": task["index"], "shard": shard,
                "error": f"{shard} has sha256 {got[:12]}…, the output's manifest.json says {task['sha256'][:12]}…"}
    name = set_name(shard)
    files = file_set_class(task["format"])(task["dest"], name, np.dtype(task["dtype"]), task["tokenizer"])
    try:
        error = _write(task, files)
    except BaseException:
        files.abort()
        raise
    if error:
        files.abort()
        return {"index": task["index"], "shard": shard, "error": error}
    written = files.close()
    return {"index": task["index"], "shard": shard, "name": name, "documents": files.documents,
            "tokens": files.tokens, "text_tokens": files.tokens - files.documents, "files": written,
            "seconds": time.perf_counter() - started}


def _write(task: dict, files) -> str | None:
    """Stream the shard into `files`; the first problem as one line (nothing is committed then)."""
    tokenizer, eos = task["tokenizer"], task["eos"]
    try:
        for doc_ids, texts, counted in _batches(task["path"], task.get("batch_rows", BATCH_ROWS)):
            ids, lengths = encode(texts, tokenizer, append=eos)
            if problem := count_problem(task["shard"], tokenizer, doc_ids, counted, lengths - 1):
                return problem
            files.add(ids, lengths, doc_ids)
    except MissingColumns as e:
        return f"{task['shard']}: {e}"
    return None
