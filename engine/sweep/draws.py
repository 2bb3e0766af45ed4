"""The variants of a sweep: the spec's own weights, the corner mixes, then Dirichlet draws around the spec's
weights (RegMix, Liu et al. 2024), each checked by the planner (pure Python, no Spark).

Only the sources with a `weight` are swept (those with `tokens`, or kept whole, keep their size). A variant's
weights are multiples of 1e-6 summing to exactly 1 (largest remainder), so sweep.csv states exactly what was
planned and a rerun with the same seed draws the same mixes. A draw the planner refuses (a leaf past its
`available x max_epochs`, the synthetic cap's freed tokens with nowhere to go, ...) is drawn again, never written.

Corner mixes: for every swept source, the point farthest from the spec's weights towards that source alone
that is still feasible (bisection on the segment; the feasible set is convex in the weights, every leaf's
limit being linear in them), so the sweep spans the feasible region and not only its middle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.plan.budgets import InfeasibleMix, plan_mix
from engine.sweep import SweepError

UNIT = 10**6            # a variant's weights are multiples of 1 / UNIT
MAX_TRIES = 200         # draws per variant before the sweep gives up
BISECT_STEPS = 24
MIN_ALPHA = 1e-3        # a source the spec weighs 0 is still drawn, rarely


@dataclass
class Variant:
    id: str
    origin: str            # spec | corner:<source> | draw
    weights: dict          # swept source -> weight (sum 1)
    plan: object = None    # its MixPlan at the sweep's tokens


def swept_sources(spec) -> list[str]:
    names = [s.name for s in spec.sources if s.weight is not None]
    if len(names) < 2:
        raise SweepError(f"{spec.name}: a sweep needs at least 2 sources with a weight (found "
                         f"{', '.join(names) or 'none'}); sources with tokens or kept whole are not swept")
    return names


def base_weights(spec, names: list[str]) -> np.ndarray:
    w = np.array([spec.source(n).weight for n in names], dtype=float)
    return w / w.sum() if w.sum() > 0 else np.full(len(names), 1.0 / len(names))


def quantize_rows(p: np.ndarray, unit: int = UNIT) -> np.ndarray:
    """Rows of non-negative weights -> integers summing to `unit` per row (largest remainder, ties to the
    earlier column): the same integers for the same floats, whatever the batch."""
    p = np.clip(np.atleast_2d(np.asarray(p, dtype=float)), 0.0, None)
    s = p.sum(axis=1, keepdims=True)
    p = np.where(s > 0, p / np.where(s > 0, s, 1), 1.0 / p.shape[1]) * unit
    q = np.floor(p).astype(np.int64)
    rest = unit - q.sum(axis=1)
    frac = p - q
    order = np.lexsort((np.broadcast_to(np.arange(p.shape[1]), p.shape), -frac), axis=1)
    for i, r in enumerate(rest):
        q[i, order[i, :r]] += 1
    return q


def as_weights(names: list[str], q, unit: int = UNIT) -> dict[str, float]:
    return {n: int(k) / unit for n, k in zip(names, q)}


def variant_spec(spec, weights: dict, tokens: int | None = None, **output):
    """`spec` with these source weights (and `target_tokens`, output fields when given) changed, nothing else."""
    sources = [s.model_copy(update={"weight": float(weights[s.name])}) if s.name in weights else s
               for s in spec.sources]
    update: dict = {"sources": sources}
    if tokens is not None:
        update["target_tokens"] = int(tokens)
    if output:
        update["output"] = spec.output.model_copy(update=output)
    return spec.model_copy(update=update)


def check_plan(spec, weights: dict, tokens: int | None, available: list[dict]):
    """(MixPlan or None, the planner's reason when it refuses)."""
    try:
        return plan_mix(variant_spec(spec, weights, tokens), available), None
    except InfeasibleMix as e:
        return None, str(e)
    except ValueError as e:   # e.g. a synthetic cap freeing tokens that no non-synthetic part can take
        return None, str(e)


def feasible(spec, names, tokens, available):
    """A predicate on quantized weight rows (integers summing to UNIT)."""
    return lambda q, unit=UNIT: check_plan(spec, as_weights(names, q, unit), tokens, available)[0] is not None


def _corner(ok, base: np.ndarray, i: int) -> np.ndarray | None:
    """The feasible point farthest from `base` towards source i alone (None when `base` is infeasible)."""
    e = np.zeros_like(base)
    e[i] = 1.0

    def at(t):
        return quantize_rows(base + t * (e - base))[0]

    if ok(at(1.0)):
        return at(1.0)
    if not ok(at(0.0)):
        return None
    lo, hi = 0.0, 1.0
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(at(mid)) else (lo, mid)
    return at(lo)


def draw_variants(spec, tokens: int, n: int, seed: int, concentration: float,
                  available: list[dict]) -> list[Variant]:
    """`n` distinct feasible variants: the spec's weights, the corners, then Dirichlet(concentration x w)."""
    names = swept_sources(spec)
    base = base_weights(spec, names)
    ok = feasible(spec, names, tokens, available)
    out: list[Variant] = []
    seen: set[tuple] = set()

    def take(q, origin: str) -> bool:
        key = tuple(int(k) for k in q)
        if len(out) >= n or key in seen:
            return False
        weights = as_weights(names, key)
        plan, _why = check_plan(spec, weights, tokens, available)
        if plan is None:
            return False
        seen.add(key)
        out.append(Variant("", origin, weights, plan))
        return True

    take(quantize_rows(base)[0], "spec")
    for i, name in enumerate(names):
        if len(out) < n and (q := _corner(ok, base, i)) is not None:
            take(q, f"corner:{name}")
    rng = np.random.default_rng(seed)
    alpha = np.maximum(concentration * base, MIN_ALPHA)
    tries = 0
    while len(out) < n:
        if tries >= MAX_TRIES * n:
            raise SweepError(_too_few(spec, names, base, tokens, available, len(out), n, tries))
        tries += 1
        take(quantize_rows(rng.dirichlet(alpha))[0], "draw")
    width = max(3, len(str(n - 1)))
    for i, v in enumerate(out):
        v.id = f"v{i:0{width}d}"
    return out


def _too_few(spec, names, base, tokens, available, got: int, n: int, tries: int) -> str:
    _plan, why = check_plan(spec, as_weights(names, quantize_rows(base)[0]), tokens, available)
    own = "feasible" if why is None else f"infeasible: {why}"
    return (f"only {got} of {n} variants are feasible after {tries:,} draws at {tokens:,} tokens (the spec's own "
            f"weights are {own}): ask for fewer tokens or variants, or raise --concentration")
