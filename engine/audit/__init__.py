"""Audit of a committed output: DuckDB views (views), queries (queries; the first screen's in findings,
languages, synthetic, dedup; the spec's thresholds in thresholds), every section at once (collect), two
outputs side by side (compare), the HTML report (html, html_first, html_ref, charts) and the terminal (text).

The public API, for tests, the notebook and your own scripts:
`con = open_output(path); res = collect(con)`, and `compare(open_output(a), open_output(b))`.
"""
from engine.audit.collect import collect
from engine.audit.compare import compare, to_json
from engine.audit.dedup import dup_largest, dup_sizes
from engine.audit.findings import drop_examples, leaf_status, run_meta, spec_check
from engine.audit.languages import drops_by_lang, lang_overview, lang_samples, lang_table, manifest_languages
from engine.audit.queries import (
    QUANTILES, SIGNAL_FAMILIES, SIGNAL_PREFIXES, breakdown, category_counts, decontam_by_benchmark, decontam_items,
    drops, drops_by_source, flag_shares, mix, overview, reason_counts, reason_exclusivity, reason_pairs,
    signal_columns, signal_family, signal_histogram, signal_quantiles)
from engine.audit.synthetic import diversity_rows, generator_shares, synthetic_table
from engine.audit.thresholds import spec_dict, spec_thresholds
from engine.audit.views import (AuditError, columns, lang_expr, manifest_dict, manifest_json, missing, open_output,
                                register, rows, scalar)

__all__ = [
    "AuditError", "QUANTILES", "SIGNAL_FAMILIES", "SIGNAL_PREFIXES", "breakdown", "category_counts", "collect",
    "columns", "compare", "decontam_by_benchmark", "decontam_items", "diversity_rows", "drop_examples", "drops",
    "drops_by_lang", "drops_by_source", "dup_largest", "dup_sizes", "flag_shares", "generator_shares",
    "lang_expr", "lang_overview", "lang_samples", "lang_table", "leaf_status", "manifest_dict", "manifest_json",
    "manifest_languages", "missing", "mix", "open_output", "overview", "reason_counts", "reason_exclusivity",
    "reason_pairs", "register", "rows", "run_meta", "scalar", "signal_columns", "signal_family", "signal_histogram",
    "signal_quantiles", "spec_check", "spec_dict", "spec_thresholds", "synthetic_table", "to_json"]
