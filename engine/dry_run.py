"""`tamis plan`: the stages of `tamis run` (reusing, or storing, the work dir's stage results), then the tokens
that pass filters and dedup per source and group, and the mix planned exactly as `tamis run` would plan it,
with the cuts `tamis run` will make (so the expected tokens are what it realizes) and, per leaf, where the
documents went (engine/plan/explain.py). Nothing is written to the output. The CLI only prints."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PlanResult:
    plan: object                          # engine.plan.budgets.MixPlan
    error: Exception | None = None        # InfeasibleMix when the mix cannot be met
    reused: dict = field(default_factory=dict)
    work: str = ""
    dedup_estimate: object = None
    stories: list = field(default_factory=list)   # engine.plan.explain.LeafStory per leaf


def dedup_estimate(spec, annotated):
    """`engine.spark.dedup.estimate` (shuffle and memory figures of the dedup stage) over the annotated documents,
    when that function exists; a failing estimate is reported, never fatal."""
    try:
        from engine.spark.dedup import estimate
    except ImportError:
        return None
    if not spec.dedup:
        return None
    try:
        return estimate(spec.dedup, sample=annotated)
    except Exception as e:  # noqa: BLE001 - an estimate is a hint, never a reason to fail the plan
        return f"unavailable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"


def compute_plan(spec, master: str | None = None, say=lambda *_: None, inputs: dict | None = None) -> PlanResult:
    from engine.run import prepare, release, score
    from engine.spark.session import get_spark

    spark = get_spark(master, conf=spec.spark)
    estimate = None
    signals = score(spark, spec, say, inputs)
    if spec.dedup:   # the scored documents first: the dedup estimate is about them
        say("estimate", "estimating the dedup stage")   # a stage of its own: "plan" comes last
        estimate = dedup_estimate(spec, signals["scored"])
    df, reused, work = prepare(spark, spec, say, signals=signals)
    try:
        return _plan(spec, df, reused, work, estimate, say)
    finally:
        release(df)


def _plan(spec, df, reused, work, estimate, say) -> PlanResult:
    from engine.plan.budgets import InfeasibleMix, plan_mix
    from engine.spark.sample import available_tokens
    from engine.spark.stats import kept_docs

    say("plan", "counting available tokens per source and group")
    kept = kept_docs(df)
    available = available_tokens(kept, spec)
    try:
        res = PlanResult(plan_mix(spec, available), None, reused, work, estimate)
    except InfeasibleMix as e:
        res = PlanResult(e.plan, e, reused, work, estimate)
    if res.error is None:
        say("plan", "locating the cut of every leaf")
        expect(res.plan, kept, spec)
    say("plan", "counting documents read and dropped per leaf")
    res.stories = explain_leaves(df, spec, res.plan)
    return res


def expect(plan, kept, spec):
    """Set every leaf's expected tokens and documents from the sampler's own cuts (engine.spark.sample)."""
    from engine.spark.sample import expected_per_leaf, plan_cuts

    got = expected_per_leaf(plan_cuts(kept, spec, plan))
    for l in plan.leaves:
        l.expected_tokens, l.expected_docs = got.get((l.source, l.group), (0, 0))


def explain_leaves(df, spec, plan) -> list:
    from engine.plan.explain import explain
    from engine.spark.explain import leaf_reasons

    return explain(leaf_reasons(df, spec), plan)
