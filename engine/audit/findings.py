"""What the report's first screen answers: did the mix hit its spec (`spec_check`), what was dropped and what
it looked like (`drop_examples`), and how the run went (`run_meta`).
"""
from __future__ import annotations

from engine.audit.dedup import snippet_sql
from engine.audit.views import lang_expr, manifest_json, rows

_REASON = "CASE WHEN reason LIKE 'duplicate:%' THEN 'duplicate' ELSE reason END"
TOLERANCE = 0.02   # a leaf is on target within 2 % of its request (or one average document, if more)


def leaf_status(leaf: dict) -> tuple[str, str]:
    """(status, why) of one leaf of `queries.mix`: `ok`, `short`, `over` or `n/a` (nothing requested).

    The cut stops a leaf at a whole document, so a leaf is on target within one average document of it;
    a short leaf says whether supply or its repetition cap bound it."""
    req, got = leaf.get("requested_tokens"), leaf.get("realized_tokens") or 0
    if req is None:
        return "n/a", "nothing requested"
    doc = got / leaf["realized_docs"] if leaf.get("realized_docs") else 0
    slack = max(TOLERANCE * req, doc)
    if abs(got - req) <= slack:
        return "ok", ""
    if got > req:
        return "over", f"{got - req:,} tokens over"
    avail, cap = leaf.get("available_tokens"), leaf.get("max_epochs")
    if avail is not None and cap is not None and avail * cap < req:
        return "short", f"supply: {avail:,} × {cap:g} epochs"
    return "short", f"{req - got:,} tokens short"


def spec_check(con, leaves: list[dict]) -> dict:
    """Requested vs realized per leaf with a status each, the total against the target, and the caps the
    plan applied (synthetic share cap, per-leaf shares, the plan's notes), from the manifest's `mix`."""
    m = manifest_json(con)
    mix = m.get("mix") if isinstance(m.get("mix"), dict) else {}
    out_leaves = []
    for l in leaves:
        status, why = leaf_status(l)
        req = l.get("requested_tokens")
        out_leaves.append({**l, "status": status, "why": why,
                           "delta": ((l.get("realized_tokens") or 0) - req) / req if req else None})
    synth = None
    if mix.get("synthetic_max_share") is not None:
        synth = {"max_share": mix.get("synthetic_max_share"), "capped": bool(mix.get("synthetic_capped")),
                 "requested": mix.get("synthetic_share_requested"), "realized": mix.get("synthetic_share_realized")}
    return {"leaves": out_leaves, "target_tokens": mix.get("target_tokens", m.get("target_tokens")),
            "requested_tokens": mix.get("requested_tokens"), "realized_tokens": mix.get("realized_tokens"),
            "cut": mix.get("cut"), "synthetic": synth, "notes": [str(n) for n in mix.get("notes") or []],
            "off_target": sum(1 for l in out_leaves if l["status"] in ("short", "over"))}


def drop_examples(con, n: int = 2, seed: int = 0, chars: int = 160) -> dict[tuple[str, str], list[dict]]:
    """Up to `n` rejected documents per (source, reason), chosen by `md5('<seed>:<id>')`: id, language label,
    the first `chars` characters of text."""
    if n <= 0:
        return {}
    label = lang_expr(con, "rejects") or "NULL::VARCHAR"
    out: dict[tuple[str, str], list[dict]] = {}
    for r in rows(con, f"""
            WITH r AS (SELECT source, {_REASON} AS reason, id, {label} AS lang, {snippet_sql('text', chars)} AS snippet,
                              row_number() OVER (PARTITION BY source, {_REASON} ORDER BY md5(? || ':' || id), id) AS k
                       FROM rejects WHERE reason IS NOT NULL)
            SELECT source, reason, id, lang, snippet FROM r WHERE k <= {int(n)} ORDER BY source, reason, k""",
                  [str(seed)]):
        out.setdefault((r["source"], r["reason"]), []).append(r)
    return out


def run_meta(con) -> dict:
    """Duration, master, versions and stage reuse from the manifest (`stages.score.sources.<src>` has
    files_reused / files_computed; the other stages a `reused` flag)."""
    m = manifest_json(con)
    stages = m.get("stages") if isinstance(m.get("stages"), dict) else {}
    reuse = []
    for name, st in stages.items():
        if not isinstance(st, dict):
            reuse.append({"stage": name, "reused": bool(st), "detail": ""})
            continue
        srcs = st.get("sources") if isinstance(st.get("sources"), dict) else {}
        r = sum(int(v.get("files_reused") or 0) for v in srcs.values() if isinstance(v, dict))
        c = sum(int(v.get("files_computed") or 0) for v in srcs.values() if isinstance(v, dict))
        detail = f"{r} of {r + c} files reused" if srcs else ""
        reuse.append({"stage": name, "reused": bool(st.get("reused")), "detail": detail,
                      "sources": {k: v for k, v in srcs.items() if isinstance(v, dict)}})
    return {"seconds": m.get("seconds"), "master": m.get("master"), "versions": m.get("versions") or {},
            "stages": reuse, "work_dir": m.get("work_dir")}
