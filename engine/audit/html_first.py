"""The report's first screen: the header (run metadata), then three columns: spec vs realized, synthetic and
duplicates | what was dropped and why, with examples, per source and per language | the language labels.

Each block shows the few rows a data lead reads first and says where the rest is (the folded reference
below, engine.audit.html_ref).
"""
from __future__ import annotations

from engine.audit.format import fmt_float, fmt_int, fmt_pct
from engine.audit.html import esc, missing_notes, table
from engine.audit.synthetic import higher_is_better

I, F, P = fmt_int, fmt_float, fmt_pct
REASONS_SHOWN = 6      # reasons per source on the first screen (all of them in the reference)
LANGS_SHOWN = 12       # rows of the language table
SAMPLE_LANGS = 6       # labels with sample lines, two lines each
CLUSTERS_SHOWN = 3


def _pct_signed(v) -> str:
    return "" if v is None else f"{v * 100:+.1f}%"


def header(res: dict, path_label: str) -> list[str]:
    """Title, totals, and the run: duration, master, stage reuse, versions."""
    ov, run = res["overview"], res["run"]
    out = [f"<h1>tamis audit: {esc(ov.get('name') or path_label)}</h1>",
           f'<p class="meta">{esc(path_label)} · <b>{I(ov["docs"])}</b> documents · <b>{I(ov["tokens"])}</b> tokens '
           f'in {I(ov["shards"])} shards · {I(ov["rejects"])} rejects of {I(ov.get("docs_read"))} read · '
           f'seed {esc(ov.get("seed"))} · {esc(ov.get("tokenizer"))} · spec sha256 '
           f'{esc((ov.get("spec_sha256") or "")[:12])}</p>']
    stages = []
    for st in run["stages"]:
        detail = f" ({esc(st['detail'])})" if st["detail"] else ""
        stages.append(f"{esc(st['stage'])} {'reused' if st['reused'] else 'recomputed'}{detail}")
    took = f"run {run['seconds']:,.1f} s" if run.get("seconds") is not None else "run time not recorded"
    out.append(f'<p class="meta" id="run">{took}{" on " + esc(run["master"]) if run.get("master") else ""}'
               f'{" · stages: " + "; ".join(stages) if stages else ""}</p>')
    if run["versions"]:
        out.append('<p class="meta dim">' + " · ".join(f"{esc(k)} {esc(v)}" for k, v in run["versions"].items()) + "</p>")
    return out


def first_screen(res: dict) -> list[str]:
    return ['<div class="screen">',
            '<div class="col">', *spec_block(res), *synthetic_block(res), *dedup_block(res), "</div>",
            '<div class="col">', *drops_block(res), "</div>",
            '<div class="col">', *languages_block(res), "</div>",
            "</div>"]


# ---------------------------------------------------------------- spec vs realized


def _status(l: dict) -> str:
    if l["status"] == "ok":
        return '<span class="ok">✓</span>'
    if l["status"] == "n/a":
        return '<span class="dim">–</span>'
    return f'<span class="bad">{esc(l["status"])}</span> <span class="dim">{esc(l["why"])}</span>'


def spec_block(res: dict) -> list[str]:
    """Leaves requested vs realized, each with a status, the total against the target, and the caps."""
    sc = res["spec_check"]
    out = ['<section id="spec"><h2>Spec vs realized</h2>', missing_notes(res, "mix")]
    leaves = sc["leaves"]
    asked = [l for l in leaves if l["status"] != "n/a"]
    if asked:
        verdict = (f'<span class="ok">all {len(asked)} leaves on target</span>' if not sc["off_target"] else
                   f'<span class="bad">{sc["off_target"]} of {len(asked)} leaves off target</span>')
        total = ""
        if sc.get("requested_tokens"):
            d = (sc["realized_tokens"] or 0) / sc["requested_tokens"] - 1
            total = f" · {I(sc['realized_tokens'])} of {I(sc['requested_tokens'])} tokens ({_pct_signed(d)})"
        out.append(f'<p class="note">{verdict}{total}{" · cut " + esc(sc["cut"]) if sc.get("cut") else ""}</p>')
    rows = "".join(
        f"<tr><td>{esc(l['leaf'])}</td><td class=\"n\">{I(l.get('requested_tokens'))}</td>"
        f"<td class=\"n\">{I(l.get('realized_tokens'))}</td><td class=\"n\">{_pct_signed(l['delta'])}</td>"
        f"<td class=\"n\">{F(l.get('epochs'), 2)}{' / ' + F(l['max_epochs'], 0) if l.get('max_epochs') else ''}</td>"
        f"<td>{_status(l)}</td></tr>" for l in leaves)
    out.append("<table><thead><tr><th>leaf</th><th>requested</th><th>realized</th><th>Δ</th><th>epochs / max</th>"
               f"<th>status</th></tr></thead><tbody>{rows}</tbody></table>")
    syn = sc.get("synthetic")
    if syn:
        out.append(f'<p class="note">synthetic share cap {P(syn["max_share"])}: '
                   f'{"<b>capped</b>" if syn["capped"] else "not reached"} · planned {P(syn["requested"])}, '
                   f'realized {P(syn["realized"])}</p>')
    if sc["notes"]:
        out.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in sc["notes"]) + "</ul>")
    out.append("</section>")
    return out


