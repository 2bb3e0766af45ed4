"""The one-screen summary after `tamis run`: docs in and out per source, drops per reason, tokens, shards."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from engine.display import lit


def print_summary(console: Console, m: dict, path: str):
    t = Table(title=lit(f"tamis run: {m['name']} → {path}"), title_justify="left")
    for col in ("source", "read", "unreadable", "dropped", "kept", "written", "tokens written", "epochs"):
        t.add_column(col, justify="left" if col == "source" else "right")
    for name, s in m["sources"].items():
        dropped = sum(v for k, v in s["docs_dropped"].items() if not k.startswith("read:"))
        t.add_row(lit(name), f"{s['docs_read']:,}", f"{s['docs_unreadable']:,}", f"{dropped:,}", f"{s['docs_kept']:,}",
                  f"{s['docs_written']:,}", f"{s['tokens_written']:,}", str(s["epochs_used"]))
    console.print(t)
    reasons: dict[str, int] = {}
    for s in m["sources"].values():
        for k, v in s["docs_dropped"].items():
            reasons[k] = reasons.get(k, 0) + v
    if reasons:
        r = Table(title="drops by reason", title_justify="left")
        r.add_column("reason")
        r.add_column("docs", justify="right")
        for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]):
            r.add_row(lit(k), f"{v:,}")   # reasons name benchmarks, exceptions: data
        console.print(r)
    tot = m["totals"]
    reused = [k for k, v in m.get("stages", {}).items() if v.get("reused")]
    console.print(lit(f"{tot['docs_written']:,} docs, {tot['tokens_written']:,} tokens in {tot['shards']} shards; "
                      f"{tot['rejects']:,} rejects; {m['seconds']}s"
                      + (f"; reused stages: {', '.join(reused)}" if reused else "")))
