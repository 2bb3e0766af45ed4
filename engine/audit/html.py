"""The audit as one self-contained HTML file: inline CSS, plots as base64 PNG (matplotlib, Agg), no URL at all.

Renders what `engine.audit.queries.collect` / `engine.audit.queries.compare` return; no queries here.
"""
from __future__ import annotations

import base64
import html
import io
import warnings

# ------------------------------------------------------------------------------------------ formatting
# (shared with the CLI)


def fmt_int(v) -> str:
    return "" if v is None else f"{int(v):,}"


def fmt_float(v, nd: int = 3) -> str:
    if v is None:
        return ""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def fmt_pct(v, nd: int = 1) -> str:
    return "" if v is None else f"{v * 100:.{nd}f}%"


def fmt_signed(v, kind: str = "int") -> str:
    if v is None:
        return ""
    if kind == "rate":
        return f"{v * 100:+.2f} pp"
    return f"{int(v):+,}"


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return fmt_int(v)
    if isinstance(v, float):
        return fmt_float(v)
    return str(v)


# ------------------------------------------------------------------------------------------ plots

PALETTE = ["#3366aa", "#ee8833", "#44aa66", "#cc4444", "#8866bb", "#997755", "#dd77bb", "#777777", "#aabb33",
           "#33bbcc"]


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # missing glyphs in labels must not fail a report
        fig.tight_layout()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str, id_: str | None = None) -> str:
    i = f' id="{id_}"' if id_ else ""
    return f'<img{i} src="data:image/png;base64,{b64}" alt="{html.escape(alt)}">'


def _style(ax):
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.3)


def plot_mix(mix: list[dict]) -> str:
    """Realized vs requested tokens per leaf (horizontal bars)."""
    leaves = [l["leaf"] for l in mix][::-1]
    realized = [l["realized_tokens"] or 0 for l in mix][::-1]
    requested = [l["requested_tokens"] for l in mix][::-1]
    fig, ax = _figure(8, 0.9 + 0.45 * len(leaves))
    y = range(len(leaves))
    if any(r is not None for r in requested):
        ax.barh([i + 0.2 for i in y], [r or 0 for r in requested], height=0.4, color="#bbbbbb", label="requested")
        ax.barh([i - 0.2 for i in y], realized, height=0.4, color=PALETTE[0], label="realized")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    else:
        ax.barh(list(y), realized, height=0.6, color=PALETTE[0], label="realized")
    ax.set_yticks(list(y), leaves)
    ax.set_xlabel("tokens")
    ax.set_title("Tokens per leaf: realized" + (" vs requested" if any(r is not None for r in requested) else ""))
    _style(ax)
    return _png(fig)


def plot_drops(drops: list[dict], top: int = 20) -> str:
    """Dropped documents per reason, stacked by source."""
    by_reason: dict[str, dict[str, int]] = {}
    for d in drops:
        by_reason.setdefault(d["reason"], {})[d["source"]] = d["docs"] or 0
    reasons = sorted(by_reason, key=lambda r: -sum(by_reason[r].values()))[:top][::-1]
    sources = sorted({d["source"] for d in drops})
    fig, ax = _figure(8, 0.9 + 0.35 * max(1, len(reasons)))
    left = [0] * len(reasons)
    for i, s in enumerate(sources):
        vals = [by_reason[r].get(s, 0) for r in reasons]
        ax.barh(reasons, vals, left=left, color=PALETTE[i % len(PALETTE)], label=s)
        left = [a + b for a, b in zip(left, vals)]
    if len(sources) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_xlabel("documents dropped (first failing rule)")
    ax.set_title("Drops per reason")
    _style(ax)
    return _png(fig)


def plot_langs(by_lang: list[dict], top: int = 25) -> str:
    rows = by_lang[:top][::-1]
    fig, ax = _figure(8, 0.9 + 0.3 * max(1, len(rows)))
    ax.barh([r["lang"] for r in rows], [r["tokens"] for r in rows], color=PALETTE[2])
    ax.set_xlabel("tokens")
    ax.set_title("Tokens per language" + (f" (top {top} of {len(by_lang)})" if len(by_lang) > top else ""))
    _style(ax)
    return _png(fig)


