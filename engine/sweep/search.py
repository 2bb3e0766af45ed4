"""The best predicted mix on the simplex, within what the planner accepts (pure numpy + the planner).

A random search: uniform points of the simplex plus the sweep's own mixes, ranked by the fitted model; the
best one the planner accepts starts a local search (Dirichlet proposals around the current best, tighter
every round) that moves only to a better prediction the planner also accepts. Every point is quantized to
the weights the new spec will carry (multiples of 1 / UNIT summing to 1), so the point predicted is the
point written. Deterministic for a given seed. The planner is the only judge of feasibility, so the limits are
exactly the spec's: `available x max_epochs` per leaf, group shares, the synthetic cap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.sweep.draws import quantize_rows

UNIT = 10**4                 # the proposed weights: 4 decimals
RANDOM_POINTS = 4000
ROUNDS = (30, 100, 300, 1000, 3000, 10000)   # Dirichlet concentrations of the local search
PROPOSALS = 300              # per round


@dataclass
class Proposal:
    weights: np.ndarray      # quantized, sums to 1
    predicted: float


def _first_feasible(Q: np.ndarray, score: np.ndarray, ok, below: float = np.inf):
    """The best-scored row of Q (lower is better) that scores under `below` and that `ok` accepts."""
    for i in np.argsort(score, kind="stable"):   # the planner takes ~0.1 ms a mix: checking them all is cheap
        if score[i] >= below:
            return None
        if ok(Q[i]):
            return i
    return None


def search(predict, ok, k: int, seeds: np.ndarray, maximize: bool, seed: int = 0) -> Proposal | None:
    """predict: rows of weights -> metric; ok: a quantized row (ints summing to UNIT) -> feasible?
    seeds: mixes to consider besides the random ones (the sweep's). None when nothing is feasible."""
    rng = np.random.default_rng(seed)
    sign = -1.0 if maximize else 1.0

    def ranked(P):
        Q = quantize_rows(P, UNIT)
        return Q, sign * predict(Q / UNIT)

    Q, score = ranked(np.vstack([rng.dirichlet(np.ones(k), RANDOM_POINTS), np.atleast_2d(seeds)]))
    i = _first_feasible(Q, score, lambda q: ok(q, UNIT))
    if i is None:
        return None
    best, best_score = Q[i], score[i]
    for c in ROUNDS:
        for _ in range(3):
            alpha = c * best / UNIT + 1e-2
            Q, score = ranked(rng.dirichlet(alpha, PROPOSALS))
            j = _first_feasible(Q, score, lambda q: ok(q, UNIT), below=best_score)
            if j is not None:
                best, best_score = Q[j], score[j]
    return Proposal(best / UNIT, float(sign * best_score))
