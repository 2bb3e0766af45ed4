"""What changed between two outputs: `tamis audit --compare A B`."""
from __future__ import annotations

import json

from engine.audit.queries import breakdown, drops, mix, overview

# (key in compare's result, title, key column, int or rate): the sections both reports show, in order
COMPARE_SECTIONS = [("totals", "Totals", "total", "int"), ("leaves", "Tokens per leaf", "leaf", "int"),
                    ("requested", "Requested tokens per leaf", "leaf", "int"),
                    ("sources", "Tokens per source", "source", "int"), ("source_docs", "Documents per source", "source", "int"),
                    ("languages", "Tokens per language", "lang", "int"), ("drop_rates", "Drop rate per reason", "drop", "rate")]


def _diff_rows(a: dict, b: dict, key_name: str) -> list[dict]:
    out = []
    for k in sorted(set(a) | set(b), key=lambda k: (str(k))):
        va, vb = a.get(k), b.get(k)
        diff = (vb or 0) - (va or 0) if (va is not None or vb is not None) else None
        rel = (diff / va) if (va not in (None, 0) and diff is not None) else None
        out.append({key_name: k, "a": va, "b": vb, "diff": diff, "rel": rel})
    out.sort(key=lambda r: (-abs(r["diff"] or 0), str(r[key_name])))
    return out


def compare(a, b) -> dict:
    """What changed between two outputs (connections from `open_output`): tokens per leaf, per source and
    per language, documents per source, and drop rates per (source, reason). `a` is the baseline;
    `diff` = b - a, `rel` = diff / a."""
    def leaves(con):
        return {l["leaf"]: l["realized_tokens"] for l in mix(con)}

    def requested(con):
        return {l["leaf"]: l["requested_tokens"] for l in mix(con) if l["requested_tokens"] is not None}

    def by(con, col, field="tokens"):
        r = breakdown(con, col)
        return {x[col]: x[field] for x in r} if r is not None else {}

    def rates(con):
        return {f"{d['source']} / {d['reason']}": d["rate"] for d in drops(con) if d["rate"] is not None}

    def counts(con):
        return {f"{d['source']} / {d['reason']}": d["docs"] for d in drops(con)}

    oa, ob = overview(a), overview(b)
    totals = _diff_rows({"docs": oa["docs"], "tokens": oa["tokens"], "rejects": oa["rejects"]},
                        {"docs": ob["docs"], "tokens": ob["tokens"], "rejects": ob["rejects"]}, "total")
    drop_rows = _diff_rows(rates(a), rates(b), "drop")
    ca, cb = counts(a), counts(b)
    for r in drop_rows:
        r["docs_a"], r["docs_b"] = ca.get(r["drop"]), cb.get(r["drop"])
    return {"names": (oa["name"], ob["name"]), "totals": totals,
            "leaves": _diff_rows(leaves(a), leaves(b), "leaf"),
            "requested": _diff_rows(requested(a), requested(b), "leaf"),
            "sources": _diff_rows(by(a, "source"), by(b, "source"), "source"),
            "source_docs": _diff_rows(by(a, "source", "docs"), by(b, "source", "docs"), "source"),
            "languages": _diff_rows(by(a, "lang"), by(b, "lang"), "lang"),
            "drop_rates": drop_rows}


def to_json(res: dict) -> str:
    return json.dumps(res, default=str, indent=2)
