"""Numbers as the audit shows them, in the terminal (engine.audit.text) and in HTML (engine.audit.html)."""
from __future__ import annotations


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
