"""Pure arithmetic of the mix: integer apportionment and the shares of a grouped source's groups.

Apportionments use the largest remainder method in exact fractions, so parts always sum exactly to their
whole and never depend on float rounding. Group shares: `available_g ** temperature` renormalized (XLM-R /
mT5 sampling; temperature 1 = proportional, -> 0 = uniform), or `group_weights` renormalized; then bounded
by `min_share`/`max_share` (see `clip_shares`).
"""
from __future__ import annotations

import math
from fractions import Fraction


def apportion(total: int, weights) -> list[int]:
    """Split the integer `total` in proportion to `weights` (largest remainder; sums exactly to `total`).

    Ties in the remainders go to the earlier item. Exact arithmetic (fractions), so the result does not
    depend on float rounding.
    """
    weights = [Fraction(w) for w in weights]
    if total < 0:
        raise ValueError("cannot apportion a negative total")
    s = sum(weights)
    if total == 0 or not weights:
        return [0] * len(weights)
    if s <= 0:
        raise ValueError("cannot apportion a positive total over zero weights")
    quotas = [total * w / s for w in weights]
    out = [math.floor(q) for q in quotas]
    rest = total - sum(out)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - out[i]), i))
    for i in order[:rest]:
        out[i] += 1
    return out


def temperature_shares(available: dict[str, int], temperature: float) -> dict[str, float]:
    """Shares proportional to available ** temperature, renormalized (groups with 0 tokens get 0)."""
    base = {g: (a ** temperature if a > 0 else 0.0) for g, a in available.items()}
    s = sum(base.values())
    return {g: (b / s if s else 0.0) for g, b in base.items()}


def clip_shares(shares: dict[str, float], min_share: float | None = None,
                max_share: float | None = None) -> dict[str, float]:
    """Bound every positive share to [min_share, max_share] and renormalize the rest.

    Returns clip(c * p_g, lo, hi) with the c that makes them sum to 1; groups with share 0 stay 0. The sum is
    monotone and piecewise linear in c, so c is found exactly by walking its breakpoints (pinning groups at
    a bound in alternating passes can oscillate; this cannot). Raises ValueError when no shares can meet
    the bounds (groups x min_share > 1, groups x max_share < 1).
    """
    lo = min_share or 0.0
    hi = 1.0 if max_share is None else max_share
    active = {g: p for g, p in shares.items() if p > 0}
    n = len(active)
    out = {g: 0.0 for g in shares}
    if not n:
        return out
    if lo > hi:
        raise ValueError(f"min_share {lo:g} > max_share {hi:g}")
    if n * lo > 1 + 1e-12:
        raise ValueError(f"min_share {lo:g} x {n} groups = {n * lo:g} > 1")
    if n * hi < 1 - 1e-12:
        raise ValueError(f"max_share {hi:g} x {n} groups = {n * hi:g} < 1")
    total = sum(active.values())
    p = {g: v / total for g, v in active.items()}

    def f(c):
        return sum(min(max(c * v, lo), hi) for v in p.values())

    # f is continuous, nondecreasing and linear between the breakpoints lo/p and hi/p
    points = sorted({0.0} | {lo / v for v in p.values()} | {hi / v for v in p.values()})
    c = points[-1]
    prev = points[0]
    if f(prev) >= 1:
        c = prev
    else:
        for x in points[1:]:
            fx = f(x)
            if fx >= 1:
                fp = f(prev)
                mid = (prev + x) / 2
                slope = sum(v for v in p.values() if lo < mid * v < hi)
                c = prev + (1 - fp) / slope if slope > 0 else x
                break
            prev = x
    vals = {g: min(max(c * v, lo), hi) for g, v in p.items()}
    s = sum(vals.values())
    out.update({g: v / s for g, v in vals.items()})
    return out


def group_shares(source, available: dict[str, int]) -> dict[str, float]:
    """The share of each group of a grouped source (temperature, group_weights or proportional; then bounds)."""
    if source.group_weights is not None:
        base = {g: float(source.group_weights.get(g, 0.0)) for g in available}
        s = sum(base.values())
        base = {g: (w / s if s else 0.0) for g, w in base.items()}
    else:
        base = temperature_shares(available, source.temperature if source.temperature is not None else 1.0)
    return clip_shares(base, source.min_share, source.max_share)
