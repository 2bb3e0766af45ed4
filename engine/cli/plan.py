"""`tamis plan SPEC [--master URL] [--json]`: available vs requested tokens per leaf, before any output is written.

Counts the documents that pass filters and dedup per source and group, reusing the stage results a previous
run (or plan) stored in the work dir, else computing them and keeping them there for the run. Then plans the
mix exactly as `tamis run` would. Exit 0 feasible, 2 infeasible (the error names the source and group),
1 on a runtime failure.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field

import click
from rich.table import Table

import engine.cli as _c  # noqa: E402  (the group `tamis` and its consoles)
from engine.cli.display import lit, literal_console


@dataclass
class PlanResult:
    plan: object                          # engine.plan.budgets.MixPlan
    error: Exception | None = None        # InfeasibleMix when the mix cannot be met
    reused: dict = field(default_factory=dict)
    work: str = ""
    dedup_estimate: object = None


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


def compute_plan(spec, master: str | None = None, say=lambda *_: None) -> PlanResult:
    from pyspark.sql import functions as F

    from engine.plan.budgets import InfeasibleMix, available_tokens, plan_mix
    from engine.run import prepare
    from engine.spark.session import get_spark

    spark = get_spark(master, conf=spec.spark)
    estimate, first = None, {}
    if spec.dedup:   # the annotated documents first: the dedup estimate is about them
        annotated, first, _ = prepare(spark, spec.model_copy(update={"dedup": None}), say)
        say("plan", "estimating the dedup stage")
        estimate = dedup_estimate(spec, annotated)
    df, reused, work = prepare(spark, spec, say)
    reused.update(first)
    say("plan", "counting available tokens per source and group")
    available = available_tokens(df.where(F.col("reason").isNull()), spec)
    try:
        return PlanResult(plan_mix(spec, available), None, reused, work, estimate)
    except InfeasibleMix as e:
        return PlanResult(e.plan, e, reused, work, estimate)


def _n(v) -> str:
    return "-" if v is None else f"{v:,}"


def print_plan(console, spec, res: PlanResult):
    plan = res.plan
    t = Table(title=lit(f"tamis plan: {spec.name}"), title_justify="left")
    for col in ("source", "group", "docs", "available", "share", "requested", "synthetic", "epochs", "max", "status"):
        t.add_column(col, justify="left" if col in ("source", "group", "status") else "right")
    for l in plan.leaves if plan else []:
        status = lit(("infeasible", "red")) if l.problem else ("upsampled" if l.epochs > 1 + 1e-9 else
                                                               "all" if abs(l.epochs - 1) < 1e-9 else
                                                               "none" if not l.requested_tokens else "sampled")
        t.add_row(lit(l.source), lit(l.group), _n(l.available_docs), _n(l.available_tokens),
                  "" if l.share is None else f"{l.share:.1%}", _n(l.requested_tokens),
                  _n(l.synthetic_requested_tokens) if l.synthetic_available_tokens else "",
                  f"{l.epochs:.3f}", f"{l.max_epochs:g}", status)
    console.print(t)
    if plan:
        line = (f"requested {plan.requested_tokens:,} of {plan.available_tokens:,} available tokens"
                + (f" (target_tokens {plan.target_tokens:,})" if plan.target_tokens else "")
                + ("; no budget: everything that passed is kept" if plan.mode == "keep" else ""))
        console.print(lit(line))
        if plan.synthetic_max_share is not None or any(l.synthetic_available_tokens for l in plan.leaves):
            console.print(f"synthetic share {plan.synthetic_share:.2%}"
                          + (f" (cap {plan.synthetic_max_share:.2%}"
                             + (", binding" if plan.synthetic_capped else "") + ")"
                             if plan.synthetic_max_share is not None else ""))
        for n in plan.notes:
            console.print(lit("note: ", n))
    stages = ", ".join(f"{k} {'reused' if v else 'computed'}" for k, v in res.reused.items())
    console.print(lit(f"stages: {stages} (work dir {res.work})"))
    if res.dedup_estimate is not None:
        est = res.dedup_estimate
        if isinstance(est, dict):
            def fmt(k, v):
                if k.endswith("_bytes") and isinstance(v, (int, float)):
                    return f"{k.removesuffix('_bytes')} {v / 1e6:,.1f} MB"
                return f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"

            console.print(lit("dedup estimate: " + ", ".join(fmt(k, v) for k, v in est.items())), soft_wrap=False)
        else:
            console.print(lit("dedup estimate: ", est))


def plan_json(spec, res: PlanResult) -> dict:
    plan = res.plan
    return {"name": spec.name, "feasible": res.error is None,
            "problems": getattr(res.error, "problems", []),
            "mode": plan.mode if plan else None, "target_tokens": spec.target_tokens,
            "requested_tokens": plan.requested_tokens if plan else None,
            "synthetic_share": plan.synthetic_share if plan else None,
            "leaves": [asdict(l) for l in plan.leaves] if plan else [],
            "stages": res.reused, "work_dir": res.work,
            "dedup_estimate": res.dedup_estimate if isinstance(res.dedup_estimate, (dict, str, int, float))
            else (None if res.dedup_estimate is None else str(res.dedup_estimate))}


@_c.main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--master", default=None, help="Spark master URL (default: embedded local[*]).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Show the full stack trace on failure.")
def plan(spec, master, as_json, verbose):
    """Dry run: available vs requested tokens per source and group, epochs, infeasible leaves.

    Exit 0 if the mix is feasible, 2 if not (naming the source), 1 on a runtime failure.
    """
    from engine.plan.budgets import InfeasibleMix
    from engine.spark.progress import StageProgress

    s = _c._load(spec)
    progress = None
    try:
        with StageProgress(_c.console) as progress:
            res = compute_plan(s, master=master, say=progress.stage)
            progress.stage("done")
    except InfeasibleMix as e:   # e.g. a group_by column that does not exist
        _c._fail(f"infeasible mix: {e}", 2)
    except KeyboardInterrupt:
        _c._fail("interrupted", 1)
    except Exception as e:  # noqa: BLE001
        if verbose or os.environ.get("TAMIS_DEBUG"):
            _c.console.print_exception()
        from engine.cli.errors import runtime_failure

        _c._fail(runtime_failure("plan", e, s, progress), 1)
    if as_json:
        click.echo(json.dumps(plan_json(s, res), indent=2, default=str))
    else:
        wide = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 160)
        print_plan(literal_console(width=wide), s, res)
    if res.error is not None:
        for p in res.error.problems:
            _c.console.print(lit(("error:", "red"), " infeasible mix: ", p), soft_wrap=True, highlight=False)
        sys.exit(2)
