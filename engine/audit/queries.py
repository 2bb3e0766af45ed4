"""Audit a `tamis run` output with DuckDB: every query of `tamis audit`, its HTML report and the notebook.

`open_output(path)` (engine.audit.views) registers, on a fresh in-memory DuckDB connection:

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

from engine.audit.dedup import dup_largest, dup_sizes  # noqa: F401 - re-exported: every query is here
from engine.audit.languages import lang_overview, lang_samples  # noqa: F401 - re-exported
from engine.audit.views import (  # noqa: F401 - AuditError, open_output: the audit's entry points, re-exported
    AuditError, _ident, _is_numeric, _lit, _share, _unique, columns, lang_expr, manifest_dict, missing, open_output,
    register, rows, scalar)
from engine.plan.budgets import NULL_GROUP
from filters.registry import signal_families, signal_prefixes

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# which numeric columns are signals, and their sections: from the filter registry (filters/registry.py)
SIGNAL_PREFIXES = signal_prefixes()
SIGNAL_FAMILIES = signal_families()


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
    """Documents and tokens in the shards per value of `by` (`source`, `kind`, `lang`), largest first. Code
    documents' `lang` is `code:<language>` (`views.lang_expr`)."""
    expr = lang_expr(con) if by == "lang" else None
    if expr is None and by not in columns(con, "docs"):
        return None
    expr = expr or f"coalesce(CAST({_ident(by)} AS VARCHAR), '(none)')"
    out = rows(con, f"""SELECT {expr} AS {_ident(by)},
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
    grouped = _group_tokens(con, leaves)
    for l in leaves:
        l["leaf"] = l["source"] if l["group"] is None else f"{l['source']}/{l['group']}"
        l["realized_share"] = _share(l["realized_tokens"] or 0, realized_total)
        l["requested_share"] = _share(l["requested_tokens"], requested_total) if l["requested_tokens"] is not None else None
        l["shard_tokens"] = (shard.get(l["source"], 0) if l["group"] is None
                             else grouped.get((l["source"], l["group"]), 0) if l.get("group_by") else None)
    return leaves


def leaf_tokens_sql(source: str, group_by: str) -> str:
    """Tokens in the shards per group of one grouped source, the group as the sampler names it (the
    column's value as text, NULL_GROUP for null). Also the notebook's query."""
    return (f"SELECT coalesce(CAST({_ident(group_by)} AS VARCHAR), {_lit(NULL_GROUP)}) AS grp, "
            f"coalesce(sum(n_tokens), 0)::BIGINT AS tokens FROM docs WHERE source = {_lit(source)} GROUP BY 1")


def _group_tokens(con, leaves: list[dict]) -> dict:
    """(source, group) -> tokens in the shards, for grouped leaves whose manifest names the column (manifests
    written before `group_by` was recorded have no per-group figure)."""
    out = {}
    for source, group_by in {(l["source"], l.get("group_by")) for l in leaves if l.get("group_by")}:
        if group_by in columns(con, "docs"):
            out.update({(source, r["grp"]): r["tokens"] for r in rows(con, leaf_tokens_sql(source, group_by))})
    return out


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
    """Numeric columns named by a registered filter's signal prefixes (filters/registry.py)."""
    cols = columns(con, table)
    out = [c for c, t in cols.items() if _is_numeric(t) and c.startswith(SIGNAL_PREFIXES)]
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
                            FROM docs WHERE {_unique(con)} GROUP BY 1 HAVING count({_ident(f)}) > 0 ORDER BY 1""")
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
