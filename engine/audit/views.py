"""The audit's views over a committed output, and the SQL plumbing every query shares.

`open_output(path)` checks the output against its manifest, then registers, on a fresh in-memory DuckDB
connection:

- `docs`: the shards `<path>/*.parquet` (every column: document schema, filter signals, `epoch`)
- `rejects`: `<path>/rejects/*.parquet` (`reason` = first failing rule, `reasons` = all of them)
- `manifest`: `<path>/manifest.json` as one row (`read_json`), and flattened from it
  `manifest_sources` (one row per source), `manifest_drops` (source, reason, docs) and
  `manifest_leaves` (source, group, available/requested/realized tokens, realized docs, epochs)

Columns are discovered from the Parquet schema (`columns`), so the queries in `engine.audit.queries` can say
a section is absent (`missing`) instead of failing on an output without language ID, signals or dedup.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa

from engine import storage

NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL")

# columns of the empty views used when an output has no shards or no rejects folder
_EMPTY_DOCS = {"id": "VARCHAR", "text": "VARCHAR", "source": "VARCHAR", "kind": "VARCHAR", "lang": "VARCHAR",
               "lang_score": "DOUBLE", "n_tokens": "BIGINT", "url": "VARCHAR", "license": "VARCHAR",
               "meta": "VARCHAR", "epoch": "INTEGER"}
_EMPTY_REJECTS = {**{k: v for k, v in _EMPTY_DOCS.items() if k != "epoch"}, "reason": "VARCHAR",
                  "reasons": "VARCHAR[]"}


class AuditError(Exception):
    """The path is not a tamis output, or its files do not match its manifest (one line for the CLI)."""


# ---------------------------------------------------------------------------------------------- plumbing


def _lit(s) -> str:
    """A SQL string literal."""
    return "'" + str(s).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[dict]:
    """Run `sql` and fetch every row as a dict (fully fetched: the connection is free afterwards)."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def scalar(con, sql: str, params=None):
    r = con.execute(sql, params or []).fetchall()
    return r[0][0] if r else None


def _empty_view(con, name: str, cols: dict[str, str]):
    body = ", ".join(f"NULL::{t} AS {_ident(c)}" for c, t in cols.items())
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {body} WHERE false")


