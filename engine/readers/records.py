"""Record files: JSONL (plain, .gz, .zst by magic bytes) and Parquet, for kinds jsonl, parquet, synthetic.

A line or row that cannot be converted (not JSON, not UTF-8, nested past the recursion limit: `read:too_deep`,
a value that makes the conversion raise: `read:error:<Exception>`) is quarantined alone; the file goes on."""
from __future__ import annotations

import json
from typing import Iterator

import pyarrow as pa

from engine.readers.common import BATCH_ROWS, meta_json, open_maybe_compressed, open_parquet, relative_key
from engine.readers.quarantine import batch_records, error_reason, error_row, error_text, guarded
from engine.schema import read_batch, stable_id
from engine.settings import settings

# Batches flush at BATCH_BYTES, so a batch of big documents stays far below Arrow's 2 GB buffers.
BATCH_BYTES = 64 * 1024 * 1024


def max_doc_bytes(source) -> int:
    """A document above this many bytes is quarantined as `read:too_large` (text: a 2,000-byte excerpt) without
    being held in memory whole: the source's `max_doc_bytes`, else $TAMIS_MAX_DOC_BYTES (10 MB)."""
    return getattr(source, "max_doc_bytes", None) or settings().max_doc_bytes


def _as_str(v):
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)


def record_row(rec: dict, source, fkey: str, n: int) -> dict:
    """One record (a dict) -> one document row, by the source's field names."""
    raw_id = rec.get(source.id_field)
    key = str(raw_id) if raw_id not in (None, "") else f"{fkey}:{n}"
    text = rec.get(source.text_field)
    meta = {"file": fkey, "row": n, "key": key}
    if source.kind == "synthetic":
        meta.update({
            "generator": _as_str(rec.get(source.generator_field)) or source.generator,
            "prompt_id": _as_str(rec.get(source.prompt_field)),
            "seed_doc_id": _as_str(rec.get(source.seed_doc_field)),
        })
    row = {"id": stable_id(source.name, key), "source": source.name, "kind": source.doc_kind,
           "url": _as_str(rec.get(source.url_field)), "license": _as_str(rec.get(source.license_field)),
           "meta": meta_json(meta)}
    if not isinstance(text, str):
        row.update(text=_as_str(text), reason="read:no_text" if text is None else "read:text_not_string")
    elif len(text) > max_doc_bytes(source) // 4 and len(text.encode("utf-8", "surrogatepass")) > max_doc_bytes(source):
        meta["bytes"] = len(text.encode("utf-8", "surrogatepass"))
        row.update(text=text[:2000], reason="read:too_large", meta=meta_json(meta))
    else:
        row["text"] = text
    return row


def read_jsonl(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)
    rows = []
    limit, batch_bytes = max_doc_bytes(source), 0
    with open_maybe_compressed(path) as f:
        n = -1
        while True:
            try:
                line = f.readline(limit + 1)
                if len(line) > limit and not line.endswith(b"\n"):   # too large: skip it, streaming
                    size = len(line)
                    while True:
                        chunk = f.readline(1 << 20)
                        size += len(chunk)
                        if not chunk or chunk.endswith(b"\n"):
                            break
                    n += 1
                    rows.append({**_bad(source, fkey, n, line, "read:too_large"),
                                 "meta": meta_json({"file": fkey, "row": n, "bytes": size})})
                    continue
            except (EOFError, OSError) as e:   # truncated gzip/zstd: keep what was read, count the rest
                rows.append({"id": stable_id(source.name, f"{fkey}:truncated"), "source": source.name,
                             "meta": meta_json({"file": fkey, "row": n + 1, "error": str(e)[:300]}),
                             "reason": "read:truncated"})
                break
            if not line:
                break
            n += 1
            if not line.strip():
                continue
            rows.append(line_row(line, source, fkey, n))
            batch_bytes += len(line)
            if len(rows) >= BATCH_ROWS or batch_bytes >= BATCH_BYTES:
                yield read_batch(rows)
                rows, batch_bytes = [], 0
    if rows:
        yield read_batch(rows)


def line_row(line: bytes, source, fkey: str, n: int) -> dict:
    """One JSONL line -> a document row, or the quarantine row of that line alone."""
    try:
        rec = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return _bad(source, fkey, n, line, "read:invalid_utf8")
    except ValueError:
        return _bad(source, fkey, n, line, "read:bad_json")
    except RecursionError as e:   # nested deeper than the recursion limit: json gives up on this line only
        return _bad(source, fkey, n, line, error_reason(e), e)
    if not isinstance(rec, dict):
        return _bad(source, fkey, n, line, "read:bad_json")
    try:
        return record_row(rec, source, fkey, n)
    except Exception as e:  # noqa: BLE001  (a value the conversion chokes on: this record only)
        return _bad(source, fkey, n, line, error_reason(e), e)


def _bad(source, fkey, n, raw: bytes, reason, error: BaseException | None = None) -> dict:
    meta = {"file": fkey, "row": n}
    if error is not None:
        meta["error"] = error_text(error)
    return {"id": stable_id(source.name, f"{fkey}:{n}"), "source": source.name,
            "text": raw[:2000].decode("utf-8", "replace"), "meta": meta_json(meta), "reason": reason}


def read_parquet(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)
    with open_parquet(path) as pf:
        names = set(pf.schema_arrow.names)
        wanted = [c for c in {source.text_field, source.id_field, source.url_field, source.license_field,
                              *(getattr(source, a) for a in ("generator_field", "prompt_field", "seed_doc_field")
                                if hasattr(source, a))} if c in names]
        n = 0
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            recs = batch_records(batch)
            yield read_batch([_parquet_row(r, source, fkey, n + i) for i, r in enumerate(recs)])
            n += len(recs)


def _parquet_row(rec, source, fkey: str, n: int) -> dict:
    """One Parquet row (a dict, or the exception converting it raised) -> a row; a bad row is quarantined alone."""
    if isinstance(rec, Exception):
        return error_row(source, f"{fkey}:{n}", rec, kind=source.doc_kind, file=fkey, row=n)
    return guarded(lambda: record_row(rec, source, fkey, n), source, f"{fkey}:{n}", kind=source.doc_kind,
                   file=fkey, row=n)




def read_synthetic(path: str, source) -> Iterator[pa.RecordBatch]:
    """A `synthetic` source's file: Parquet by its extension, JSONL otherwise."""
    return read_parquet(path, source) if path.endswith(".parquet") else read_jsonl(path, source)
