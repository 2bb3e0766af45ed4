"""Synthetic text in the mix: its share per generator (from the shards) and its diversity beside the
human-written baseline (the manifest's `synthetic_diversity`).

Diversity is computed by the run (engine/diversity.py); the audit only reads it. The manifest's layout is
read loosely: every dict holding numeric metrics is an entry, named by the `source` / `generator` / `lang` /
`role` fields or keys above it, and an entry under (or named) `human` / `baseline` is the baseline. Lists of
numbers (`distinct: [d1, d2, d3, d4]`) and dicts keyed by n (`distinct: {"1": d1, ...}`) are flattened to
`distinct_1`, ...
"""
from __future__ import annotations

from engine.audit.views import _share, columns, manifest_json, rows

# metric -> True when higher means more diverse (compression ratio, duplicates and self-repetition rise
# as text collapses onto its mode; distinct-n and Vendi fall), as engine/diversity.py defines them
DIRECTION = {"compression_ratio": False, "distinct_1": True, "distinct_2": True, "distinct_3": True,
             "distinct_4": True, "near_dup_rate": False, "self_repetition": False, "vendi": True,
             "vendi_share": True}
_BASELINE = {"human", "baseline", "human_baseline", "humans", "human_sources"}
_STRUCTURE = {"sources", "generators", "by_generator", "per_generator", "entries", "metrics", "synthetic", "langs",
              "by_lang"}
_NAMES = ("source", "generator", "lang", "role", "kind")
_COUNTS = {"docs", "n_docs", "sample", "sample_docs", "n", "tokens", "n_tokens", "passages", "seed"}


def higher_is_better(metric: str) -> bool | None:
    """Direction of a diversity metric by its name (None: unknown)."""
    m = metric.lower()
    if m in DIRECTION:
        return DIRECTION[m]
    if "distinct" in m or "vendi" in m or "entropy" in m:
        return True
    if any(w in m for w in ("compress", "dup", "similar", "repeat")):
        return False
    return None


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _flat_metrics(d: dict) -> dict[str, float]:
    out = {}
    for k, v in d.items():
        if k in _NAMES or k in _COUNTS:
            continue
        if _numeric(v):
            out[k] = float(v)
        elif isinstance(v, list) and v and all(_numeric(x) for x in v):
            out.update({f"{k.removesuffix('_n')}_{i}": float(x) for i, x in enumerate(v, 1)})
        elif isinstance(v, dict) and v and all(str(kk).isdigit() and _numeric(x) for kk, x in v.items()):
            out.update({f"{k.removesuffix('_n')}_{kk}": float(x) for kk, x in v.items()})   # distinct: {1: ..}
    return out


def _walk(node, ctx: dict, keys: tuple, out: list):
    if isinstance(node, list):
        for e in node:
            _walk(e, ctx, keys, out)
        return
    if not isinstance(node, dict):
        return
    ctx = {**ctx, **{k: node[k] for k in _NAMES if isinstance(node.get(k), str)}}
    metrics = _flat_metrics(node)
    if len(metrics) >= 2:
        out.append((ctx, keys, metrics, {k: node[k] for k in _COUNTS if _numeric(node.get(k))}))
        return
    for k, v in node.items():
        if isinstance(v, (dict, list)):
            _walk(v, ctx, keys + (str(k),), out)


def diversity_rows(con) -> list[dict] | None:
    """Rows {name, source, generator, lang, baseline: bool, docs, metrics: {name: value}} from the manifest's
    `synthetic_diversity`, generators first then the baseline; None when the manifest has none."""
    return normalize_diversity(manifest_json(con).get("synthetic_diversity"))


