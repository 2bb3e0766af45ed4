"""The one document schema (DESIGN.md), shared by readers, filters, dedup, mix and writer."""
from __future__ import annotations

import hashlib

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
    """Rows (dicts with any subset of READ_SCHEMA's names) as one RecordBatch of READ_SCHEMA."""
    return pa.RecordBatch.from_pylist(rows, schema=READ_SCHEMA)
