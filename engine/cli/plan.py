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
from dataclasses import asdict

import click
from rich.table import Table

from engine.cli.common import console, exit_codes, load, master_option, spec_argument, verbose_option
from engine.display import lit, literal_console
from engine.dry_run import PlanResult, compute_plan  # noqa: F401 - PlanResult: what compute_plan returns


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


@click.command()
@spec_argument
@master_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
@verbose_option
def plan(spec, master, as_json, verbose):
    """Dry run: available vs requested tokens per source and group, epochs, infeasible leaves.

    Exit 0 if the mix is feasible, 2 if not (naming the source), 1 on a runtime failure.
    """
    from engine.spark.progress import StageProgress

    s = load(spec)
    with exit_codes("plan", s, verbose) as failing:   # raised InfeasibleMix: e.g. a group_by column that does not exist
        with StageProgress(console) as failing.progress:
            res = compute_plan(s, master=master, say=failing.progress.stage)
            failing.progress.stage("done")
    if as_json:
        click.echo(json.dumps(plan_json(s, res), indent=2, default=str))
    else:
        wide = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 160)
        print_plan(literal_console(width=wide), s, res)
    if res.error is not None:
        for p in res.error.problems:
            console.print(lit(("error:", "red"), " infeasible mix: ", p), soft_wrap=True, highlight=False)
        sys.exit(2)
