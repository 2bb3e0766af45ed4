"""Per language label: documents, tokens, language-ID confidence, `lang_doubt`, estimated label precision,
drops, and reproducible samples with the doubted ones first.

A document's label is `lang`, or `code:<language>` for code (`views.lang_expr`). `lang_doubt` and its parts
(`lang_doubt_score`, `lang_wordlist_score`, `lang_agree`, `lang_second`) come from the language filter; the
estimated precision per (source, lang) from the manifest's `languages`. Both are absent from older outputs:
the columns are then None and the report says so.
"""
from __future__ import annotations

from engine.audit.dedup import snippet_sql
from engine.audit.views import _unique, columns, lang_expr, manifest_json, rows

_REASON = "CASE WHEN reason LIKE 'duplicate:%' THEN 'duplicate' ELSE reason END"
# the manifest's key names for a language entry's figures, first match wins (tolerates renames)
# (the run writes docs_kept, tokens_kept, doubt_rate and label_precision over the documents the filters kept,
# and the *_read figures and `auto_threshold`, FineWeb-2's per-language threshold, beside them)
_KEYS = {"docs": ("docs_kept", "docs", "n_docs", "documents"), "tokens": ("tokens_kept", "tokens", "n_tokens"),
         "doubt_rate": ("doubt_rate", "lang_doubt_rate", "lang_doubt_share", "doubt_share", "doubt"),
         "precision": ("label_precision", "precision", "est_precision", "estimated_precision", "precision_est"),
         "docs_read": ("docs_read",), "doubt_rate_read": ("doubt_rate_read",), "auto_threshold": ("auto_threshold",)}


def lang_overview(con) -> list[dict] | None:
    """Per language label, each document once: documents, tokens, mean and median `lang_score`, the most
    common script, script mismatches, and the `lang_doubt` rate (None without the column)."""
    cols = columns(con, "docs")
    label = lang_expr(con)
    if label is None:
        return None
    has = cols.__contains__
    mism = "lang_script_mismatch"
    out = rows(con, f"""SELECT {label} AS lang, count(*) AS docs,
                              coalesce(sum(n_tokens), 0)::BIGINT AS tokens,
                              {'avg(lang_score)' if has('lang_score') else 'NULL'} AS mean_score,
                              {'median(lang_score)' if has('lang_score') else 'NULL'} AS median_score,
                              {'mode(script)' if has('script') else 'NULL'} AS top_script,
                              {f'count(*) FILTER (WHERE {mism})' if has(mism) else 'NULL'} AS mismatch_docs,
                              {f'avg(CAST({mism} AS DOUBLE))' if has(mism) else 'NULL'} AS mismatch_share,
                              {'count(lang_doubt)' if has('lang_doubt') else 'NULL'} AS doubt_checked,
                              {'count(*) FILTER (WHERE lang_doubt)' if has('lang_doubt') else 'NULL'} AS doubt_docs,
                              {'avg(CAST(lang_doubt AS DOUBLE))' if has('lang_doubt') else 'NULL'} AS doubt_rate
                       FROM docs WHERE {_unique(con)} GROUP BY 1 ORDER BY docs DESC, 1""")
    return out


def lang_samples(con, n: int = 5, seed: int = 0) -> list[dict] | None:
    """`n` documents per language label: the doubted ones (`lang_doubt`) first, each group ordered by
    `md5('<seed>:<id>')` (same seed, same sheet)."""
    cols = columns(con, "docs")
    label = lang_expr(con)
    if label is None:
        return None

    def col(c: str, typ: str) -> str:
        return c if c in cols else f"NULL::{typ}"

    return rows(con, f"""
        WITH d AS (SELECT {label} AS lang, id, source, {col('lang_score', 'DOUBLE')} AS lang_score,
                          {col('script', 'VARCHAR')} AS script, {col('lang_script_mismatch', 'BOOLEAN')} AS mismatch,
                          {col('lang_doubt', 'BOOLEAN')} AS doubt, {col('lang_doubt_score', 'DOUBLE')} AS doubt_score,
                          {col('lang_second', 'VARCHAR')} AS second, {col('lang_wordlist_score', 'DOUBLE')} AS wordlist,
                          {snippet_sql('text')} AS snippet, md5(? || ':' || id) AS h
                   FROM docs WHERE {_unique(con)}),
             ranked AS (SELECT *, row_number() OVER (PARTITION BY lang ORDER BY coalesce(doubt, false) DESC, h) AS k,
                               count(*) OVER (PARTITION BY lang) AS lang_docs FROM d)
        SELECT lang, k, id, source, lang_score, script, mismatch, doubt, doubt_score, second, wordlist, snippet
        FROM ranked WHERE k <= {int(n)} ORDER BY lang_docs DESC, lang, k""", [str(seed)])


def manifest_languages(con) -> list[dict] | None:
    """The manifest's `languages` as rows (`normalize_languages`); None when the output's manifest has none."""
    return normalize_languages(manifest_json(con).get("languages"))


def normalize_languages(raw) -> list[dict] | None:
    """Rows {source, lang, docs, tokens, doubt_rate, precision, docs_read, doubt_rate_read, auto_threshold}
    from a list of entries, {source: {lang: figures}} or {source: [entries]}; figures under the names in
    `_KEYS` (None when absent)."""
    if not raw:
        return None
    entries = []
    if isinstance(raw, list):
        entries = [e for e in raw if isinstance(e, dict)]
    elif isinstance(raw, dict):
        for src, per in raw.items():
            items = per.items() if isinstance(per, dict) else ((e.get("lang"), e) for e in per or [] if isinstance(e, dict))
            entries += [{"source": src, "lang": lang, **fig} for lang, fig in items if isinstance(fig, dict)]
    out = []
    for e in entries:
        row = {"source": e.get("source"), "lang": e.get("lang")}
        for k, names in _KEYS.items():
            row[k] = next((e[n] for n in names if isinstance(e.get(n), (int, float))), None)
        out.append(row)
    return out


def lang_table(con) -> list[dict] | None:
    """`lang_overview` plus the manifest's estimated label precision per label (weighted by documents over
    the sources that have the label; None where the manifest has no estimate)."""
    ov = lang_overview(con)
    if ov is None:
        return None
    per: dict[str, list] = {}
    for e in manifest_languages(con) or []:
        if e["lang"] is not None and e["precision"] is not None:
            per.setdefault(e["lang"], []).append((e["docs"] or 0, e["precision"]))
    for r in ov:
        figs = per.get(r["lang"])
        w = sum(d for d, _ in figs or [])
        r["precision"] = (sum(d * p for d, p in figs) / w if w else sum(p for _, p in figs) / len(figs)) if figs else None
    return ov


def drops_by_lang(con) -> list[dict] | None:
    """Rejects per language label: {lang, docs, reasons: [{reason, docs}] (first failing rule, largest
    first)}, labels with most rejects first; None when rejects have no language column."""
    label = lang_expr(con, "rejects")
    if label is None:
        return None
    out: dict[str, dict] = {}
    for r in rows(con, f"""SELECT {label} AS lang, {_REASON} AS reason, count(*) AS docs FROM rejects
                          WHERE reason IS NOT NULL GROUP BY 1, 2 ORDER BY docs DESC, 1, 2"""):
        e = out.setdefault(r["lang"], {"lang": r["lang"], "docs": 0, "reasons": []})
        e["docs"] += r["docs"]
        e["reasons"].append({"reason": r["reason"], "docs": r["docs"]})
    return sorted(out.values(), key=lambda e: (-e["docs"], e["lang"]))
