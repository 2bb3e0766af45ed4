"""Every section of the audit in one dict (`collect`), as the CLI and the HTML report render it.

A section whose columns are absent from the output is None, with its one-line explanation in
`res["missing"][section]`.
"""
from __future__ import annotations

from engine.audit.dedup import dup_largest, dup_sizes
from engine.audit.findings import drop_examples, run_meta, spec_check
from engine.audit.languages import drops_by_lang, lang_samples, lang_table, manifest_languages
from engine.audit.queries import (
    SIGNAL_FAMILIES, breakdown, category_counts, decontam_by_benchmark, decontam_items, drops, drops_by_source,
    flag_shares, mix, overview, reason_counts, reason_exclusivity, reason_pairs, signal_columns, signal_family,
    signal_histogram, signal_quantiles)
from engine.audit.synthetic import synthetic_table
from engine.audit.thresholds import spec_thresholds
from engine.audit.views import columns, missing, rows


def collect(con, sample: int = 5, seed: int | None = None, top: int = 10, bins: int = 30, examples: int = 2) -> dict:
    """Every section, as the CLI and the HTML report render them. A section whose columns are absent
    is None, with its one-line explanation in `missing[section]`. `examples`: rejected documents shown per
    (source, reason)."""
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
    res["thresholds"] = spec_thresholds(con)
    res["histograms"] = {s: signal_histogram(con, s, bins) for s in sigs}
    for s, h in res["histograms"].items():
        if h:
            h["thresholds"] = res["thresholds"].get(s, [])
    res["flags"] = flag_shares(con)
    res["nsfw_categories"] = category_counts(con, "nsfw_url_category")
    res["dup_sizes"] = dup_sizes(con)
    res["dup_largest"] = dup_largest(con, top, 3, seed)
    res["lang_overview"] = lang_table(con)
    res["manifest_languages"] = manifest_languages(con)
    res["drops_by_lang"] = drops_by_lang(con)
    res["drop_examples"] = drop_examples(con, examples, seed)
    res["spec_check"] = spec_check(con, res["mix"])
    res["run"] = run_meta(con)
    res["synthetic"] = synthetic_table(con)
    res["lang_samples"] = lang_samples(con, sample, seed)
    res["decontam"] = decontam_items(con)
    res["decontam_benchmarks"] = decontam_by_benchmark(con)
    res["missing"] = _missing_notes(con, res, dcols, rcols)
    return res


def _missing_notes(con, res: dict, dcols: dict, rcols: dict) -> dict[str, str]:
    """The one-line note of every section (or part of one) this output has no columns for."""
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
    fams = {signal_family(s) for s in res["signals"]}
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
        for c in ("lang_score", "script", "lang_script_mismatch", "lang_doubt"):
            if c not in dcols:
                miss[f"lang_{c}"] = missing(f"quality at a glance: {c}", [c])
    if res["manifest_languages"] is None:
        miss["lang_precision"] = "estimated label precision: not in this output (no `languages` figures in manifest.json)"
    if res["synthetic"] is None or not any(r.get("baseline") for r in res["synthetic"]["rows"]):
        miss["diversity"] = ("synthetic diversity: not in this output (no `synthetic_diversity` with a human "
                             "baseline in manifest.json)")
    if not res["thresholds"]:
        miss["thresholds"] = "thresholds: the run's spec is not in its manifest nor at its path: none drawn"
    if res["decontam"] is None:
        miss["decontam"] = missing("decontamination", ["decontam_match"])
    return miss
