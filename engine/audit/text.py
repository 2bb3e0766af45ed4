"""The audit on the terminal: `engine.audit.collect`'s result and `engine.audit.compare`'s as rich tables.

Every value shown comes from the output (document text, ids, reasons, sources, paths): it reaches rich through
`lit`, and the console parses no markup either, so `[/]` in a document cannot crash the audit.
"""
from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

from engine.audit.compare import COMPARE_SECTIONS
from engine.audit.format import fmt, fmt_float, fmt_int, fmt_pct, fmt_signed
from engine.display import lit, literal_console


def report_console() -> Console:
    """Full width on a terminal; `$COLUMNS` (default 160) when piped, so tables are not cut to 80 columns."""
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 160)
    return literal_console(width=width)


def _table(con: Console, title: str, rows: list[dict], cols: list[tuple], limit: int | None = None, note: str = ""):
    """`cols`: (key, header, formatter or None, justify)."""
    t = Table(header_style="bold", show_lines=False)
    for _k, h, _f, just in cols:
        t.add_column(h, justify=just or "left", overflow="fold")
    shown = rows[:limit] if limit else rows
    for r in shown:
        t.add_row(*[lit(f(r.get(k)) if f else fmt(r.get(k))) for k, _h, f, _j in cols])
    if not rows:
        con.print(lit((title, "bold"), ": (no rows)"), soft_wrap=True)
        return
    con.print(lit((title, "bold")), soft_wrap=True)
    con.print(t)
    if limit and len(rows) > limit:
        con.print(lit((f"… {len(rows) - limit} more rows (--html shows more)", "dim")))
    if note:
        con.print(lit((note, "dim")))


def _missing(con: Console, res: dict, *keys: str):
    for k in keys:
        if k in res["missing"]:
            con.print(lit((res["missing"][k], "dim")), soft_wrap=True)


def _rule(con: Console, title: str):
    con.print()
    con.rule(lit((title, "bold")))


R = "right"
I, F, P = fmt_int, fmt_float, fmt_pct


def print_audit(con: Console, res: dict, path: str):
    """Every section of `res` (from `engine.audit.collect`) as tables under a rule per section."""
    ov = res["overview"]
    con.print(lit(("tamis audit", "bold"), f" {path}: {ov.get('name') or ''} (seed {ov.get('seed')}, "
                  f"tokenizer {ov.get('tokenizer')}): {I(ov['docs'])} documents, {I(ov['tokens'])} tokens, "
                  f"{I(ov['sources'])} sources, {I(ov['rejects'])} rejects, {I(ov['shards'])} shards"), soft_wrap=True)
    for title, section in (("Mix", _mix), ("Drops", _drops), ("Signals", _signals),
                           ("Duplicate clusters", _dedup), ("Quality at a glance", _glance),
                           ("Decontamination", _decontam)):
        _rule(con, title)
        section(con, res)


def _mix(con: Console, res: dict):
    _missing(con, res, "mix")
    _table(con, "Mix: realized vs requested tokens per leaf", res["mix"], [
        ("leaf", "leaf", None, ""), ("available_tokens", "available", I, R), ("requested_tokens", "requested", I, R),
        ("requested_share", "req. share", P, R), ("realized_tokens", "realized", I, R),
        ("realized_share", "share", P, R), ("realized_docs", "docs", I, R), ("epochs", "epochs", F, R)])
    for key, col, title in (("by_source", "source", "Tokens per source"), ("by_kind", "kind", "Tokens per kind"),
                            ("by_lang", "lang", "Tokens per language")):
        if res[key] is None:
            _missing(con, res, key)
            continue
        _table(con, title, res[key], [(col, col, None, ""), ("docs", "docs", I, R), ("tokens", "tokens", I, R),
                                      ("token_share", "share", P, R)], limit=25 if key == "by_lang" else None)


def _drops(con: Console, res: dict):
    _missing(con, res, "drops")
    _table(con, "Documents per source", res["source_totals"], [
        ("source", "source", None, ""), ("docs_read", "read", I, R), ("manifest_dropped", "dropped", I, R),
        ("docs_kept", "kept", I, R), ("docs_written", "written", I, R), ("tokens_written", "tokens", I, R)])
    _table(con, "Drops per reason per source (first failing rule)", res["drops"], [
        ("source", "source", None, ""), ("reason", "reason", None, ""), ("docs", "docs", I, R),
        ("rate", "of read", P, R), ("chars", "chars dropped", I, R)])
    bad = [d for d in res["drops"] if d["reject_docs"] is not None and d["manifest_docs"] is not None
           and d["reject_docs"] != d["manifest_docs"]]
    for d in bad:
        con.print(lit(("rejects and manifest disagree", "red"), f": {d['source']} {d['reason']}: "
                      f"{d['reject_docs']} rows in rejects, {d['manifest_docs']} in manifest.json"), soft_wrap=True)
    _missing(con, res, "reason_counts")
    _table(con, "Overlap of reasons: rejects by number of failing rules", res["reason_counts"], [
        ("n_reasons", "failing rules", I, R), ("docs", "rejects", I, R)])
    _table(con, "Reason pairs failed by the same document", res["reason_pairs"], [
        ("reason_a", "reason", None, ""), ("reason_b", "and reason", None, ""), ("docs", "docs", I, R)])
    _table(con, "Per reason: failing at all / as first reason / only this one", res["reason_exclusivity"], [
        ("reason", "reason", None, ""), ("failing", "failing", I, R), ("first", "first", I, R), ("only", "only", I, R)],
        note="`only`: the documents that would come back if this rule alone were removed")


