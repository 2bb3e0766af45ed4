"""The report's reference, folded below the first screen (one `<details>` each): full mix and drop tables,
every drop example, the overlap of reasons, every language label, the sample sheet, signal quantiles and
flags, histograms with the spec's thresholds, all duplicate clusters, decontamination, stage reuse per
source; and the comparison with another output (`compare_section`, open).
"""
from __future__ import annotations

from engine.audit.charts import (_img, plot_compare, plot_drops, plot_dup_sizes, plot_histogram, plot_lang_scores,
                                 plot_langs, plot_mix)
from engine.audit.compare import COMPARE_SECTIONS
from engine.audit.format import fmt_float, fmt_int, fmt_pct, fmt_signed
from engine.audit.html import esc, missing_notes, table

I, F, P = fmt_int, fmt_float, fmt_pct
QCOLS = ("p5", "p25", "p50", "p75", "p95")


def _fold(id_: str, title: str, body: list[str]) -> list[str]:
    return [f'<details id="{id_}"><summary>{esc(title)}</summary>', *body, "</details>"]


def reference(res: dict) -> list[str]:
    out = ['<h2 id="reference" style="margin-top:18px">Reference <span class="dim" style="font-weight:normal;'
           'font-size:13px">(click to open)</span></h2>']
    for part in (_mix, _drops, _langs, _samples, _synthetic, _signals, _histograms, _dedup, _decontam, _run):
        out += part(res)
    return out


def _mix(res: dict) -> list[str]:
    body = [missing_notes(res, "mix"), _img(plot_mix(res["mix"]), "tokens per leaf", "fig-mix"), table(res["mix"], [
        ("leaf", "leaf", None, ""), ("available_tokens", "available", I, "n"), ("requested_tokens", "requested", I, "n"),
        ("requested_share", "requested share", P, "n"), ("realized_tokens", "realized", I, "n"),
        ("realized_share", "realized share", P, "n"), ("realized_docs", "docs", I, "n"), ("epochs", "epochs", F, "n")])]
    for key, col, title in (("by_source", "source", "Tokens per source"), ("by_kind", "kind", "Tokens per kind")):
        if res[key] is not None:
            body.append(f"<h3>{title}</h3>" + table(res[key], [(col, col, None, ""), ("docs", "docs", I, "n"),
                                                             ("tokens", "tokens", I, "n"), ("token_share", "share", P, "n")]))
    return _fold("ref-mix", "Mix: every leaf, tokens per source and kind", body)


def _drops(res: dict) -> list[str]:
    body = [missing_notes(res, "drops")]
    if res["drops"]:
        body.append(_img(plot_drops(res["drops"]), "drops per reason", "fig-drops"))
    body.append("<h3>Per source</h3>" + table(res["source_totals"], [
        ("source", "source", None, ""), ("docs_read", "read", I, "n"), ("manifest_dropped", "dropped", I, "n"),
        ("docs_kept", "kept", I, "n"), ("docs_written", "written", I, "n"), ("tokens_written", "tokens", I, "n")]))
    body.append("<h3>Per source and reason (first failing rule); red: rejects and manifest disagree</h3>" + table(
        res["drops"], [("source", "source", None, ""), ("reason", "reason", None, ""), ("docs", "docs", I, "n"),
                       ("rate", "of read", P, "n"), ("chars", "chars dropped", I, "n")],
        flag=lambda r: None not in (r["reject_docs"], r["manifest_docs"]) and r["reject_docs"] != r["manifest_docs"]))
    ex = [{**e, "key": f"{s} / {r}"} for (s, r), es in res["drop_examples"].items() for e in es]
    if ex:
        body.append("<h3>Examples per reason</h3>" + table(ex, [
            ("key", "source / reason", None, ""), ("id", "id", None, ""), ("lang", "lang", None, ""),
            ("snippet", "text", None, "snip")]))
    body.append("<h3>Overlap of reasons</h3>" + missing_notes(res, "reason_counts"))
    body.append('<div class="grid"><div>' + table(res["reason_counts"], [
        ("n_reasons", "failing rules", I, "n"), ("docs", "rejects", I, "n")]) + "</div><div>" + table(res["reason_pairs"], [
        ("reason_a", "reason", None, ""), ("reason_b", "and reason", None, ""), ("docs", "docs", I, "n")]) + "</div></div>")
    body.append("<h3>Per reason: failing at all, as first reason, only this reason</h3>" + table(
        res["reason_exclusivity"], [("reason", "reason", None, ""), ("failing", "failing", I, "n"),
                                    ("first", "first", I, "n"), ("only", "only", I, "n")]))
    return _fold("ref-drops", "Drops: every reason, examples, overlap of reasons", body)


