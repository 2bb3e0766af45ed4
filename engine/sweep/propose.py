"""`tamis fit`: join proxy results with a sweep's weights, fit, search, and write the proposed spec.

The proposal is the sweep's spec file with only its sources' `weight` values changed (comments, order and
everything else as written) and a comment block on top saying where the weights came from. Feasibility is
the planner's, at the spec's own `target_tokens` (the sweep's `--tokens` when it has none) over what every
leaf held at sweep time (sweep.json). The text is validated as a spec (paths resolved against the folder it
is written to) before it is written. No Spark.
"""
from __future__ import annotations

import os

import numpy as np

from engine.sweep import SweepError
from engine.sweep.draws import as_weights, feasible
from engine.sweep.fit import describe, fit
from engine.sweep.search import UNIT, search
from engine.sweep.spec_text import number, set_weights, with_comment
from engine.sweep.table import read_results, read_sweep


def _spec_of(meta: dict):
    """The sweep's spec, as it was when the sweep read it."""
    from engine.spec import SpecError, load_spec

    path = meta.get("spec_path")
    if not path or not os.path.isfile(path):
        raise SweepError(f"the sweep's spec is gone: {path}")
    try:
        spec = load_spec(path, check_paths=False)
    except SpecError as e:
        raise SweepError(f"the sweep's spec no longer loads: {e.problems[0]}") from None
    if spec.spec_sha256 != meta.get("spec_sha256"):
        raise SweepError(f"{path} changed since the sweep read it (sha256 differs): the proposal edits the "
                         "spec the sweep drew from; restore it or sweep again")
    return spec


def propose(folder: str, results: str, metric: str, maximize: bool, out: str, model: str = "auto") -> dict:
    """Fit, search, write `out`; returns what the CLI prints."""
    meta, rows = read_sweep(folder)
    names = list(meta["sources"])
    y_of = read_results(results, metric, [r["variant"] for r in rows], len(names))
    used = [r for r in rows if r["variant"] in y_of]
    X = np.array([r["weights"] for r in used], dtype=float)
    X = X / X.sum(axis=1, keepdims=True)
    y = np.array([y_of[r["variant"]] for r in used])
    if np.ptp(y) == 0:
        raise SweepError(f"{results}: {metric} is {y[0]:g} for every variant: nothing to fit")
    spec = _spec_of(meta)
    if os.path.realpath(out) == os.path.realpath(spec.spec_path):
        raise SweepError(f"-o {out} is the sweep's own spec: write the proposal to another file")
    f = fit(X, y, model)
    tokens = spec.target_tokens or int(meta["tokens"])
    ok = feasible(spec, names, tokens, meta["available"])
    prop = search(f.predict, ok, len(names), X, maximize, seed=int(meta.get("seed") or 0))
    if prop is None:
        raise SweepError(f"no mix of {', '.join(names)} is feasible at {tokens:,} tokens")
    total = sum(spec.source(n).weight for n in names) or 1.0   # the spec's scale (1 unless sources have tokens)
    weights = {n: w * total for n, w in as_weights(names, np.rint(prop.weights * UNIT), UNIT).items()}
    best = int(np.argmax(y) if maximize else np.argmin(y))
    info = {"model": f.name, "spearman": f.spearman, "cv": f.cv, "predicted": prop.predicted, "weights": weights,
            "before": {n: spec.source(n).weight for n in names}, "best_variant": used[best]["variant"],
            "best_measured": float(y[best]), "rows": len(y), "tokens": tokens}
    text = _proposal_text(spec, meta, folder, results, metric, maximize, f, info)
    _validate(text, out)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return info


def _proposal_text(spec, meta, folder, results, metric, maximize, f, info) -> str:
    from engine.spec.yaml_load import read_spec_text

    w = ", ".join(f"{n} {number(v)}" for n, v in info["weights"].items())
    before = ", ".join(f"{n} {number(v)}" for n, v in info["before"].items())
    lines = [f"tamis fit: weights proposed from the sweep {folder} ({len(meta['variants'])} variants of "
             f"{meta['tokens']:,} tokens, seed {meta['seed']})",
             f"  and {info['rows']} results of {metric} ({'maximized' if maximize else 'minimized'}) in {results}",
             f"model (held-out Spearman): {describe(f)}",
             f"predicted {metric} here: {info['predicted']:.6g}; best measured: {info['best_measured']:.6g} "
             f"({info['best_variant']})",
             f"weights: {w} (were: {before})", ""]
    return with_comment(set_weights(read_spec_text(spec.spec_path), info["weights"]), lines)


def _validate(text: str, out: str):
    """The proposal must load as a spec from where it is written (its relative paths resolve there)."""
    from engine.spec import SpecError
    from engine.spec.load import parse_spec

    try:
        parse_spec(text, out, base_dir=os.path.dirname(os.path.abspath(out)), check_paths=True)
    except SpecError as e:
        raise SweepError(f"the proposed spec would not load from {out}: {e.problems[0]} (relative paths "
                         "resolve against the spec's folder: write it next to the sweep's spec)") from None
