"""Data on the terminal: values from documents, manifests, specs and paths reach rich as `Text`, never as markup.

rich parses a plain str as markup: a document containing `[/]` makes the print raise MarkupError (the command
crashes), `[bold red]…[/]` or `[link=…]` in a reason or id restyles the terminal, and `:cat:` becomes an emoji.
`Text` is never parsed, so every command that shows data builds its lines and cells with `lit`.
"""
from __future__ import annotations

from rich.console import Console
from rich.text import Text


def lit(*parts) -> Text:
    """The parts joined as literal text. A `(text, style)` tuple is styled (headings, `error:`); any other
    part is data (str, number, None as empty), shown exactly as written."""
    out = Text()
    for p in parts:
        if isinstance(p, tuple):
            out.append(str(p[0]), style=p[1])
        elif isinstance(p, Text):
            out.append_text(p)
        else:
            out.append("" if p is None else str(p))
    return out


def literal_console(**kw) -> Console:
    """A Console on which even a plain str prints as written (no markup, emoji codes or highlighting):
    the second line of defence for a value that reaches rich without `lit`."""
    return Console(markup=False, emoji=False, highlight=False, **kw)