def open_output(path: str | os.PathLike, checksums: bool | str = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views `docs`, `rejects`, `manifest`, `manifest_sources`,
    `manifest_drops` and `manifest_leaves` over the output directory `path` (a local folder or a URI).

    An output with a manifest (or `_SUCCESS`) is refused unless its Parquet files are exactly the ones the
    manifest lists, with their sizes and (`checksums`) sha256 (`engine.manifest_check`; on a remote output
    sizes only unless `checksums="remote"`). A remote output is refused without `_SUCCESS`: its files are
    written in place, so only `_SUCCESS` (written last) says they are complete."""
    path = str(path)
    if storage.is_remote(path):
        return _open_remote(storage.normalize(path).rstrip("/"), checksums)
    from engine.manifest_check import ManifestMismatch, check_output_files

    p = Path(path)
    if not p.is_dir():
        raise AuditError(f"not a directory: {path}")
    shards = sorted(p.glob("*.parquet"))
    has_manifest = (p / "manifest.json").is_file()
    if not shards and not has_manifest:
        raise AuditError(f"not a tamis output (no *.parquet shards and no manifest.json): {path}")
    if has_manifest or (p / "_SUCCESS").exists():
        try:
            check_output_files(str(p), checksums=checksums)
        except ManifestMismatch as e:
            raise AuditError(f"refusing to audit: {e}") from None
    con = duckdb.connect()
    register(con, p)
    return con


def _open_remote(path: str, checksums: bool | str) -> duckdb.DuckDBPyConnection:
    """A committed remote output: `_SUCCESS`, then the manifest checked, then DuckDB over pyarrow datasets of
    exactly the listed files (read by ranges through the storage filesystem: nothing downloaded whole)."""
    from engine.manifest_check import ManifestMismatch, NotCommitted, committed_manifest, listed_files

    try:
        manifest = committed_manifest(path, checksums=checksums)
    except NotCommitted as e:
        if not storage.listdir(path):
            raise AuditError(f"not a tamis output (nothing under it): {path}") from None
        raise AuditError(str(e)) from None
    except ManifestMismatch as e:
        raise AuditError(f"refusing to audit: {e}") from None
    except OSError as e:
        raise AuditError(f"cannot read the output: {storage.describe(e, path)}") from None
    files, _ = listed_files(manifest)
    con = duckdb.connect()
    for view, sub, empty in (("docs", "", _EMPTY_DOCS), ("rejects", "rejects/", _EMPTY_REJECTS)):
        paths = [storage.join(path, rel) for rel in sorted(files) if rel.startswith(sub) and "/" not in rel[len(sub):]]
        _register_files(con, view, paths, empty)
    _register_manifest(con, json.dumps(manifest))
    return con


def _register_files(con, view: str, paths: list[str], empty: dict[str, str]):
    """View `view` over the Parquet files `paths` through a pyarrow dataset (union of their schemas)."""
    if not paths:
        _empty_view(con, view, empty)
        return
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from engine.storage.filesystems import filesystem

    fs = filesystem(paths[0])[0]
    keys = [filesystem(p)[1] for p in paths]
    schema = pa.unify_schemas([pq.read_schema(k, filesystem=fs) for k in keys])
    con.register(f"_{view}_files", ds.dataset(keys, schema=schema, format="parquet", filesystem=fs))
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM _{view}_files")


def register(con: duckdb.DuckDBPyConnection, path: str | os.PathLike) -> None:
    """Create (or replace) the audit views on `con` for the local output directory `path`."""
    p = Path(path).resolve()
    if list(p.glob("*.parquet")):
        con.execute(f"CREATE OR REPLACE VIEW docs AS SELECT * FROM "
                    f"read_parquet({_lit(str(p / '*.parquet'))}, union_by_name = true)")
    else:
        _empty_view(con, "docs", _EMPTY_DOCS)
    if list((p / "rejects").glob("*.parquet")):
        con.execute(f"CREATE OR REPLACE VIEW rejects AS SELECT * FROM "
                    f"read_parquet({_lit(str(p / 'rejects' / '*.parquet'))}, union_by_name = true)")
    else:
        _empty_view(con, "rejects", _EMPTY_REJECTS)
    m = p / "manifest.json"
    if m.is_file():
        con.execute(f"CREATE OR REPLACE VIEW manifest AS SELECT * FROM read_json({_lit(str(m))})")
        raw = f"(SELECT content::JSON AS j FROM read_text({_lit(str(m))}))"
    else:
        _empty_view(con, "manifest", {"name": "VARCHAR", "seed": "BIGINT"})
        raw = "(SELECT '{}'::JSON AS j)"
    _manifest_views(con, raw)


def _register_manifest(con, text: str):
    """`manifest` and its flattened views from the manifest's text (read through storage: DuckDB has no
    reader for the store; the text is a few KB, kept in a table)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        con.execute(f"CREATE OR REPLACE TABLE manifest AS SELECT * FROM read_json({_lit(f.name)})")
    con.execute("CREATE OR REPLACE TABLE _manifest_raw AS SELECT ?::JSON AS j", [text])
    _manifest_views(con, "(SELECT j FROM _manifest_raw)")


