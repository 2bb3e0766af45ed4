"""Audit a `tamis run` output with DuckDB: every query of `tamis audit`, its HTML report and the notebook.

`open_output(path)` registers, on a fresh in-memory DuckDB connection:

- `docs`: the shards `<path>/*.parquet` (every column: document schema, filter signals, `epoch`)
- `rejects`: `<path>/rejects/*.parquet` (`reason` = first failing rule, `reasons` = all of them)
- `manifest`: `<path>/manifest.json` as one row (`read_json`), and flattened from it
  `manifest_sources` (one row per source), `manifest_drops` (source, reason, docs) and
  `manifest_leaves` (source, group, available/requested/realized tokens, realized docs, epochs)

Every function below takes that connection and returns a small result (a list of dicts, a dict, or None
when the columns it needs are absent from this output: `missing(...)` says why in one line), so tests
check every number and the CLI (`engine.cli.audit`) and the HTML report (`engine.audit.html`) only
render. Columns are discovered from the Parquet schema: an output without language ID, quality signals,
dedup or decontamination still audits, and the sections about them say they are absent.

Conventions
- Tokens are `sum(n_tokens)` over every row of the shards (upsampled copies count: that is what a model
  sees); per-document statistics (signals, samples, languages' scripts) use each document once
  (`epoch = 0` when the column exists).
- Rejects' reasons are normalized like the manifest counts them: `duplicate:<survivor id>` -> `duplicate`.
- Random samples are reproducible: documents are ordered by `md5(<seed>:<id>)`, never `random()`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SIGNAL_PREFIXES = ("quality_", "gopher_", "c4_", "fineweb_", "nsfw_", "code_")
SIGNAL_FAMILIES = {"language": ("lang_score",), "quality": ("quality_", "gopher_", "c4_", "fineweb_"),
                   "nsfw": ("nsfw_",), "code": ("code_",)}
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


def open_output(path: str | os.PathLike, checksums: bool = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views `docs`, `rejects`, `manifest`, `manifest_sources`,
    `manifest_drops` and `manifest_leaves` over the output directory `path`.

    An output with a manifest (or `_SUCCESS`) is refused unless its Parquet files are exactly the ones the
    manifest lists, with their sizes and (`checksums`) sha256 (`engine.manifest_check`)."""
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


def register(con: duckdb.DuckDBPyConnection, path: str | os.PathLike) -> None:
    """Create (or replace) the audit views on `con` for the output directory `path`."""
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
        SELECT l.value->>'source' AS source, l.value->>'group' AS "group",
               (l.value->>'available_tokens')::BIGINT AS available_tokens,
               (l.value->>'requested_tokens')::BIGINT AS requested_tokens,
               (l.value->>'realized_tokens')::BIGINT AS realized_tokens,
               (l.value->>'realized_docs')::BIGINT AS realized_docs,
               (l.value->>'epochs')::DOUBLE AS epochs
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


def _share(part, total):
    return (part / total) if total else None


# ---------------------------------------------------------------------------------------------- overview


def overview(con) -> dict:
    m = manifest_dict(con)
    docs = rows(con, "SELECT count(*) AS docs, coalesce(sum(n_tokens), 0) AS tokens, "
                     "count(DISTINCT source) AS sources FROM docs")[0]
    return {"name": m.get("name"), "seed": m.get("seed"), "tokenizer": m.get("tokenizer"),
            "spec_sha256": m.get("spec_sha256"), "target_tokens": m.get("target_tokens"),
            "docs": docs["docs"], "tokens": int(docs["tokens"]), "sources": docs["sources"],
            "rejects": scalar(con, "SELECT count(*) FROM rejects"),
            "docs_read": scalar(con, "SELECT sum(docs_read) FROM manifest_sources"),
            "shards": len(m.get("shards") or []), "versions": m.get("versions") or {}}


# ---------------------------------------------------------------------------------------------- mix


def breakdown(con, by: str) -> list[dict] | None:
    """Documents and tokens in the shards per value of `by` (`source`, `kind`, `lang`), largest first."""
    if by not in columns(con, "docs"):
        return None
    out = rows(con, f"""SELECT coalesce(CAST({_ident(by)} AS VARCHAR), '(none)') AS {_ident(by)},
                              count(*) AS docs, coalesce(sum(n_tokens), 0)::BIGINT AS tokens
                       FROM docs GROUP BY 1 ORDER BY tokens DESC, 1""")
    total = sum(r["tokens"] for r in out)
    for r in out:
        r["token_share"] = _share(r["tokens"], total)
    return out


