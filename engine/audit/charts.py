"""The audit's plots: matplotlib (Agg) figures as base64 PNG, so the HTML report is one file with no URL."""
from __future__ import annotations

import base64
import html
import io
import warnings

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
    """Kept documents per source (solid), rejects (dashed), and the spec's thresholds (`h["thresholds"]`,
    engine.audit.thresholds) as red dotted lines; one off the axis is named at the edge it lies beyond."""
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
    off = []
    for t in h.get("thresholds") or []:
        label = f"{t['param']} {t['value']:g}" + (" (tag)" if t.get("mode") == "tag" else "")
        if edges[0] <= t["value"] <= edges[-1]:
            ax.axvline(t["value"], color="#cc2222", linestyle=":", linewidth=1.4, label=label)
        else:
            off.append(("← " if t["value"] < edges[0] else "") + label + (" →" if t["value"] > edges[-1] else ""))
    if off:
        ax.text(0.99, 0.97, "\n".join(off), transform=ax.transAxes, ha="right", va="top", fontsize=6.5, color="#cc2222")
    ax.set_title(h["signal"], fontsize=10)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=6.5, frameon=False, loc="upper left" if off else "best")
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
