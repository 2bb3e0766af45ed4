"""Token budgets that no input can satisfy, refused by `validate` (no Spark) instead of by `run` after the
annotate stage has read every input (`engine.plan.budgets.plan_mix` applies the same rules, and stays the authority).

Only what follows from the spec alone: a source kept whole (neither `weight` nor `tokens`) contributes an
amount known only from the data, so rules that depend on it are left to the planner.
"""
from __future__ import annotations


def budget_problems(spec) -> list[tuple[tuple, str]]:
    """(field path, message) for every budget rule of `plan_mix` the spec breaks whatever its inputs hold."""
    with_tokens = [s for s in spec.sources if s.tokens is not None]
    weighted = [(i, s) for i, s in enumerate(spec.sources) if s.weight is not None]
    if spec.target_tokens is None and not with_tokens:
        return []   # keep mode: every source keeps what passed, weights unused
    if spec.target_tokens is None:
        return [(("sources", i, "weight"), f"weight {s.weight:g} needs target_tokens (other sources give "
                                           "absolute tokens)") for i, s in weighted]
    target, fixed = spec.target_tokens, sum(s.tokens for s in with_tokens)
    if fixed > target:
        return [(("target_tokens",), f"target_tokens {target:,} is less than the sources' tokens "
                                     f"({fixed:,} in all)")]
    kept_whole = any(s.tokens is None and s.weight is None for s in spec.sources)
    if kept_whole or fixed == target or sum(s.weight for _, s in weighted) > 0:
        return []
    if weighted:
        i, _ = weighted[0]
        return [(("sources", i, "weight"), f"the weights are all 0 but {target - fixed:,} tokens of "
                                           "target_tokens are left to share")]
    return [(("target_tokens",), f"target_tokens {target:,}: the sources' tokens give only {fixed:,} "
                                 "(give a source a weight to take the rest)")]