def mix(con) -> list[dict]:
    """Realized vs requested tokens per leaf (source, group) from the manifest's `leaves`, with the tokens
    actually found in the shards; without leaves, tokens per source from the shards only."""
    leaves = rows(con, "SELECT * FROM manifest_leaves")   # in the manifest's order
    shard = {r["source"]: r["tokens"] for r in rows(
        con, "SELECT source, coalesce(sum(n_tokens), 0)::BIGINT AS tokens FROM docs GROUP BY 1")}
    if not leaves:
        leaves = [{"source": s, "group": None, "available_tokens": None, "requested_tokens": None,
                   "realized_tokens": t, "realized_docs": None, "epochs": None} for s, t in sorted(shard.items())]
    realized_total = sum(l["realized_tokens"] or 0 for l in leaves)
    requested_total = sum(l["requested_tokens"] or 0 for l in leaves)
    n_per_source: dict[str, int] = {}
    for l in leaves:
        n_per_source[l["source"]] = n_per_source.get(l["source"], 0) + 1
    for l in leaves:
        l["leaf"] = l["source"] if l["group"] is None else f"{l['source']}/{l['group']}"
        l["realized_share"] = _share(l["realized_tokens"] or 0, realized_total)
        l["requested_share"] = _share(l["requested_tokens"], requested_total) if l["requested_tokens"] is not None else None
        # per-source shard tokens only when the leaf is the whole source
        l["shard_tokens"] = shard.get(l["source"], 0) if n_per_source[l["source"]] == 1 else None
    return leaves


# ---------------------------------------------------------------------------------------------- drops


_REASON = "CASE WHEN reason LIKE 'duplicate:%' THEN 'duplicate' ELSE reason END"


def drops(con) -> list[dict]:
    """Dropped documents per source and reason (the first failing rule), from rejects and the manifest.

    `docs`: rows in rejects (the manifest's count when the output has no rejects), `manifest_docs`: the
    manifest's `docs_dropped`, `rate`: docs / docs read by the source, `chars`: text dropped.
    """
    out = rows(con, f"""
        WITH r AS (SELECT source, {_REASON} AS reason, count(*) AS docs,
                          coalesce(sum(length(text)), 0)::BIGINT AS chars
                   FROM rejects WHERE reason IS NOT NULL GROUP BY ALL)
        SELECT coalesce(r.source, m.source) AS source, coalesce(r.reason, m.reason) AS reason,
               r.docs AS reject_docs, m.docs AS manifest_docs, r.chars, s.docs_read
        FROM r FULL OUTER JOIN manifest_drops m ON r.source = m.source AND r.reason = m.reason
        LEFT JOIN manifest_sources s ON s.source = coalesce(r.source, m.source)""")
    for r in out:
        r["docs"] = r["reject_docs"] if r["reject_docs"] is not None else r["manifest_docs"]
        r["rate"] = _share(r["docs"], r["docs_read"])
    out.sort(key=lambda r: (r["source"] or "", -(r["docs"] or 0), r["reason"] or ""))
    return out


def drops_by_source(con) -> list[dict]:
    """Per source: docs read, dropped (manifest and rejects), kept, written."""
    return rows(con, f"""
        WITH r AS (SELECT source, count(*) AS reject_docs FROM rejects GROUP BY 1),
             d AS (SELECT source, count(*) AS docs, coalesce(sum(n_tokens), 0)::BIGINT AS tokens FROM docs GROUP BY 1),
             md AS (SELECT source, sum(docs)::BIGINT AS manifest_dropped FROM manifest_drops GROUP BY 1)
        SELECT coalesce(s.source, r.source, d.source) AS source, s.docs_read, md.manifest_dropped,
               r.reject_docs, s.docs_kept, d.docs AS docs_written, d.tokens AS tokens_written
        FROM manifest_sources s FULL OUTER JOIN r ON r.source = s.source
        FULL OUTER JOIN d ON d.source = coalesce(s.source, r.source)
        LEFT JOIN md ON md.source = coalesce(s.source, r.source, d.source)
        ORDER BY 1""")