def plot_lang_scores(lang_overview: list[dict], top: int = 25) -> str:
    rows = [r for r in lang_overview if r.get("mean_score") is not None][:top][::-1]
    fig, ax = _figure(8, 0.9 + 0.3 * max(1, len(rows)))
    ax.barh([r["lang"] for r in rows], [r["mean_score"] for r in rows], color=PALETTE[4], label="mean lang_score")
    mism = [r.get("mismatch_share") for r in rows]
    if any(m is not None for m in mism):
        ax.barh([r["lang"] for r in rows], [m or 0 for m in mism], color=PALETTE[3], height=0.35,
                label="script mismatch share")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_xlim(0, 1)
    ax.set_title("Language ID confidence and script mismatches per label")
    _style(ax)
    return _png(fig)


def plot_histogram(h: dict) -> str:
    lo, hi, bins = h["lo"], h["hi"], h["bins"]
    kept, rejected = dict(h["kept"]), h["rejected"]
    if hi > lo:
        edges = [lo + i * (hi - lo) / bins for i in range(bins + 1)]
    else:   # one value: one bar around it
        d = abs(lo) * 0.05 or 0.5
        edges = [lo - d, lo + d]
        kept = {s: [sum(c)] for s, c in kept.items()}
        rejected = [sum(rejected)]
    fig, ax = _figure(4.2, 2.6)
    for i, (src, counts) in enumerate(sorted(kept.items())):
        ax.stairs(counts, edges, color=PALETTE[i % len(PALETTE)], label=f"{src} (kept)", linewidth=1.5)
    if any(rejected):
        ax.stairs(rejected, edges, color="#555555", linestyle="--", label="rejected", linewidth=1)
    ax.set_title(h["signal"], fontsize=10)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def plot_dup_sizes(sizes: list[dict]) -> str:
    fig, ax = _figure(6, 2.8)
    ax.bar([str(s["size"]) for s in sizes], [s["clusters"] for s in sizes], color=PALETTE[5])
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("clusters")
    ax.set_title("Duplicate cluster sizes")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def plot_compare(rows: list[dict], key: str, title: str, labels=("A", "B"), top: int = 20) -> str:
    rows = sorted(rows, key=lambda r: -max(r["a"] or 0, r["b"] or 0))[:top][::-1]
    fig, ax = _figure(8, 0.9 + 0.45 * max(1, len(rows)))
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [r["a"] or 0 for r in rows], height=0.4, color="#bbbbbb", label=labels[0])
    ax.barh([i - 0.2 for i in y], [r["b"] or 0 for r in rows], height=0.4, color=PALETTE[0], label=labels[1])
    ax.set_yticks(list(y), [str(r[key]) for r in rows])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title)
    _style(ax)
    return _png(fig)


# ------------------------------------------------------------------------------------------ HTML

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #222;
       margin: 0; background: #f6f6f4; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 28px 60px; background: #fff; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #3366aa; }
