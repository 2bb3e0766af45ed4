"""The one document schema (DESIGN.md), shared by readers, filters, dedup, mix and writer."""
from __future__ import annotations

import hashlib
import json
import re

import pyarrow as pa

KINDS = ("web", "code", "qa", "synthetic", "text")

DOC_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string()),
    pa.field("source", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("lang", pa.string()),
    pa.field("lang_score", pa.float64()),
    pa.field("n_tokens", pa.int64()),
    pa.field("url", pa.string()),
    pa.field("license", pa.string()),
    pa.field("meta", pa.string()),
]
DOC_SCHEMA = pa.schema(DOC_FIELDS)

# What a reader yields: the document columns plus `reason`, null for a good record and
# `read:<what>` for one that could not be read (quarantined to rejects, counted in the manifest).
READ_SCHEMA = pa.schema(DOC_FIELDS + [pa.field("reason", pa.string())])


def stable_id(source: str, key: str) -> str:
    """A document id that depends only on the source name and the record's own key.

    Same record, same id, whatever the partitioning or the run; 16 bytes of sha1 in hex.
    """
    return hashlib.sha1(f"{source}\x00{key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def empty_read_batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=READ_SCHEMA)


def read_batch(rows: list[dict]) -> pa.RecordBatch:
    """Rows (dicts with any subset of READ_SCHEMA's names) as one RecordBatch of READ_SCHEMA.

    Every reader's records cross this boundary, so two record-level safeguards live here:
    - control characters (C0 but tab, LF, CR: NUL from an escaped `\\u0000` in JSON, ...) are stripped from
      `text`, with how many in `meta.stripped_controls`: they are never content, and NUL truncates text in
      C-string tools downstream;
    - a row Arrow cannot take (a lone surrogate from an escaped `\\ud800`, a wrong-typed value) is quarantined
      alone (`read:invalid_unicode`, `read:error:<Exception>`) instead of failing the whole batch.
    """
    try:
        batch = pa.RecordBatch.from_pylist(rows, schema=READ_SCHEMA)
    except _ARROW_ROW_ERRORS:
        rows = [_arrow_safe(r) for r in rows]
        batch = pa.RecordBatch.from_pylist(rows, schema=READ_SCHEMA)
    return _strip_controls(batch, rows)


_ARROW_ROW_ERRORS = (UnicodeError, pa.ArrowException, TypeError, ValueError, OverflowError)
_CONTROLS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"     # the same class for RE2 (Arrow) and Python's re
_CONTROLS_RE = re.compile(_CONTROLS)


def _strip_controls(batch: pa.RecordBatch, rows: list[dict]) -> pa.RecordBatch:
    import pyarrow.compute as pc

    hit = pc.match_substring_regex(batch.column("text"), _CONTROLS)
    if not pc.any(hit).as_py():     # the common case: one RE2 scan of the column, nothing rebuilt
        return batch
    rows = list(rows)
    for i, h in enumerate(hit.to_pylist()):
        if h:
            text, n = _CONTROLS_RE.subn("", batch.column("text")[i].as_py())
            rows[i] = {**rows[i], "text": text, "meta": _meta_with(rows[i].get("meta"), stripped_controls=n)}
    return pa.RecordBatch.from_pylist(rows, schema=READ_SCHEMA)


def _arrow_safe(row: dict) -> dict:
    """`row` if Arrow takes it, else its quarantine row: string fields made valid, the reason said."""
    try:
        pa.RecordBatch.from_pylist([row], schema=READ_SCHEMA)
        return row
    except _ARROW_ROW_ERRORS as e:
        err = e
    fixed = {f.name: _valid_str(row.get(f.name)) for f in READ_SCHEMA if pa.types.is_string(f.type)}
    if not row.get("reason"):
        fixed["reason"] = ("read:invalid_unicode" if isinstance(err, UnicodeError)
                           else f"read:error:{type(err).__name__}")
        fixed["text"] = fixed["text"][:2000] if fixed["text"] else None
    fixed["meta"] = _meta_with(fixed["meta"], error=repr(err)[:300])
    return fixed


def _valid_str(v) -> str | None:
    if v is None:
        return None
    return (v if isinstance(v, str) else str(v)).encode("utf-8", "replace").decode("utf-8")


def _meta_with(meta: str | None, **kv) -> str:
    """`meta` (a JSON object) with `kv` added; meta that is not a JSON object is kept under `meta`."""
    try:
        d = json.loads(meta) if meta else {}
    except ValueError:
        d = None
    if not isinstance(d, dict):
        d = {"meta": meta}
    d.update(kv)
    return json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)