def _reject_reasons_ctes() -> str:
    """CTEs `numbered` (each reject once, with a row id and its normalized first reason) and `rr` (one row
    per reject and distinct failing reason, from `reasons` plus `reason`, duplicates normalized)."""
    return f"""
        numbered AS (SELECT row_number() OVER (ORDER BY id, reason) AS rid, source, {_REASON} AS first_reason,
                            reason, coalesce(reasons, []::VARCHAR[]) AS reasons FROM rejects),
        exploded AS (SELECT rid, source, unnest(list_concat(reasons, [reason])) AS r FROM numbered),
        rr AS (SELECT DISTINCT rid, source, CASE WHEN r LIKE 'duplicate:%' THEN 'duplicate' ELSE r END AS reason
               FROM exploded WHERE r IS NOT NULL)"""


def reason_counts(con) -> list[dict]:
    """How many rejects fail 1, 2, 3, ... rules (from the `reasons` list column)."""
    return rows(con, f"""
        WITH {_reject_reasons_ctes()}
        SELECT n_reasons, count(*) AS docs FROM (SELECT rid, count(*) AS n_reasons FROM rr GROUP BY 1)
        GROUP BY 1 ORDER BY 1""")


def reason_pairs(con, limit: int = 15) -> list[dict]:
    """The most common pairs of reasons failed by the same document."""
    return rows(con, f"""
        WITH {_reject_reasons_ctes()}
        SELECT a.reason AS reason_a, b.reason AS reason_b, count(*) AS docs
        FROM rr a JOIN rr b ON a.rid = b.rid AND a.reason < b.reason
        GROUP BY 1, 2 ORDER BY docs DESC, 1, 2 LIMIT {int(limit)}""")


def reason_exclusivity(con) -> list[dict]:
    """Per reason: documents failing it at all, with it as their first reason, and failing only it
    (the documents that would come back if this rule alone were removed)."""
    return rows(con, f"""
        WITH {_reject_reasons_ctes()},
             n AS (SELECT rid, count(*) AS k FROM rr GROUP BY 1)
        SELECT rr.reason, count(*) AS failing,
               count(*) FILTER (WHERE f.first_reason = rr.reason) AS first,
               count(*) FILTER (WHERE n.k = 1) AS only
        FROM rr JOIN n USING (rid) JOIN numbered f USING (rid)
        GROUP BY 1 ORDER BY failing DESC, 1""")


# ---------------------------------------------------------------------------------------------- signals


def signal_columns(con, table: str = "docs") -> list[str]:
    """`lang_score` and numeric columns named `quality_*`, `gopher_*`, `c4_*`, `fineweb_*`, `nsfw_*`, `code_*`."""
    cols = columns(con, table)
    out = [c for c, t in cols.items() if _is_numeric(t) and (c == "lang_score" or c.startswith(SIGNAL_PREFIXES))]
    return sorted(out, key=lambda c: (c != "lang_score", c))


def signal_family(col: str) -> str:
    """`language`, `quality`, `nsfw`, `code` or `other`."""
    for fam, names in SIGNAL_FAMILIES.items():
        if col in names or col.startswith(tuple(n for n in names if n.endswith("_"))):
            return fam
    return "other"


def signal_quantiles(con, table: str = "docs", signals: list[str] | None = None) -> list[dict]:
    """Per source and signal: documents with a value, mean, and quantiles p5/p25/p50/p75/p95 (each
    document once). `table`: `docs` (kept) or `rejects`."""
    sigs = signals if signals is not None else signal_columns(con, table)
    have = columns(con, table)
    where = _unique(con, table)
    out = []
    qs = "[" + ", ".join(str(q) for q in QUANTILES) + "]"
    for s in sigs:
        if s not in have:
            continue
        c = f"CAST({_ident(s)} AS DOUBLE)"
        for r in rows(con, f"""SELECT source, count({c}) AS n, avg({c}) AS mean, quantile_cont({c}, {qs}) AS q
                             FROM {table} WHERE {where} AND isfinite({c}) GROUP BY 1 ORDER BY 1"""):
            r = {"source": r["source"], "signal": s, "n": r["n"], "mean": r["mean"],
                 **{f"p{round(q * 100)}": v for q, v in zip(QUANTILES, r["q"] or [None] * len(QUANTILES))}}
            out.append(r)
    return out


