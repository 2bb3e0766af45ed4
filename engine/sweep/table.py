"""A sweep folder's two files, and the user's results file.

- `sweep.csv`: one row per variant: `variant` (the id results files use), `weight:<source>` per swept source
  (the weight its spec was given), `weight:<source>/<group>` per group of a grouped source (its share of the
  mix in the same units: the source's weight x the group's planned share of the source), `realized_tokens`.
  Fixed formats (6 decimals), "\\n" line ends: the same sweep gives the same bytes.
- `sweep.json`: what `tamis fit` needs besides the weights: the spec (path, sha256), the sweep's tokens,
  seed and concentration, the swept sources and what every leaf holds (`available`, for the planner).
  Written before sweep.csv, which is written last: a folder without sweep.csv is no sweep.
- results: a CSV with a `variant` column and one column per metric (proxy losses, benchmark scores).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os

from engine import storage
from engine.sweep import SweepError

CSV = "sweep.csv"
META = "sweep.json"
FORMAT = 1


def group_columns(variants, names: list[str]) -> list[tuple[str, str]]:
    """(source, group) of every group of a swept source, in plan order (the same leaves in every variant)."""
    return [(l.source, l.group) for l in variants[0].plan.leaves if l.group is not None and l.source in names]


def csv_text(variants, names: list[str], realized: dict[str, int]) -> str:
    groups = group_columns(variants, names)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["variant", *[f"weight:{n}" for n in names], *[f"weight:{s}/{g}" for s, g in groups],
                "realized_tokens"])
    for v in variants:
        shares = {(l.source, l.group): (l.share or 0.0) for l in v.plan.leaves}
        w.writerow([v.id, *[f"{v.weights[n]:.6f}" for n in names],
                    *[f"{v.weights[s] * shares[(s, g)]:.6f}" for s, g in groups], realized[v.id]])
    return buf.getvalue()


def meta_json(spec, tokens: int, seed: int, concentration: float, names: list[str], available: list[dict],
              variants) -> str:
    path = spec.spec_path
    if path is not None and not storage.is_uri(path):
        path = os.path.abspath(path)     # `tamis fit` may run from another folder
    meta = {"format": FORMAT, "spec_path": path, "spec_sha256": spec.spec_sha256, "name": spec.name,
            "tokens": tokens, "seed": seed, "concentration": concentration, "sources": names,
            "available": available,
            "variants": [{"variant": v.id, "origin": v.origin, "weights": v.weights} for v in variants]}
    return json.dumps(meta, indent=2, sort_keys=False) + "\n"


def read_sweep(folder: str) -> tuple[dict, list[dict]]:
    """(sweep.json, sweep.csv rows with weights as floats); SweepError when the folder is not a sweep."""
    try:
        meta = json.loads(storage.read_bytes(storage.join(folder, META)))
        text = storage.read_bytes(storage.join(folder, CSV)).decode("utf-8")
    except FileNotFoundError:
        raise SweepError(f"{folder}: not a sweep folder (no {META} and {CSV}; `tamis sweep` writes them)") from None
    except (OSError, ValueError) as e:
        raise SweepError(f"{folder}: unreadable sweep: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not meta.get("sources"):
        raise SweepError(f"{folder}: {META} is not a sweep description tamis {FORMAT} wrote")
    rows = list(csv.DictReader(io.StringIO(text)))
    cols = [f"weight:{n}" for n in meta["sources"]]
    if not rows or any(c not in rows[0] for c in cols):
        raise SweepError(f"{folder}: {CSV} has no variants or lacks the columns {', '.join(cols)}")
    return meta, [{"variant": r["variant"], "weights": [float(r[c]) for c in cols]} for r in rows]


def read_results(path: str, metric: str, known: list[str], n_weights: int) -> dict[str, float]:
    """{variant: metric} from the user's results CSV; SweepError naming the line of the first problem."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SweepError(f"{path}: cannot read the results: {e}") from None
    if not rows:
        raise SweepError(f"{path}: empty results file (expected a header with `variant` and `{metric}`)")
    header = [h.strip() for h in rows[0]]
    for col in ("variant", metric):
        if col not in header:
            raise SweepError(f"{path}: no column {col!r} (columns: {', '.join(header) or 'none'})")
    vi, mi = header.index("variant"), header.index(metric)
    ids, out, first = set(known), {}, {}
    for line, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        vid = r[vi].strip() if vi < len(r) else ""
        if vid not in ids:
            raise SweepError(f"{path}:{line}: unknown variant {vid!r} (the sweep has {_span(known)})")
        if vid in first:
            raise SweepError(f"{path}:{line}: variant {vid} appears twice (first at line {first[vid]})")
        first[vid] = line
        out[vid] = _number(path, line, vid, metric, r[mi] if mi < len(r) else "")
    if len(out) < n_weights + 1:
        raise SweepError(f"{path}: {len(out)} results for {n_weights} weights: a fit needs at least "
                         f"{n_weights + 1} (one more than the weights)")
    return out


def _number(path: str, line: int, vid: str, metric: str, cell: str) -> float:
    cell = cell.strip()
    if not cell:
        raise SweepError(f"{path}:{line}: variant {vid}: {metric} is missing")
    try:
        x = float(cell)
    except ValueError:
        raise SweepError(f"{path}:{line}: variant {vid}: {metric} is not a number: {cell!r}") from None
    if not math.isfinite(x):
        raise SweepError(f"{path}:{line}: variant {vid}: {metric} is not a finite number: {cell!r}")
    return x


def _span(ids: list[str]) -> str:
    return f"{ids[0]} .. {ids[-1]}" if len(ids) > 1 else ", ".join(ids) or "no variants"