def _langs(res: dict) -> list[str]:
    if res["by_lang"] is None:
        return _fold("ref-langs", "Languages: every label", [missing_notes(res, "by_lang")])
    body = [_img(plot_langs(res["by_lang"]), "tokens per language", "fig-langs")]
    if res["lang_overview"] and any(r.get("mean_score") is not None for r in res["lang_overview"]):
        body.append(_img(plot_lang_scores(res["lang_overview"]), "language ID confidence per label", "fig-lang-scores"))
    body.append(table(res["lang_overview"], [
        ("lang", "lang", None, ""), ("docs", "docs", I, "n"), ("tokens", "tokens", I, "n"),
        ("mean_score", "mean lang_score", F, "n"), ("median_score", "median", F, "n"), ("top_script", "main script", None, ""),
        ("mismatch_docs", "script mismatch", I, "n"), ("mismatch_share", "mismatch share", P, "n"),
        ("doubt_docs", "lang_doubt", I, "n"), ("doubt_rate", "doubt rate", P, "n"),
        ("precision", "est. precision", P, "n")], limit=200))
    if res.get("manifest_languages"):
        body.append("<h3>Per source and label, documents the filters kept (manifest)</h3>" + table(
            res["manifest_languages"], [
                ("source", "source", None, ""), ("lang", "lang", None, ""), ("docs", "docs", I, "n"),
                ("tokens", "tokens", I, "n"), ("doubt_rate", "doubt rate", P, "n"),
                ("precision", "est. precision", P, "n"), ("docs_read", "docs read", I, "n"),
                ("doubt_rate_read", "doubt rate, read", P, "n"), ("auto_threshold", "min_score: auto", F, "n")]))
    if res.get("drops_by_lang"):
        rows = [{"lang": r["lang"], **x} for r in res["drops_by_lang"] for x in r["reasons"]]
        body.append("<h3>Dropped per label and reason</h3>" + table(rows, [
            ("lang", "lang", None, ""), ("reason", "reason", None, ""), ("docs", "docs", I, "n")]))
    return _fold("ref-langs", "Languages: every label, per source, drops per label", body)


def _samples(res: dict) -> list[str]:
    if res["lang_samples"] is None:
        return _fold("ref-samples", "Language samples", [missing_notes(res, "lang")])
    body = [f'<p class="meta">{esc(res["sample"])} documents per label, `lang_doubt` first, then by '
            f'md5("{esc(res["seed"])}:" || id): the same seed gives the same sheet. Red: doubted or script mismatch.</p>',
            missing_notes(res, "lang_lang_score", "lang_script", "lang_lang_script_mismatch")]
    body.append(table(res["lang_samples"], [
        ("lang", "lang", None, ""), ("lang_score", "score", F, "n"), ("doubt_score", "doubt", F, "n"),
        ("second", "2nd LID", None, ""), ("wordlist", "word list", F, "n"), ("script", "script", None, ""),
        ("source", "source", None, ""), ("snippet", "text", None, "snip")],
        flag=lambda r: bool(r.get("doubt")) or bool(r.get("mismatch"))))
    return _fold("ref-samples", f"Language samples ({res['sample']} per label, doubted first)", body)


def _synthetic(res: dict) -> list[str]:
    syn = res.get("synthetic")
    if syn is None:
        return []
    rows = syn["rows"] + syn["human_sources"]
    flat = [{"name": r["name"], "share": r.get("share"), "docs": r.get("docs"), **r["metrics"]} for r in rows]
    body = [missing_notes(res, "diversity"), table(flat, [
        ("name", "generator / baseline", None, ""), ("share", "share of mix", P, "n"), ("docs", "docs", I, "n"),
        *[(m, m, F, "n") for m in syn["metrics"]]],
        flag=lambda r: any(syn["worse"].get((r["name"], m)) for m in syn["metrics"]))]
    return _fold("ref-synthetic", "Synthetic: every generator and human-written source", body)


def _signals(res: dict) -> list[str]:
    body = [missing_notes(res, "signals_language", "signals_quality", "signals_nsfw", "signals_code")]
    for key, title in (("quantiles", "kept documents, each once"), ("reject_quantiles", "rejected documents")):
        rows = res[key] or []
        varying = [r for r in rows if len({r.get(q) for q in QCOLS}) > 1]
        const = sorted({f"{r['signal']} = {F(r.get('p50'))}" for r in rows if r not in varying})
        if rows:
            body.append(f"<h3>Quantiles per source ({title})</h3>" + table(varying, [
                ("signal", "signal", None, ""), ("source", "source", None, ""), ("n", "docs", I, "n"), ("mean", "mean", F, "n"),
                *[(q, q, F, "n") for q in QCOLS]]))
            if const:
                body.append(f'<p class="note dim">the same value at every quantile: {esc(", ".join(const))}</p>')
    if res["flags"]:
        body.append("<h3>Flags (share true, kept documents)</h3>" + table(res["flags"], [
            ("flag", "flag", None, ""), ("source", "source", None, ""), ("docs", "docs", I, "n"),
            ("true", "true", I, "n"), ("share", "share", P, "n")]))
    body.append("<h3>NSFW URL categories</h3>")
    body.append(missing_notes(res, "nsfw_categories") if res["nsfw_categories"] is None else table(res["nsfw_categories"], [
        ("source", "source", None, ""), ("category", "category", None, ""), ("status", "status", None, ""),
        ("docs", "docs", I, "n")]))
    return _fold("ref-signals", "Signals: quantiles per source, flags, NSFW URL categories", body)


