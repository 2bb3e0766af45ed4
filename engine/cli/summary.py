"""The one-screen summary after `tamis run`: docs in and out per source, drops per reason, tokens, shards.

It fits 80 columns, in a terminal and in a log alike, and cuts nothing: a long source name or reason wraps
inside its cell, numbers stay whole, and sources whose numbers cannot fit a table row (billions of tokens
in a narrow terminal) print as wrapped `name: read 1,234 · …` lines instead. What a log shows can be found
in the manifest as written.
"""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from engine.display import lit

WIDTH = 80
NAME_WIDTH = 24        # a longer source name wraps in its cell: the numbers keep their room
MIN_NAME = 8           # narrower than this, a name column reads as noise: the line layout is used
GAP = 3                # between two columns: padding, the (blank) rule, padding; no outer edge
HEADERS = ("source", "read", "unreadable", "dropped", "kept", "written", "tokens\nwritten", "epochs")


def _epochs(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def source_rows(m: dict) -> list[tuple[str, ...]]:
    rows = []
    for name, s in m["sources"].items():
        dropped = sum(v for k, v in s["docs_dropped"].items() if not k.startswith("read:"))
        rows.append((name, f"{s['docs_read']:,}", f"{s['docs_unreadable']:,}", f"{dropped:,}", f"{s['docs_kept']:,}",
                     f"{s['docs_written']:,}", f"{s['tokens_written']:,}", _epochs(s["epochs_used"])))
    return rows


def name_width(rows, width: int) -> int | None:
    """The source column's width when the table fits `width` with every number whole, else None."""
    numbers = [max(len(line) for line in h.split("\n")) for h in HEADERS[1:]]
    for r in rows:
        numbers = [max(w, len(c)) for w, c in zip(numbers, r[1:])]
    room = width - sum(numbers) - GAP * (len(HEADERS) - 1)
    want = max([len(HEADERS[0])] + [len(r[0]) for r in rows])
    got = min(want, NAME_WIDTH, room)
    return got if got >= min(MIN_NAME, want) else None


def _table(title, width: int | None = None) -> Table:
    # no outer border and blank column rules: 80 columns hold a name and seven numbers in the millions
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 width=width)


def source_table(m: dict, path: str, rows, name_w: int) -> Table:
    t = _table(lit(f"tamis run: {m['name']} → {path}"))
    t.add_column(HEADERS[0], width=name_w, overflow="fold")   # a fixed width: rich never squeezes it to nothing
    for h in HEADERS[1:]:
        t.add_column(h, justify="right", no_wrap=True)
    for r in rows:
        t.add_row(lit(r[0]), *r[1:])
    return t


def source_lines(rows) -> list:
    """The layout when no table row can hold the numbers: one wrapped line per source."""
    labels = [h.replace("\n", " ") for h in HEADERS[1:]]
    return [lit((r[0], "bold"), ": ", " · ".join(f"{k} {v}" for k, v in zip(labels, r[1:]))) for r in rows]


def reason_table(m: dict) -> Table | None:
    reasons: dict[str, int] = {}
    for s in m["sources"].values():
        for k, v in s["docs_dropped"].items():
            reasons[k] = reasons.get(k, 0) + v
    if not reasons:
        return None
    r = _table("drops by reason")
    r.add_column("reason", overflow="fold")        # the one wrapping column: rich narrows it first
    r.add_column("docs", justify="right", no_wrap=True)
    for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]):
        r.add_row(lit(k), f"{v:,}")   # reasons name benchmarks, exceptions: data
    return r


def print_summary(console: Console, m: dict, path: str):
    """Print on `console` at most 80 columns wide (narrower when its terminal is)."""
    width = min(WIDTH, console.width)
    rows = source_rows(m)
    name_w = name_width(rows, width)
    if name_w is not None:
        console.print(source_table(m, path, rows, name_w), width=width)
    else:
        console.print(lit(f"tamis run: {m['name']} → {path}"), width=width)
        for line in source_lines(rows):
            console.print(line, width=width)
    reasons = reason_table(m)
    if reasons is not None:
        console.print(reasons, width=width)
    tot = m["totals"]
    reused = [k for k, v in m.get("stages", {}).items() if v.get("reused")]
    console.print(lit(f"{tot['docs_written']:,} docs, {tot['tokens_written']:,} tokens in {tot['shards']} shards; "
                      f"{tot['rejects']:,} rejects; {m['seconds']}s"
                      + (f"; reused stages: {', '.join(reused)}" if reused else "")), width=width)