def _signals(con: Console, res: dict):
    _missing(con, res, "signals_language", "signals_quality", "signals_nsfw", "signals_code")
    if res["quantiles"]:
        _table(con, "Signals per source: quantiles over kept documents", res["quantiles"], [
            ("signal", "signal", None, ""), ("source", "source", None, ""), ("n", "docs", I, R), ("mean", "mean", F, R),
            ("p5", "p5", F, R), ("p25", "p25", F, R), ("p50", "p50", F, R), ("p75", "p75", F, R), ("p95", "p95", F, R)])
    if res["flags"]:
        _table(con, "Flags: share true over kept documents", res["flags"], [
            ("flag", "flag", None, ""), ("source", "source", None, ""), ("docs", "docs", I, R),
            ("true", "true", I, R), ("share", "share", P, R)])
    if res["nsfw_categories"] is None:
        _missing(con, res, "nsfw_categories")
    else:
        _table(con, "NSFW URL categories", res["nsfw_categories"], [
            ("source", "source", None, ""), ("category", "category", None, ""), ("status", "status", None, ""),
            ("docs", "docs", I, R)])


def _dedup(con: Console, res: dict):
    if res["dup_sizes"] is None:
        _missing(con, res, "dup")
    else:
        _table(con, "Duplicate clusters by size", res["dup_sizes"], [
            ("size", "size", I, R), ("clusters", "clusters", I, R), ("docs", "documents", I, R)])
        for c in res["dup_largest"] or []:
            surv = "survivor in the output" if c["survivor_in_output"] else "survivor not in the output (sampled out by the mix)"
            _table(con, f"Cluster {c['cluster']}: {c['size']} documents, {c['removed']} removed as duplicates, {surv} "
                        f"({c['sources']})", c["sample"], [
                ("status", "status", None, ""), ("source", "source", None, ""), ("id", "id", None, ""),
                ("snippet", "text", lambda s: (s or "")[:120], "")])


def _glance(con: Console, res: dict):
    if res["lang_overview"] is None:
        _missing(con, res, "lang")
    else:
        _missing(con, res, "lang_lang_score", "lang_script", "lang_lang_script_mismatch", "lang_lang_doubt",
                 "lang_precision")
        _table(con, "Quality at a glance: language labels", res["lang_overview"], [
            ("lang", "lang", None, ""), ("docs", "docs", I, R), ("mean_score", "mean lang_score", F, R), ("median_score", "median", F, R),
            ("top_script", "main script", None, ""), ("mismatch_docs", "script mismatch", I, R),
            ("mismatch_share", "share", P, R), ("doubt_rate", "lang_doubt", P, R),
            ("precision", "est. precision", P, R)], limit=40)
        _table(con, f"Quality at a glance: {res['sample']} documents per label (seed {res['seed']})", res["lang_samples"], [
            ("lang", "lang", None, ""), ("lang_score", "score", F, R), ("script", "script", None, ""),
            ("mismatch", "mismatch", lambda v: "MISMATCH" if v else "", ""),
            ("doubt", "doubt", lambda v: "DOUBT" if v else "", ""), ("source", "source", None, ""),
            ("snippet", "text", lambda s: (s or "")[:140], "")], limit=40 * max(1, res["sample"]))


def _decontam(con: Console, res: dict):
    if res["decontam"] is None:
        _missing(con, res, "decontam")
    else:
        _table(con, "Decontamination: benchmarks", res["decontam_benchmarks"], [
            ("benchmark", "benchmark", None, ""), ("items", "items caught", I, R), ("dropped", "docs dropped", I, R),
            ("kept", "docs tagged, kept", I, R)])
        _table(con, "Decontamination: benchmark items caught", res["decontam"], [
            ("benchmark", "benchmark", None, ""), ("item", "item", None, ""), ("dropped", "dropped", I, R),
            ("kept", "kept", I, R), ("max_ngrams", "max n-grams", I, R), ("sources", "sources", None, "")], limit=30)


def print_compare(con: Console, cmp: dict, a: str, b: str):
    con.print(lit(("tamis audit --compare", "bold"), f"  A = {a}  B = {b}  (diff = B - A)"), soft_wrap=True)
    for key, title, k, kind in COMPARE_SECTIONS:
        rows = cmp[key]
        f = P if kind == "rate" else I
        cols = [(k, k, None, ""), ("a", "A", f, R), ("b", "B", f, R),
                ("diff", "B - A", lambda v, kind=kind: fmt_signed(v, kind), R)]
        if kind == "rate":
            cols += [("docs_a", "docs A", I, R), ("docs_b", "docs B", I, R)]
        else:
            cols.append(("rel", "change", lambda v: "" if v is None else f"{v * 100:+.1f}%", R))
        _table(con, title, rows, cols)