def signal_histogram(con, signal: str, bins: int = 30) -> dict | None:
    """Counts per equal-width bin of `signal`, per source over kept documents and over all rejects, on
    shared edges: {'lo', 'hi', 'bins', 'kept': {source: [counts]}, 'rejected': [counts]}."""
    parts = []
    if signal in columns(con, "docs"):
        parts.append(f"SELECT 'kept' AS t, source, CAST({_ident(signal)} AS DOUBLE) AS x FROM docs WHERE {_unique(con)}")
    if signal in columns(con, "rejects"):
        parts.append(f"SELECT 'rejected' AS t, source, CAST({_ident(signal)} AS DOUBLE) AS x FROM rejects")
    if not parts:
        return None
    v = " UNION ALL ".join(parts)
    res = rows(con, f"""
        WITH v AS (SELECT * FROM ({v}) WHERE x IS NOT NULL AND isfinite(x)),
             b AS (SELECT min(x) AS lo, max(x) AS hi FROM v)
        SELECT t, source, lo, hi,
               least({bins - 1}, CAST(floor(CASE WHEN hi > lo THEN (x - lo) / (hi - lo) * {bins} ELSE 0 END) AS INTEGER)) AS bin,
               count(*) AS n
        FROM v, b GROUP BY ALL ORDER BY t, source, bin""")
    if not res:
        return None
    out = {"signal": signal, "lo": res[0]["lo"], "hi": res[0]["hi"], "bins": bins, "kept": {}, "rejected": [0] * bins}
    for r in res:
        if r["t"] == "kept":
            out["kept"].setdefault(r["source"], [0] * bins)[r["bin"]] += r["n"]
        else:
            out["rejected"][r["bin"]] += r["n"]
    return out


def flag_shares(con) -> list[dict]:
    """Boolean signals (`lang_script_mismatch`, `code_autogenerated`, ...): share true per source."""
    flags = [c for c, t in columns(con, "docs").items() if t.upper() == "BOOLEAN"]
    out = []
    for f in flags:
        out += rows(con, f"""SELECT source, {_lit(f)} AS flag, count({_ident(f)}) AS docs,
                                   count(*) FILTER (WHERE {_ident(f)}) AS "true",
                                   avg(CAST({_ident(f)} AS DOUBLE)) AS share
                            FROM docs WHERE {_unique(con)} GROUP BY 1 ORDER BY 1""")
    return out


def category_counts(con, column: str = "nsfw_url_category") -> list[dict] | None:
    """Documents per value of a categorical signal, per source, kept and rejected."""
    parts = []
    if column in columns(con, "docs"):
        parts.append(f"SELECT 'kept' AS status, source, {_ident(column)} AS category FROM docs WHERE {_unique(con)}")
    if column in columns(con, "rejects"):
        parts.append(f"SELECT 'rejected' AS status, source, {_ident(column)} AS category FROM rejects")
    if not parts:
        return None
    return rows(con, f"""SELECT source, category, status, count(*) AS docs FROM ({' UNION ALL '.join(parts)})
                        WHERE category IS NOT NULL GROUP BY ALL ORDER BY docs DESC, 1, 2, 3""")


# ---------------------------------------------------------------------------------------------- dedup


def _members_sql(con) -> str | None:
    """Every document in a duplicate cluster: (cluster, size, id, source, text, status)."""
    dc, rc = columns(con, "docs"), columns(con, "rejects")
    if "dup_cluster" in dc or "dup_cluster" in rc:
        parts = []
        for t, cols, status, where in (("docs", dc, "kept", _unique(con)), ("rejects", rc, "dropped", "true")):
            if "dup_cluster" in cols:
                size = f"CAST({_ident('dup_cluster_size')} AS BIGINT)" if "dup_cluster_size" in cols else "NULL::BIGINT"
                parts.append(f"SELECT CAST(dup_cluster AS VARCHAR) AS cluster, {size} AS size, id, source, text, "
                             f"'{status}' AS status FROM {t} WHERE {where} AND dup_cluster IS NOT NULL")
        members = " UNION ALL ".join(parts)
        return f"""SELECT cluster, coalesce(max(size) OVER (PARTITION BY cluster), count(*) OVER (PARTITION BY cluster))
                          AS size, id, source, text, status FROM ({members})"""
    if scalar(con, "SELECT count(*) FROM rejects WHERE reason LIKE 'duplicate:%'"):
        # clusters from the rejects' `duplicate:<survivor id>` reasons: the survivor plus its dropped copies
        drops = ("SELECT substr(reason, 11) AS cluster, id, source, text, 'dropped' AS status "
                 "FROM rejects WHERE reason LIKE 'duplicate:%'")
        surv = (f"SELECT d.id AS cluster, d.id, d.source, d.text, 'kept' AS status FROM docs d "
                f"WHERE {_unique(con).replace('epoch', 'd.epoch')} AND d.id IN (SELECT substr(reason, 11) FROM rejects "
                f"WHERE reason LIKE 'duplicate:%')")
        return f"""SELECT cluster, count(*) FILTER (WHERE status = 'dropped') OVER (PARTITION BY cluster) + 1 AS size,
                          id, source, text, status FROM ({drops} UNION ALL {surv})"""
    return None