def normalize_diversity(raw) -> list[dict] | None:
    """`diversity_rows` from the manifest's value (any layout the module docstring describes)."""
    if not raw:
        return None
    found: list = []
    _walk(raw, {}, (), found)
    out = []
    for ctx, keys, metrics, counts in found:
        names = [k for k in keys if k.lower() not in _STRUCTURE]
        baseline = (str(ctx.get("role", "")).lower() in _BASELINE or str(ctx.get("kind", "")).lower() in _BASELINE
                    or str(ctx.get("generator", "")).lower() in _BASELINE or any(k.lower() in _BASELINE for k in keys))
        names = [k for k in names if k.lower() not in _BASELINE]
        source = ctx.get("source") or (names[0] if names else None)
        generator = ctx.get("generator") or (names[1] if len(names) > 1 else None)
        lang = ctx.get("lang") or (names[2] if len(names) > 2 else None)
        if baseline:
            name = "human-written" + (f" ({source})" if source else "")
        else:
            name = " / ".join(str(x) for x in (source, generator, lang) if x) or "synthetic"
        out.append({"name": name, "source": source, "generator": None if baseline else generator, "lang": lang,
                    "baseline": baseline, "docs": counts.get("docs", counts.get("sample_docs", counts.get("n"))),
                    "metrics": metrics})
    out.sort(key=lambda r: (r["baseline"], r["name"]))
    return out


def generator_shares(con) -> list[dict] | None:
    """Synthetic documents and tokens in the shards per source and generator (`meta.generator`), with their
    share of the mix's tokens; None when the output has no `kind` column or no synthetic document."""
    cols = columns(con, "docs")
    if "kind" not in cols:
        return None
    gen = ("coalesce(TRY(json_extract_string(meta, '$.generator')), '(unknown)')" if "meta" in cols
           else "'(unknown)'")
    total = rows(con, "SELECT coalesce(sum(n_tokens), 0)::BIGINT AS t FROM docs")[0]["t"]
    out = rows(con, f"""SELECT source, {gen} AS generator, count(*) AS docs, coalesce(sum(n_tokens), 0)::BIGINT AS tokens
                       FROM docs WHERE kind = 'synthetic' GROUP BY 1, 2 ORDER BY tokens DESC, 1, 2""")
    for r in out:
        r["share"] = _share(r["tokens"], total)
    return out or None


def synthetic_table(con) -> dict | None:
    """One table for the report: a row per generator (share of the mix, diversity metrics) and the human
    baseline (the pooled one when the run also gives one per human source: those are `human_sources`);
    `metrics` lists the columns, `worse[(row name, metric)]` marks a generator less diverse than the
    baseline. None when the output has neither synthetic documents nor diversity figures."""
    shares, div = generator_shares(con), diversity_rows(con)
    if not shares and not div:
        return None
    by_gen = {(d["source"], d["generator"]): d for d in div or [] if not d["baseline"]}
    table = []
    for s in shares or []:
        d = by_gen.pop((s["source"], s["generator"]), None) or by_gen.pop((s["source"], None), None)
        table.append({"name": f"{s['source']} / {s['generator']}", **s, "metrics": d["metrics"] if d else {}})
    table += [{"name": d["name"], "source": d["source"], "generator": d["generator"], "docs": d["docs"],
               "tokens": None, "share": None, "metrics": d["metrics"]} for d in by_gen.values()]
    humans = [d for d in div or [] if d["baseline"]]
    pooled = [d for d in humans if d["source"] is None] or humans[:1]
    base = [{"name": d["name"], "source": d["source"], "generator": None, "docs": d["docs"], "tokens": None,
             "share": None, "metrics": d["metrics"], "baseline": True} for d in humans]
    table += [b for b, d in zip(base, humans) if d in pooled]
    names = list(dict.fromkeys(k for r in table for k in r["metrics"]))
    metrics = [m for m in DIRECTION if m in names] + [m for m in names if m not in DIRECTION]
    worse = {}
    if pooled:
        ref = pooled[0]["metrics"]
        for r in table:
            if r.get("baseline"):
                continue
            for m, v in r["metrics"].items():
                up = higher_is_better(m)
                if up is not None and m in ref and (v < ref[m] if up else v > ref[m]):
                    worse[(r["name"], m)] = True
    return {"rows": table, "metrics": metrics, "worse": worse, "has_baseline": bool(base),
            "human_sources": [b for b, d in zip(base, humans) if d not in pooled]}