def _histograms(res: dict) -> list[str]:
    hs = {s: h for s, h in res["histograms"].items() if h}
    if not hs:
        return []
    body = ['<p class="meta">Kept documents per source (solid), rejected (dashed); red dotted lines: the spec\'s '
            "thresholds for the signal.</p>", missing_notes(res, "thresholds"), '<div class="grid">']
    body += [_img(plot_histogram(h), f"histogram of {s}") for s, h in hs.items()]
    body.append("</div>")
    n = sum(1 for h in hs.values() if h.get("thresholds"))
    return _fold("ref-hist", f"Histograms of {len(hs)} signals ({n} with the spec's thresholds)", body)


def _dedup(res: dict) -> list[str]:
    if res["dup_sizes"] is None:
        return _fold("ref-dedup", "Duplicate clusters", [missing_notes(res, "dup")])
    body = []
    if res["dup_sizes"]:
        body.append(_img(plot_dup_sizes(res["dup_sizes"]), "duplicate cluster sizes", "fig-dup"))
    body.append(table(res["dup_sizes"], [("size", "size", I, "n"), ("clusters", "clusters", I, "n"),
                                         ("docs", "documents", I, "n")]))
    for c in res["dup_largest"] or []:
        body.append(f"<h3>{esc(c['cluster'])}: {esc(c['size'])} documents, {esc(c['removed'])} removed as duplicates, "
                    f"{esc(c['in_output'])} in the output ({esc(c['sources'])})</h3>")
        body.append(table(c["sample"], [("status", "status", None, ""), ("source", "source", None, ""),
                                        ("id", "id", None, ""), ("snippet", "text", None, "snip")]))
    return _fold("ref-dedup", "Duplicate clusters: sizes and the largest", body)


def _decontam(res: dict) -> list[str]:
    if res["decontam"] is None:
        return _fold("ref-decontam", "Decontamination", [missing_notes(res, "decontam")])
    body = [table(res["decontam_benchmarks"], [("benchmark", "benchmark", None, ""), ("items", "items caught", I, "n"),
                                               ("dropped", "docs dropped", I, "n"), ("kept", "docs tagged, kept", I, "n")]),
            table(res["decontam"], [("benchmark", "benchmark", None, ""), ("item", "item", None, ""),
                                     ("dropped", "dropped", I, "n"), ("kept", "kept", I, "n"),
                                     ("max_ngrams", "max n-grams", I, "n"), ("sources", "sources", None, "")], limit=200)]
    items = sum(b["items"] for b in res["decontam_benchmarks"])
    return _fold("ref-decontam", f"Decontamination: {items} benchmark items caught", body)


def _run(res: dict) -> list[str]:
    run = res["run"]
    rows = [{"stage": st["stage"], "source": s, **v} for st in run["stages"] for s, v in st.get("sources", {}).items()]
    body = [table([{"stage": st["stage"], "reused": st["reused"], "detail": st["detail"]} for st in run["stages"]],
                  [("stage", "stage", None, ""), ("reused", "reused", None, ""), ("detail", "", None, "")])]
    if rows:
        body.append(table(rows, [("stage", "stage", None, ""), ("source", "source", None, ""),
                                 ("files_reused", "files reused", I, "n"), ("files_computed", "files computed", I, "n")]))
    body.append(table([{"package": k, "version": v} for k, v in run["versions"].items()],
                      [("package", "package", None, ""), ("version", "version", None, "")]))
    return _fold("ref-run", "Run: stages reused per source, versions", body)


def compare_section(cmp: dict, labels: tuple[str, str], heading: bool = True) -> list[str]:
    """B − A for totals, leaves, sources, languages and drop rates (this output is B)."""
    a, b = labels
    out = []
    if heading:
        out.append(f'<section id="compare"><h2>Changes since {esc(a)}</h2><p class="meta">A = {esc(a)} · '
                   f"B = {esc(b)} (this report) · diff = B − A</p>")
    for key, title, k, kind in COMPARE_SECTIONS:
        rows = cmp[key]
        out.append(f'<h3 id="cmp-{key}">{title}</h3>')
        if not rows:
            out.append('<p class="missing">(nothing on either side)</p>')
            continue
        if key in ("leaves", "sources", "languages"):
            out.append(_img(plot_compare(rows, k, title, ("A", "B")), title))
        f = P if kind == "rate" else I
        cols = [(k, k, None, ""), ("a", "A", f, "n"), ("b", "B", f, "n"),
                ("diff", "B − A", lambda v, kind=kind: fmt_signed(v, kind), "n")]
        if kind != "rate":
            cols.append(("rel", "change", lambda v: "" if v is None else f"{v * 100:+.1f}%", "n"))
        else:
            cols += [("docs_a", "docs A", I, "n"), ("docs_b", "docs B", I, "n")]
        out.append(table(rows, cols, limit=25))
    if heading:
        out.append("</section>")
    return out