def dup_sizes(con) -> list[dict] | None:
    """Clusters of duplicates by size (size >= 2): size, clusters, documents. None without dedup columns."""
    m = _members_sql(con)
    if m is None:
        return None
    return rows(con, f"""SELECT size, count(*) AS clusters, sum(size)::BIGINT AS docs
                        FROM (SELECT DISTINCT cluster, size FROM ({m})) WHERE size >= 2 GROUP BY 1 ORDER BY 1""")


def dup_largest(con, n: int = 10, sample: int = 3, seed: int = 0) -> list[dict] | None:
    """The `n` largest clusters: size, kept member(s), sources, and a reproducible sample of members."""
    m = _members_sql(con)
    if m is None:
        return None
    top = rows(con, f"""SELECT cluster, max(size) AS size, count(*) AS members_here,
                              string_agg(DISTINCT source, ', ' ORDER BY source) AS sources,
                              count(*) FILTER (WHERE status = 'kept') AS kept
                       FROM ({m}) WHERE size >= 2 GROUP BY 1 ORDER BY size DESC, cluster LIMIT {int(n)}""")
    for c in top:
        c["sample"] = rows(con, f"""SELECT id, source, status, {_snippet('text')} AS snippet FROM ({m})
                                   WHERE cluster = ? ORDER BY status = 'kept' DESC, md5(? || ':' || id)
                                   LIMIT {int(sample)}""", [c["cluster"], str(seed)])
    return top


# ---------------------------------------------------------------------------------------------- languages


def _snippet(col: str, n: int = 200) -> str:
    return f"left(trim(regexp_replace(left({col}, {n * 4}), '\\s+', ' ', 'g')), {n})"


def lang_overview(con) -> list[dict] | None:
    """Per language label: documents, tokens, mean and median `lang_score`, the most common script and the
    share of documents whose script is implausible for the label (`lang_script_mismatch`)."""
    cols = columns(con, "docs")
    if "lang" not in cols:
        return None
    score = "avg(lang_score)" if "lang_score" in cols else "NULL"
    med = "median(lang_score)" if "lang_score" in cols else "NULL"
    script = "mode(script)" if "script" in cols else "NULL"
    mism = "avg(CAST(lang_script_mismatch AS DOUBLE))" if "lang_script_mismatch" in cols else "NULL"
    mism_n = "count(*) FILTER (WHERE lang_script_mismatch)" if "lang_script_mismatch" in cols else "NULL"
    out = rows(con, f"""SELECT coalesce(lang, '(none)') AS lang, count(*) AS docs,
                              coalesce(sum(n_tokens), 0)::BIGINT AS tokens, {score} AS mean_score,
                              {med} AS median_score, {script} AS top_script,
                              {mism_n} AS mismatch_docs, {mism} AS mismatch_share
                       FROM docs WHERE {_unique(con)} GROUP BY 1 ORDER BY docs DESC, 1""")
    return out


def lang_samples(con, n: int = 5, seed: int = 0) -> list[dict] | None:
    """`n` documents per language label, chosen by `md5('<seed>:<id>')` (same seed, same sheet)."""
    cols = columns(con, "docs")
    if "lang" not in cols:
        return None
    score = "lang_score" if "lang_score" in cols else "NULL::DOUBLE"
    script = "script" if "script" in cols else "NULL::VARCHAR"
    mism = "lang_script_mismatch" if "lang_script_mismatch" in cols else "NULL::BOOLEAN"
    return rows(con, f"""
        WITH d AS (SELECT coalesce(lang, '(none)') AS lang, id, source, {score} AS lang_score,
                          {script} AS script, {mism} AS mismatch, {_snippet('text')} AS snippet,
                          md5(? || ':' || id) AS h
                   FROM docs WHERE {_unique(con)}),
             ranked AS (SELECT *, row_number() OVER (PARTITION BY lang ORDER BY h) AS k,
                               count(*) OVER (PARTITION BY lang) AS lang_docs FROM d)
        SELECT lang, k, id, source, lang_score, script, mismatch, snippet FROM ranked
        WHERE k <= {int(n)} ORDER BY lang_docs DESC, lang, k""", [str(seed)])