# ---------------------------------------------------------------- drops


def _example_rows(examples: list[dict], ncols: int) -> str:
    out = []
    for e in examples:
        text = e["snippet"] or "(no text)"
        lang = f" · {esc(e['lang'])}" if e.get("lang") and e["lang"] != "(none)" else ""
        out.append(f'<tr><td class="ex" colspan="{ncols}" title="{esc(e["id"])}">'
                   f'{esc(str(e["id"])[:10])}{lang} · “{esc(text)}”</td></tr>')
    return "".join(out)


def drops_block(res: dict) -> list[str]:
    """Per source: documents read, dropped, written; its reasons with examples (drops per language label are
    in the languages block)."""
    ov = res["overview"]
    out = ['<section id="drops"><h2>Dropped, and why</h2>', missing_notes(res, "drops")]
    read = ov.get("docs_read")
    dropped = sum(d["docs"] or 0 for d in res["drops"])
    out.append(f'<p class="note"><b>{I(dropped)}</b> of {I(read)} documents read were dropped'
               f'{" (" + P(dropped / read) + ")" if read else ""}; first failing rule, with examples.</p>')
    by_src: dict[str, list] = {}
    for d in res["drops"]:
        by_src.setdefault(d["source"], []).append(d)
    body = []
    totals = sorted(res["source_totals"], key=lambda t: -sum(d["docs"] or 0 for d in by_src.get(t["source"], [])))
    for t in totals:
        src, reasons = t["source"], by_src.get(t["source"], [])
        n = t.get("manifest_dropped") if t.get("manifest_dropped") is not None else t.get("reject_docs")
        rate = f" ({P(n / t['docs_read'])})" if n and t.get("docs_read") else ""
        body.append(f'<tr class="src"><td colspan="3">{esc(src)} — {I(t.get("docs_read"))} read · {I(n or 0)} dropped'
                    f'{rate} · {I(t.get("docs_written"))} written</td></tr>')
        for d in reasons[:REASONS_SHOWN]:
            body.append(f"<tr><td>{esc(d['reason'])}</td><td class=\"n\">{I(d['docs'])}</td>"
                        f"<td class=\"n\">{P(d['rate'])}</td></tr>")
            body.append(_example_rows(res["drop_examples"].get((src, d["reason"]), []), 3))
        if len(reasons) > REASONS_SHOWN:
            body.append(f'<tr><td colspan="3" class="dim">+ {len(reasons) - REASONS_SHOWN} more reasons: '
                        '<a href="#ref-drops">every reason</a></td></tr>')
    out.append("<table><thead><tr><th>reason</th><th>docs</th><th>of read</th></tr></thead>"
               f"<tbody>{''.join(body)}</tbody></table>")
    out.append("</section>")
    return out


def _drops_by_lang(res: dict) -> list[str]:
    rows = res.get("drops_by_lang")
    if not rows:
        return []
    shown = [{"lang": r["lang"], "docs": r["docs"],
              "reasons": ", ".join(f"{x['reason']} {x['docs']:,}" for x in r["reasons"][:3])
              + (f", +{len(r['reasons']) - 3}" if len(r["reasons"]) > 3 else "")} for r in rows]
    return ["<h3>Dropped per language label</h3>",
            table(shown, [("lang", "lang", None, ""), ("docs", "dropped", I, "n"), ("reasons", "reasons", None, "clip")],
                  limit=8, more=': <a href="#ref-langs">all labels</a>')]


# ---------------------------------------------------------------- languages


def languages_block(res: dict) -> list[str]:
    """Per label: documents, tokens, `lang_doubt` rate, estimated precision; drops per label; then samples,
    doubted first."""
    out = ['<section id="languages"><h2>Languages</h2>']
    ov = res["lang_overview"]
    if ov is None:
        return out + [missing_notes(res, "lang"), "</section>"]
    natural = [r for r in ov if not str(r["lang"]).startswith("code:")]
    code = [r for r in ov if str(r["lang"]).startswith("code:")]
    out.append(missing_notes(res, "lang_lang_doubt", "lang_precision"))
    cols = [("lang", "lang", None, ""), ("docs", "docs", I, "n"), ("tokens", "tokens", I, "n")]
    if any(r.get("doubt_rate") is not None for r in ov):
        cols.append(("doubt_rate", "lang_doubt", P, "n"))
    else:   # an older output: the script check is the only doubt it has
        cols.append(("mismatch_share", "script mismatch", P, "n"))
    if any(r.get("precision") is not None for r in ov):
        cols.append(("precision", "est. precision", P, "n"))
    cols.append(("mean_score", "mean score", lambda v: F(v, 2), "n"))
    out.append(table(natural + code, cols, limit=LANGS_SHOWN, flag=lambda r: _doubtful(r),
                     more=': <a href="#ref-langs">all labels</a>'))
    out += _drops_by_lang(res)
    # labels in doubt first: their samples are the ones to read
    ranked = sorted(natural, key=lambda r: (not _doubtful(r), -(r.get("doubt_rate") or r.get("mismatch_share") or 0)))
    out += _sample_lines(res, [r["lang"] for r in ranked][:SAMPLE_LANGS])
    out.append("</section>")
    return out


