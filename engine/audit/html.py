"""The audit as one self-contained HTML file: inline CSS, plots as base64 PNG (engine.audit.charts), no URL and
no script at all.

Laid out for one screen first (1400x900): a header with the run's metadata, then three columns answering
"did the mix hit its spec", "what was dropped and why" and "are the language labels right", with synthetic
diversity and duplicate clusters under the first (engine.audit.html_first). Everything else (full tables,
quantiles, histograms with the spec's thresholds, samples, decontamination) is folded below in `<details>`
(engine.audit.html_ref), and `--compare` adds what changed since another output, open, after the first
screen. Renders what `engine.audit.collect` / `engine.audit.compare` return; no queries here.
"""
from __future__ import annotations

import html

from engine.audit.format import fmt

CSS = """
body { font: 13px/1.4 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #222;
       margin: 0; background: #f6f6f4; }
main { max-width: 1380px; margin: 0 auto; padding: 8px 16px 40px; background: #fff; }
h1 { font-size: 20px; margin: 4px 0 2px; }
h2 { font-size: 16px; margin: 4px 0 6px; padding-bottom: 3px; border-bottom: 2px solid #3366aa; }
h3 { font-size: 13px; margin: 10px 0 4px; color: #333; }
.meta { color: #555; margin: 0 0 3px; }
.screen { display: grid; grid-template-columns: minmax(0, 0.95fr) minmax(0, 1.25fr) minmax(0, 1fr); gap: 16px; margin-top: 8px; align-items: start; }
@media (max-width: 1100px) { .screen { grid-template-columns: 1fr; } }
.col { min-width: 0; } .col > section { margin-bottom: 14px; }
table { border-collapse: collapse; margin: 4px 0 8px; font-size: 12px; }
.screen table { width: 100%; }
th, td { padding: 2px 6px; border-bottom: 1px solid #e8e8e8; text-align: left; vertical-align: top; }
th { background: #f0f0ee; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.snip { max-width: 640px; color: #333; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 11px; }
tr.flag td { background: #fff1f0; }
tr.src td { background: #eef2f8; font-weight: 600; }
td.ex { padding: 0 6px 3px 18px; border-bottom: none; color: #555; font-family: "DejaVu Sans Mono", Menlo, monospace;
        font-size: 11px; max-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
td.clip { max-width: 0; width: 62%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: #444; }
.ok { color: #1a7a3a; font-weight: 600; } .bad { color: #b02a2a; font-weight: 600; } .dim { color: #777; }
.worse { background: #fff1f0; color: #b02a2a; }
.missing { color: #777; font-style: italic; margin: 3px 0; }
.note { color: #444; margin: 3px 0; }
ul.notes { margin: 2px 0 6px; padding-left: 18px; color: #444; }
.ex-line { color: #555; font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 11px; white-space: nowrap;
           overflow: hidden; text-overflow: ellipsis; }
details { margin: 6px 0; border: 1px solid #e0e0e0; border-radius: 4px; padding: 4px 10px; }
details > summary { cursor: pointer; font-weight: 600; font-size: 14px; color: #24509a; }
details[open] > summary { margin-bottom: 6px; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
img { max-width: 100%; height: auto; }
.pos { color: #1a7a3a; } .neg { color: #b02a2a; }
"""


def esc(v) -> str:
    """Escaped text; `://` is written with an entity so the file holds no URL even when documents do."""
    return html.escape(fmt(v)).replace("://", "&#58;//")


def cell(v, f=None) -> str:
    return html.escape(f(v)).replace("://", "&#58;//") if f else esc(v)


def table(rows: list[dict], cols: list[tuple], limit: int | None = None, flag=None, more: str = "") -> str:
    """`cols`: (key, header, formatter or None, css class). `flag(row)`: highlight the row. `more`: where
    the rows past `limit` are (a sentence ending)."""
    if not rows:
        return '<p class="missing">(no rows)</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, *_ in cols)
    body = []
    for r in rows[:limit] if limit else rows:
        cells = [f'<td class="{cls}">{cell(r.get(key), f)}</td>' if cls else f"<td>{cell(r.get(key), f)}</td>"
                 for key, _h, f, cls in cols]
        body.append(('<tr class="flag">' if flag and flag(r) else "<tr>") + "".join(cells) + "</tr>")
    tail = ""
    if limit and len(rows) > limit:
        tail = f'<p class="missing">… {len(rows) - limit} more rows{more}</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}"


def missing_notes(res: dict, *keys: str) -> str:
    return "".join(f'<p class="missing">{esc(res["missing"][k])}</p>' for k in keys if k in res["missing"])


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n")


def render_html(res: dict, path_label: str = "", compare: dict | None = None,
                labels: tuple[str, str] | None = None) -> str:
    """The report of one output (`collect`'s result). `compare` (`engine.audit.compare(a, b)` with this
    output as `b`) and its `labels` (A, B) add the changes since A after the first screen."""
    from engine.audit.html_first import first_screen, header
    from engine.audit.html_ref import compare_section, reference

    ov = res["overview"]
    out = header(res, path_label) + first_screen(res)
    if compare is not None:
        out += compare_section(compare, labels or ("A", path_label))
    out += reference(res)
    out.append('<p class="meta">Generated by <code>tamis audit</code>. The same queries: engine/audit/queries.py, '
               "notebooks/audit.ipynb.</p>")
    return page(f"tamis audit: {ov.get('name') or path_label}", "\n".join(out))


def render_compare_html(cmp: dict, labels: tuple[str, str]) -> str:
    """Only the changes between two outputs (`render_html(..., compare=...)` puts them inside B's report)."""
    from engine.audit.html_ref import compare_section

    a, b = labels
    head = [f"<h1>tamis audit --compare</h1><p class=\"meta\">A = {esc(a)} · B = {esc(b)} · diff = B − A</p>"]
    return page("tamis audit --compare", "\n".join(head + compare_section(cmp, labels, heading=False)))