# ---------------------------------------------------------------------------------------------- decontamination


def decontam_items(con) -> list[dict] | None:
    """Benchmark items decontamination matched (`decontam_match` = `<benchmark>:<item>`), with how many
    documents it dropped (rejects) and only tagged (kept), and from which sources."""
    parts = []
    for t, status, where in (("docs", "kept", _unique(con)), ("rejects", "dropped", "true")):
        cols = columns(con, t)
        if "decontam_match" in cols:
            ng = "decontam_ngrams" if "decontam_ngrams" in cols else "NULL::BIGINT"
            parts.append(f"SELECT decontam_match AS m, '{status}' AS status, source, {ng} AS ngrams "
                         f"FROM {t} WHERE {where} AND decontam_match IS NOT NULL")
    if not parts:
        return None
    return rows(con, f"""
        SELECT split_part(m, ':', 1) AS benchmark, substr(m, length(split_part(m, ':', 1)) + 2) AS item,
               count(*) FILTER (WHERE status = 'dropped') AS dropped,
               count(*) FILTER (WHERE status = 'kept') AS kept,
               max(ngrams) AS max_ngrams, string_agg(DISTINCT source, ', ' ORDER BY source) AS sources
        FROM ({' UNION ALL '.join(parts)}) GROUP BY 1, 2 ORDER BY dropped + kept DESC, 1, 2""")


def decontam_by_benchmark(con) -> list[dict] | None:
    items = decontam_items(con)
    if items is None:
        return None
    out: dict[str, dict] = {}
    for i in items:
        b = out.setdefault(i["benchmark"], {"benchmark": i["benchmark"], "items": 0, "dropped": 0, "kept": 0})
        b["items"] += 1
        b["dropped"] += i["dropped"]
        b["kept"] += i["kept"]
    return sorted(out.values(), key=lambda b: (-(b["dropped"] + b["kept"]), b["benchmark"]))


# ---------------------------------------------------------------------------------------------- everything


def collect(con, sample: int = 5, seed: int | None = None, top: int = 10, bins: int = 30) -> dict:
    """Every section, as the CLI and the HTML report render them. A section whose columns are absent
    is None, with its one-line explanation in `missing[section]`."""
    ov = overview(con)
    if seed is None:
        seed = int(ov["seed"]) if ov.get("seed") is not None else 0
    dcols, rcols = columns(con, "docs"), columns(con, "rejects")
    res = {"overview": ov, "seed": seed, "sample": sample, "columns": list(dcols),
           "mix": mix(con), "by_source": breakdown(con, "source"), "by_kind": breakdown(con, "kind"),
           "by_lang": breakdown(con, "lang"), "source_totals": drops_by_source(con), "drops": drops(con),
           "reason_counts": reason_counts(con), "reason_pairs": reason_pairs(con, top),
           "reason_exclusivity": reason_exclusivity(con)}
    sigs = signal_columns(con, "docs")
    res["signals"] = sigs
    res["quantiles"] = signal_quantiles(con, "docs", sigs)
    res["reject_quantiles"] = signal_quantiles(con, "rejects", sigs)
    res["histograms"] = {s: signal_histogram(con, s, bins) for s in sigs}
    res["flags"] = flag_shares(con)
    res["nsfw_categories"] = category_counts(con, "nsfw_url_category")
    res["dup_sizes"] = dup_sizes(con)
    res["dup_largest"] = dup_largest(con, top, 3, seed)
    res["lang_overview"] = lang_overview(con)
    res["lang_samples"] = lang_samples(con, sample, seed)
    res["decontam"] = decontam_items(con)
    res["decontam_benchmarks"] = decontam_by_benchmark(con)
    miss = {}
    if not rows(con, "SELECT * FROM manifest_leaves LIMIT 1"):
        miss["mix"] = "mix: no `leaves` in manifest.json: tokens per source from the shards, nothing requested"
    if res["by_lang"] is None:
        miss["by_lang"] = missing("tokens per language", ["lang"])
    if not rows(con, "SELECT * FROM rejects LIMIT 1"):
        miss["drops"] = ("drops: no rejects folder (keep_rejects: false) or nothing dropped: counts from the manifest"
                         if rows(con, "SELECT * FROM manifest_drops LIMIT 1") else "drops: nothing was dropped")
    if "reasons" not in rcols:
        miss["reason_counts"] = missing("overlap of reasons", ["reasons"])
    fams = {signal_family(s) for s in sigs}
    for fam, prefixes in SIGNAL_FAMILIES.items():
        if fam not in fams:
            miss[f"signals_{fam}"] = missing(f"{fam} signals", [p + ("*" if p.endswith("_") else "") for p in prefixes])
    if res["nsfw_categories"] is None:
        miss["nsfw_categories"] = missing("NSFW URL categories", ["nsfw_url_category"])
    if res["dup_sizes"] is None:
        miss["dup"] = ("duplicates: not in this output (no `dup_cluster` / `dup_cluster_size` column and no "
                       "`duplicate:` reason in rejects)")
    if res["lang_overview"] is None:
        miss["lang"] = missing("quality at a glance", ["lang"])
    else:
        for c in ("lang_score", "script", "lang_script_mismatch"):
            if c not in dcols:
                miss[f"lang_{c}"] = missing(f"quality at a glance: {c}", [c])
    if res["decontam"] is None:
        miss["decontam"] = missing("decontamination", ["decontam_match"])
    res["missing"] = miss
    return res