h3 { font-size: 15px; margin: 20px 0 6px; color: #333; }
.meta { color: #555; margin: 0 0 8px; }
nav { margin: 10px 0 4px; padding: 8px 10px; background: #eef2f8; border-radius: 4px; }
nav a { margin-right: 14px; color: #24509a; text-decoration: none; white-space: nowrap; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f0f0ee; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.snip { max-width: 640px; color: #333; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
tr.flag td { background: #fff1f0; }
.missing { color: #777; font-style: italic; margin: 4px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.card { background: #eef2f8; border-radius: 4px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 18px; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
img { max-width: 100%; height: auto; }
.pos { color: #1a7a3a; } .neg { color: #b02a2a; }
"""


def esc(v) -> str:
    """Escaped text; `://` is written with an entity so the file holds no URL even when documents do."""
    return html.escape(fmt(v)).replace("://", "&#58;//")


def table(rows: list[dict], cols: list[tuple], limit: int | None = None, flag=None) -> str:
    """`cols`: (key, header, formatter or None, css class)."""
    if not rows:
        return '<p class="missing">(no rows)</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, *_ in cols)
    body = []
    for r in rows[:limit] if limit else rows:
        cells = []
        for key, _h, f, cls in cols:
            v = r.get(key)
            text = html.escape(f(v)).replace("://", "&#58;//") if f else esc(v)
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        tr = '<tr class="flag">' if flag and flag(r) else "<tr>"
        body.append(tr + "".join(cells) + "</tr>")
    more = f'<p class="missing">… {len(rows) - limit} more rows</p>' if limit and len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _missing(res: dict, *keys: str) -> str:
    return "".join(f'<p class="missing">{esc(res["missing"][k])}</p>' for k in keys if k in res["missing"])


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n")


I, F, P = fmt_int, fmt_float, fmt_pct
SECTIONS = [("mix", "Mix"), ("drops", "Drops per reason"), ("languages", "Languages"), ("signals", "Signals"),
            ("dedup", "Duplicate clusters"), ("glance", "Quality at a glance"), ("decontam", "Decontamination")]


def render_html(res: dict, path_label: str = "") -> str:
    ov = res["overview"]
    out = [f"<h1>tamis audit: {esc(ov.get('name') or path_label)}</h1>",
           f'<p class="meta">{esc(path_label)} · seed {esc(ov.get("seed"))} · tokenizer {esc(ov.get("tokenizer"))}'
           f' · spec sha256 {esc((ov.get("spec_sha256") or "")[:12])} · sample seed {esc(res["seed"])}</p>',
           "<nav>" + "".join(f'<a href="#{k}">{t}</a>' for k, t in SECTIONS) + "</nav>",
           '<div class="cards">' + "".join(
               f"<div class=\"card\">{h}<b>{v}</b></div>" for h, v in (
                   ("documents", I(ov["docs"])), ("tokens", I(ov["tokens"])), ("sources", I(ov["sources"])),
                   ("docs read", I(ov.get("docs_read"))), ("rejects", I(ov["rejects"])), ("shards", I(ov["shards"]))))
           + "</div>"]

    # --- mix
    out.append('<h2 id="mix">Mix</h2>')
    out.append(_missing(res, "mix"))
    out.append(_img(plot_mix(res["mix"]), "tokens per leaf", "fig-mix"))
    out.append("<h3>Realized vs requested per leaf</h3>" + table(res["mix"], [
        ("leaf", "leaf", None, ""), ("available_tokens", "available", I, "n"), ("requested_tokens", "requested", I, "n"),
        ("requested_share", "requested share", P, "n"), ("realized_tokens", "realized", I, "n"),
        ("realized_share", "realized share", P, "n"), ("realized_docs", "docs", I, "n"), ("epochs", "epochs", F, "n")]))
    for key, col, title in (("by_source", "source", "Tokens per source"), ("by_kind", "kind", "Tokens per kind")):
        if res[key] is not None:
            out.append(f"<h3>{title}</h3>" + table(res[key], [(col, col, None, ""), ("docs", "docs", I, "n"),
                                                                ("tokens", "tokens", I, "n"), ("token_share", "share", P, "n")]))

    # --- drops
    out.append('<h2 id="drops">Drops per reason</h2>')
    out.append(_missing(res, "drops"))
    if res["drops"]:
        out.append(_img(plot_drops(res["drops"]), "drops per reason", "fig-drops"))
    out.append("<h3>Per source</h3>" + table(res["source_totals"], [
        ("source", "source", None, ""), ("docs_read", "read", I, "n"), ("manifest_dropped", "dropped", I, "n"),
        ("docs_kept", "kept", I, "n"), ("docs_written", "written", I, "n"), ("tokens_written", "tokens", I, "n")]))
    out.append("<h3>Per source and reason (first failing rule)</h3>" + table(res["drops"], [
        ("source", "source", None, ""), ("reason", "reason", None, ""), ("docs", "docs", I, "n"),
        ("rate", "of read", P, "n"), ("chars", "chars dropped", I, "n")],
        flag=lambda r: r["reject_docs"] is not None and r["manifest_docs"] is not None and r["reject_docs"] != r["manifest_docs"]))
    out.append("<h3>Overlap of reasons</h3>")
    out.append(_missing(res, "reason_counts"))
    out.append('<div class="grid"><div>' + table(res["reason_counts"], [
        ("n_reasons", "failing rules", I, "n"), ("docs", "rejects", I, "n")]) + "</div><div>" + table(res["reason_pairs"], [
        ("reason_a", "reason", None, ""), ("reason_b", "and reason", None, ""), ("docs", "docs", I, "n")]) + "</div></div>")
    out.append("<h3>Per reason: failing at all, as first reason, only this reason</h3>" + table(res["reason_exclusivity"], [
        ("reason", "reason", None, ""), ("failing", "failing", I, "n"), ("first", "first", I, "n"), ("only", "only", I, "n")]))

    # --- languages
    out.append('<h2 id="languages">Languages</h2>')
    if res["by_lang"] is None:
        out.append(_missing(res, "by_lang"))
    else:
        out.append(_img(plot_langs(res["by_lang"]), "tokens per language", "fig-langs"))
        if res["lang_overview"] and any(r.get("mean_score") is not None for r in res["lang_overview"]):
            out.append(_img(plot_lang_scores(res["lang_overview"]), "language ID confidence per label", "fig-lang-scores"))
        out.append(table(res["lang_overview"], [
            ("lang", "lang", None, ""), ("docs", "docs", I, "n"), ("mean_score", "mean lang_score", F, "n"),
            ("median_score", "median", F, "n"),
            ("top_script", "main script", None, ""), ("mismatch_docs", "script mismatch", I, "n"),
            ("mismatch_share", "mismatch share", P, "n")], limit=60))

    # --- signals
    out.append('<h2 id="signals">Signals</h2>')
    out.append(_missing(res, "signals_language", "signals_quality", "signals_nsfw", "signals_code"))
    if res["quantiles"]:
        out.append("<h3>Quantiles per source (kept documents, each once)</h3>" + table(res["quantiles"], [
            ("signal", "signal", None, ""), ("source", "source", None, ""), ("n", "docs", I, "n"), ("mean", "mean", F, "n"),
            ("p5", "p5", F, "n"), ("p25", "p25", F, "n"), ("p50", "p50", F, "n"), ("p75", "p75", F, "n"), ("p95", "p95", F, "n")]))
        out.append("<h3>Histograms (kept per source; dashed: rejected, all sources)</h3><div class=\"grid\">")
        for s, h in res["histograms"].items():
            if h:
                out.append(_img(plot_histogram(h), f"histogram of {s}"))
        out.append("</div>")
    if res["reject_quantiles"]:
        out.append("<h3>Quantiles per source (rejected documents)</h3>" + table(res["reject_quantiles"], [
            ("signal", "signal", None, ""), ("source", "source", None, ""), ("n", "docs", I, "n"), ("mean", "mean", F, "n"),
            ("p5", "p5", F, "n"), ("p50", "p50", F, "n"), ("p95", "p95", F, "n")]))
    if res["flags"]:
        out.append("<h3>Flags (share true, kept documents)</h3>" + table(res["flags"], [
            ("flag", "flag", None, ""), ("source", "source", None, ""), ("docs", "docs", I, "n"),
            ("true", "true", I, "n"), ("share", "share", P, "n")]))
    out.append("<h3>NSFW URL categories</h3>")
    out.append(_missing(res, "nsfw_categories") if res["nsfw_categories"] is None else table(res["nsfw_categories"], [
        ("source", "source", None, ""), ("category", "category", None, ""), ("status", "status", None, ""),
        ("docs", "docs", I, "n")]))

    # --- dedup
    out.append('<h2 id="dedup">Duplicate clusters</h2>')
    if res["dup_sizes"] is None:
        out.append(_missing(res, "dup"))
    else:
        if res["dup_sizes"]:
            out.append(_img(plot_dup_sizes(res["dup_sizes"]), "duplicate cluster sizes", "fig-dup"))
        out.append(table(res["dup_sizes"], [("size", "size", I, "n"), ("clusters", "clusters", I, "n"),
                                            ("docs", "documents", I, "n")]))
        out.append("<h3>Largest clusters</h3>")
        for c in res["dup_largest"] or []:
            out.append(f"<p><b>{esc(c['cluster'])}</b>: {esc(c['size'])} documents, {esc(c['kept'])} kept, "
                       f"sources {esc(c['sources'])}</p>")
            out.append(table(c["sample"], [("status", "status", None, ""), ("source", "source", None, ""),
                                           ("id", "id", None, ""), ("snippet", "text", None, "snip")]))

    # --- quality at a glance
    out.append('<h2 id="glance">Quality at a glance</h2>')
    if res["lang_samples"] is None:
        out.append(_missing(res, "lang"))
    else:
        out.append(f'<p class="meta">{esc(res["sample"])} documents per language label, chosen by '
                   f'md5("{esc(res["seed"])}:" || id): the same seed gives the same sheet. '
                   "Rows in red: the text's script is implausible for the label.</p>")
        out.append(_missing(res, "lang_lang_score", "lang_script", "lang_lang_script_mismatch"))
        ov_by = {r["lang"]: r for r in res["lang_overview"] or []}
        by_lang: dict[str, list] = {}
        for s in res["lang_samples"]:
            by_lang.setdefault(s["lang"], []).append(s)
        for lang, samples in by_lang.items():
            o = ov_by.get(lang, {})
            out.append(f"<h3>{esc(lang)} — {I(o.get('docs'))} docs, mean lang_score {F(o.get('mean_score'))}, "
                       f"script mismatch {P(o.get('mismatch_share'))}</h3>")
            out.append(table(samples, [("lang_score", "lang_score", F, "n"), ("script", "script", None, ""),
                                       ("source", "source", None, ""), ("snippet", "text", None, "snip")],
                             flag=lambda r: bool(r.get("mismatch"))))

    # --- decontamination
    out.append('<h2 id="decontam">Decontamination</h2>')
    if res["decontam"] is None:
        out.append(_missing(res, "decontam"))
    else:
        out.append(table(res["decontam_benchmarks"], [("benchmark", "benchmark", None, ""), ("items", "items caught", I, "n"),
                                                      ("dropped", "docs dropped", I, "n"), ("kept", "docs tagged, kept", I, "n")]))
        out.append(table(res["decontam"], [("benchmark", "benchmark", None, ""), ("item", "item", None, ""),
                                           ("dropped", "dropped", I, "n"), ("kept", "kept", I, "n"),
                                           ("max_ngrams", "max n-grams", I, "n"), ("sources", "sources", None, "")],
                         limit=200))
    out.append('<p class="meta">Generated by <code>tamis audit</code>. The same queries: engine/audit/queries.py, '
               "notebooks/audit.ipynb.</p>")
    return _page(f"tamis audit: {ov.get('name') or path_label}", "\n".join(out))


COMPARE_SECTIONS = [("totals", "Totals", "total", "int"), ("leaves", "Tokens per leaf", "leaf", "int"),
                    ("requested", "Requested tokens per leaf", "leaf", "int"),
                    ("sources", "Tokens per source", "source", "int"), ("source_docs", "Documents per source", "source", "int"),
                    ("languages", "Tokens per language", "lang", "int"), ("drop_rates", "Drop rate per reason", "drop", "rate")]


def render_compare_html(cmp: dict, labels: tuple[str, str]) -> str:
    a, b = labels
    out = [f"<h1>tamis audit --compare</h1><p class=\"meta\">A = {esc(a)} · B = {esc(b)} · diff = B − A</p>"]
    for key, title, k, kind in COMPARE_SECTIONS:
        rows = cmp[key]
        out.append(f'<h2 id="{key}">{title}</h2>')
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
        out.append(table(rows, cols))
    return _page("tamis audit --compare", "\n".join(out))
