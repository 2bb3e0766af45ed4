"""Audit of a committed output: DuckDB views (views), queries (queries), every section at once (collect),
two outputs side by side (compare), the HTML report (html, charts) and the terminal report (text).

The public API, for tests, the notebook and your own scripts:
`con = open_output(path); res = collect(con)`, and `compare(open_output(a), open_output(b))`.
"""
from engine.audit.collect import collect
from engine.audit.compare import compare, to_json
from engine.audit.queries import (
    QUANTILES, SIGNAL_FAMILIES, SIGNAL_PREFIXES, breakdown, category_counts, decontam_by_benchmark, decontam_items,
    drops, drops_by_source, dup_largest, dup_sizes, flag_shares, lang_overview, lang_samples, mix, overview,
    reason_counts, reason_exclusivity, reason_pairs, signal_columns, signal_family, signal_histogram,
    signal_quantiles)
from engine.audit.views import AuditError, columns, manifest_dict, missing, open_output, register, rows, scalar

__all__ = [
    "AuditError", "QUANTILES", "SIGNAL_FAMILIES", "SIGNAL_PREFIXES", "breakdown", "category_counts", "collect",
    "columns", "compare", "decontam_by_benchmark", "decontam_items", "drops", "drops_by_source", "dup_largest",
    "dup_sizes", "flag_shares", "lang_overview", "lang_samples", "manifest_dict", "missing", "mix", "open_output",
    "overview", "reason_counts", "reason_exclusivity", "reason_pairs", "register", "rows", "scalar",
    "signal_columns", "signal_family", "signal_histogram", "signal_quantiles", "to_json"]