# ---------------------------------------------------------------------------------------------- compare


def _diff_rows(a: dict, b: dict, key_name: str) -> list[dict]:
    out = []
    for k in sorted(set(a) | set(b), key=lambda k: (str(k))):
        va, vb = a.get(k), b.get(k)
        diff = (vb or 0) - (va or 0) if (va is not None or vb is not None) else None
        rel = (diff / va) if (va not in (None, 0) and diff is not None) else None
        out.append({key_name: k, "a": va, "b": vb, "diff": diff, "rel": rel})
    out.sort(key=lambda r: (-abs(r["diff"] or 0), str(r[key_name])))
    return out


def compare(a, b) -> dict:
    """What changed between two outputs (connections from `open_output`): tokens per leaf, per source and
    per language, documents per source, and drop rates per (source, reason). `a` is the baseline;
    `diff` = b - a, `rel` = diff / a."""
    def leaves(con):
        return {l["leaf"]: l["realized_tokens"] for l in mix(con)}

    def requested(con):
        return {l["leaf"]: l["requested_tokens"] for l in mix(con) if l["requested_tokens"] is not None}

    def by(con, col, field="tokens"):
        r = breakdown(con, col)
        return {x[col]: x[field] for x in r} if r is not None else {}

    def rates(con):
        return {f"{d['source']} / {d['reason']}": d["rate"] for d in drops(con) if d["rate"] is not None}

    def counts(con):
        return {f"{d['source']} / {d['reason']}": d["docs"] for d in drops(con)}

    oa, ob = overview(a), overview(b)
    totals = _diff_rows({"docs": oa["docs"], "tokens": oa["tokens"], "rejects": oa["rejects"]},
                        {"docs": ob["docs"], "tokens": ob["tokens"], "rejects": ob["rejects"]}, "total")
    drop_rows = _diff_rows(rates(a), rates(b), "drop")
    ca, cb = counts(a), counts(b)
    for r in drop_rows:
        r["docs_a"], r["docs_b"] = ca.get(r["drop"]), cb.get(r["drop"])
    return {"names": (oa["name"], ob["name"]), "totals": totals,
            "leaves": _diff_rows(leaves(a), leaves(b), "leaf"),
            "requested": _diff_rows(requested(a), requested(b), "leaf"),
            "sources": _diff_rows(by(a, "source"), by(b, "source"), "source"),
            "source_docs": _diff_rows(by(a, "source", "docs"), by(b, "source", "docs"), "source"),
            "languages": _diff_rows(by(a, "lang"), by(b, "lang"), "lang"),
            "drop_rates": drop_rows}


def to_json(res: dict) -> str:
    return json.dumps(res, default=str, indent=2)
