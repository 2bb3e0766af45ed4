"""`tamis filters [KIND] [--markdown]`: every filter kind, its parameters, defaults and their literature, its
signals and drop reasons.

Generated from the filter registry and the filters' declared fields (`filters.docs`), the same source the
spec validation uses; `--markdown` prints the README's filter tables (tests/test_filters_cli.py checks the
README holds exactly that).
"""
from __future__ import annotations

import click
from rich import box
from rich.table import Table

from engine.cli.common import fail, out
from engine.display import lit


@click.command("filters")
@click.argument("kind", required=False)
@click.option("--markdown", is_flag=True, help="Print markdown: the README's filter tables (or KIND's section).")
def filters_cmd(kind, markdown):
    """List the filter kinds, or show KIND's parameters (type, default, where the default comes from), signals
    and drop reasons."""
    from filters import docs
    from filters.registry import REGISTRY

    if kind is not None and kind not in REGISTRY:
        from engine.spec.load import choices_hint

        fail(f"unknown filter kind {kind!r}; {choices_hint(kind, list(REGISTRY))}", 2)
    if markdown:
        # plain text, not rich: the exact bytes the README holds, never wrapped to the terminal's width
        click.echo(docs.markdown(kind))
    elif kind is None:
        _kinds(docs.filter_docs())
    else:
        _kind(docs.filter_doc(kind))


def _table(*columns: str) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, c in enumerate(columns):   # the name column whole; the others share what is left
        t.add_column(c, overflow="fold", no_wrap=i == 0)
    return t


def _kinds(filter_docs) -> None:
    t = _table("kind", "what", "literature", "signals")
    for d in filter_docs:
        t.add_row(lit((d.kind, "bold")), lit(d.summary), lit(d.literature), lit(", ".join(n for n, _ in d.signals)))
    out.print(t)
    out.print(lit("`tamis filters KIND`: its parameters, defaults and drop reasons; `--markdown`: the README's tables"))


def _kind(d) -> None:
    out.print(lit((d.kind, "bold"), ": ", d.summary))
    out.print(lit(("literature: ", "dim"), d.literature))
    t = _table("parameter", "type", "default", "meaning", "default from")
    for p in d.params:
        t.add_row(lit((p.name, "bold")), lit(p.type), lit(p.default), lit(p.meaning), lit(p.source))
    out.print(t)
    out.print(lit(("signals: ", "dim"), ", ".join(f"{n} ({typ})" for n, typ in d.signals)))
    out.print(lit(("drop reasons: ", "dim"), ", ".join(d.reasons)))
    if d.files:
        out.print(lit(("file parameters ", "dim"), "(resolved against the spec's folder): ", ", ".join(d.files)))