def _manifest_views(con, raw: str):
    """`manifest_json` (the manifest as one JSON value `j`), `manifest_sources`, `manifest_drops`,
    `manifest_leaves` from `raw`: a subquery of one JSON `j`."""
    con.execute(f"CREATE OR REPLACE VIEW manifest_json AS SELECT j FROM {raw}")
    con.execute(f"""CREATE OR REPLACE VIEW manifest_sources AS
        SELECT s.key AS source, s.value->>'kind' AS kind,
               (s.value->>'docs_read')::BIGINT AS docs_read,
               (s.value->>'docs_unreadable')::BIGINT AS docs_unreadable,
               (s.value->>'docs_kept')::BIGINT AS docs_kept,
               (s.value->>'tokens_kept')::BIGINT AS tokens_kept,
               (s.value->>'docs_written')::BIGINT AS docs_written,
               (s.value->>'tokens_written')::BIGINT AS tokens_written,
               (s.value->>'epochs_used')::BIGINT AS epochs_used
        FROM {raw} m, json_each(m.j->'sources') s ORDER BY s.id""")
    con.execute(f"""CREATE OR REPLACE VIEW manifest_drops AS
        SELECT s.key AS source, d.key AS reason, (d.value)::BIGINT AS docs
        FROM {raw} m, json_each(m.j->'sources') s, json_each(s.value->'docs_dropped') d ORDER BY s.id, d.id""")
    con.execute(f"""CREATE OR REPLACE VIEW manifest_leaves AS
        SELECT l.value->>'source' AS source, l.value->>'group' AS "group", l.value->>'group_by' AS group_by,
               (l.value->>'available_tokens')::BIGINT AS available_tokens,
               (l.value->>'requested_tokens')::BIGINT AS requested_tokens,
               (l.value->>'realized_tokens')::BIGINT AS realized_tokens,
               (l.value->>'realized_docs')::BIGINT AS realized_docs,
               (l.value->>'epochs')::DOUBLE AS epochs,
               (l.value->>'max_epochs')::DOUBLE AS max_epochs
        FROM {raw} m, json_each(m.j->'leaves') l ORDER BY l.id""")


def columns(con, table: str = "docs") -> dict[str, str]:
    """Column name -> DuckDB type of a view."""
    return {r["column_name"]: r["column_type"] for r in rows(con, f"DESCRIBE {table}")}


def _is_numeric(t: str) -> bool:
    return t.upper() in NUMERIC_TYPES or t.upper().startswith("DECIMAL")


def _unique(con, table: str = "docs") -> str:
    """WHERE clause selecting each document once (first copy) from the shards."""
    return "epoch = 0" if table == "docs" and "epoch" in columns(con, "docs") else "true"


def missing(what: str, cols: list[str] | tuple[str, ...]) -> str:
    """The one line a section prints when its columns are absent."""
    return f"{what}: not in this output (no {' / '.join(f'`{c}`' for c in cols)} column)"


def manifest_dict(con) -> dict:
    """The manifest as a Python dict ({} when the output has none)."""
    r = rows(con, "SELECT * FROM manifest LIMIT 1")
    return r[0] if r else {}


def manifest_json(con) -> dict:
    """The manifest as JSON decodes it ({} when none): nested keys whose shape varies between runs and
    versions (`stages`, `languages`, `synthetic_diversity`, `datasheet`) stay plain dicts and lists,
    where `manifest_dict` (read_json) would type them as structs."""
    text = scalar(con, "SELECT CAST(j AS VARCHAR) FROM manifest_json")
    try:
        out = json.loads(text) if text else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def lang_expr(con, table: str = "docs") -> str | None:
    """SQL for a document's language label: `lang`, else `code:<language>` for code (the `code_lang` signal,
    else `meta.code_lang` from the code reader), else '(none)'. None when the table has neither column."""
    cols = columns(con, table)
    parts = ["lang"] if "lang" in cols else []
    if "code_lang" in cols:
        parts.append("'code:' || lower(code_lang)")
    if "meta" in cols and "kind" in cols:
        parts.append("CASE WHEN kind = 'code' THEN 'code:' || lower(TRY(json_extract_string(meta, '$.code_lang'))) END")
    if not parts or ("lang" not in cols and "code_lang" not in cols):
        return None
    return f"coalesce({', '.join(parts)}, '(none)')"


def _share(part, total):
    return (part / total) if total else None