def _doubtful(r: dict) -> bool:
    """A label worth a look: over 10 % of its documents doubted, or estimated under 90 % right."""
    return (r.get("doubt_rate") or 0) > 0.1 or (r.get("precision") is not None and r["precision"] < 0.9)


def _sample_lines(res: dict, langs: list[str]) -> list[str]:
    """Two sample lines per label, doubted (or script-mismatched) documents first."""
    samples = res.get("lang_samples") or []
    if not samples or not langs:
        return []
    out = [f'<h3>Samples, doubted first <span class="dim">(seed {esc(res["seed"])}; '
           '<a href="#ref-samples">more</a>)</span></h3>']
    for lang in langs:
        for s in [s for s in samples if s["lang"] == lang][:2]:
            flagged = bool(s.get("doubt")) or bool(s.get("mismatch"))
            mark = '<span class="bad">⚑</span> ' if flagged else ""
            why = []
            if s.get("doubt"):
                why.append(f"doubt {F(s.get('doubt_score'), 2)}" + (f", 2nd LID {s['second']}" if s.get("second") else ""))
            if s.get("mismatch"):
                why.append(f"script {s.get('script')}")
            extra = f' <span class="dim">({esc("; ".join(why))})</span>' if why else ""
            out.append(f'<div class="ex-line">{mark}<b>{esc(lang)}</b> {F(s.get("lang_score"), 2)}{extra} · '
                       f'“{esc(s["snippet"])}”</div>')
    return out


# ---------------------------------------------------------------- synthetic, dedup


def synthetic_block(res: dict) -> list[str]:
    """Share of the mix per generator and its diversity beside the human-written baseline (transposed: a
    row per metric, so a few generators fit the column)."""
    syn = res.get("synthetic")
    if syn is None:
        return []
    out = ['<section id="synthetic"><h2>Synthetic</h2>']
    rows = syn["rows"]
    head = "".join(f"<th>{esc(r['name'])}</th>" for r in rows)
    body = ['<tr><td>share of mix tokens</td>' + "".join(f'<td class="n">{P(r.get("share"))}</td>' for r in rows) + "</tr>"]
    for m in syn["metrics"]:
        up = higher_is_better(m)
        arrow = "" if up is None else (" ↑" if up else " ↓")
        cells = "".join(
            f'<td class="n{" worse" if syn["worse"].get((r["name"], m)) else ""}">{F(r["metrics"].get(m))}</td>'
            for r in rows)
        body.append(f"<tr><td>{esc(m)}<span class=\"dim\">{arrow}</span></td>{cells}</tr>")
    out.append(f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    if syn["metrics"] and syn["has_baseline"]:
        out.append('<p class="note dim">↑/↓: more diverse when higher/lower; red: less diverse than the '
                   "human-written baseline.</p>")
    out.append(missing_notes(res, "diversity"))
    out.append("</section>")
    return out


def dedup_block(res: dict) -> list[str]:
    """Cluster sizes, and the largest clusters: copies removed, whether the survivor is in the output."""
    out = ['<section id="dedup"><h2>Duplicate clusters</h2>']
    sizes = res.get("dup_sizes")
    if sizes is None:
        return out + [missing_notes(res, "dup"), "</section>"]
    n = sum(s["clusters"] for s in sizes)
    docs = sum(s["docs"] for s in sizes)
    dist = ", ".join(f"{s['size']}" + (f" ×{s['clusters']}" if s["clusters"] > 1 else "") for s in sizes)
    out.append(f'<p class="note">{I(n)} clusters with copies, {I(docs)} documents; sizes {esc(dist) or "–"}</p>')
    for c in (res.get("dup_largest") or [])[:CLUSTERS_SHOWN]:
        surv = ("survivor in the output" if c["survivor_in_output"] else
                '<span class="bad">survivor not in the output</span> (sampled out by the mix)')
        out.append(f'<div class="note"><b>{I(c["size"])}</b> documents · {I(c["removed"])} removed as duplicates · '
                   f'{surv} · {esc(c["sources"])} <span class="dim">{esc(str(c["cluster"])[:12])}</span></div>')
        ex = next((s for s in c["sample"] if s.get("snippet")), None)
        if ex:
            out.append(f'<div class="ex-line">“{esc(ex["snippet"])}”</div>')
    out.append("</section>")
    return out
