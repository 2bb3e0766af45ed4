"""`tamis plan SPEC [--master URL] [--json]`: available vs requested tokens per leaf, before any output is written.

Counts the documents that pass filters and dedup per source and group, reusing the stage results a previous
run (or plan) stored in the work dir, else computing them and keeping them there for the run. Then plans the
mix exactly as `tamis run` would, with the tokens its cuts will realize. Prints two tables within 100 columns
(the same text in a terminal and in a log): where each leaf's documents went (read, dropped with the top
reasons, duplicates, kept), and the budget (available, requested, expected). Exit 0 feasible, 2 infeasible
(the error names the source and group), 1 on a runtime failure.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click
from rich import box
from rich.table import Table
from rich.text import Text

from engine.cli.common import (announce_stages, console, exit_codes, load, master_option, spark_progress, spec_argument,
                               ui_option, verbose_option)
from engine.display import lit, literal_console
from engine.dry_run import PlanResult, compute_plan  # noqa: F401 - PlanResult: what compute_plan returns


def _n(v) -> str:
    return "-" if v is None else f"{v:,}"


WIDTH = 100      # the plan's tables fit 100 columns, in a terminal and in a log alike


def _status(l) -> Text:
    if l.problem:
        return lit(("infeasible", "red"))
    return lit("upsampled" if l.epochs > 1 + 1e-9 else "all" if abs(l.epochs - 1) < 1e-9 else
               "none" if not l.requested_tokens else "sampled")


def _delta(expected, requested) -> str:
    if expected is None or requested is None:
        return ""
    d = expected - requested
    return f"{d:+,}" if not requested else f"{d:+,} ({d / requested:+.1%})"


def story_table(spec, stories) -> Table:
    """Per leaf: records read, dropped (the top reasons, one line each), removed as duplicates, kept
    (documents and tokens). No vertical rules and one space between columns: the reason names get the width."""
    t = Table(title=lit(f"tamis plan: {spec.name}: where the documents went"), title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    cells = ["\n".join(f"{n:,} {r}" for r, n in st.reasons) for st in stories]
    for col in ("source", "group", "read", "dropped", "top reasons", "dups", "kept", "tokens"):
        reasons = col == "top reasons"      # the one column that takes what the others leave, and wraps
        t.add_column(col, justify="left" if col in ("source", "group", "top reasons") else "right",
                     overflow="fold", no_wrap=not reasons, ratio=1 if reasons else None)
    for st, reasons in zip(stories, cells):
        t.add_row(lit(st.source), lit(st.group), _n(st.read), _n(st.dropped), lit(reasons), _n(st.duplicates),
                  _n(st.available_docs), _n(st.available_tokens))
    return t


def budget_table(spec, plan) -> Table:
    """Per leaf: available vs requested tokens, epochs, and what the sampler's cut will realize."""
    t = Table(title=lit(f"tamis plan: {spec.name}: the budget (cut: {plan.cut})"), title_justify="left")
    # max_epochs is in the spec and in an infeasible leaf's message: no column, so the table fits 100 columns
    for col in ("source", "group", "available", "share", "requested", "synthetic", "epochs", "expected", "status"):
        t.add_column(col, justify="left" if col in ("source", "group", "status") else "right",
                     no_wrap=col in ("status",), overflow="fold")
    for l in plan.leaves:
        t.add_row(lit(l.source), lit(l.group), _n(l.available_tokens),
                  "" if l.share is None else f"{l.share:.1%}", _n(l.requested_tokens),
                  _n(l.synthetic_requested_tokens) if l.synthetic_available_tokens else "",
                  f"{l.epochs:.3f}", _n(l.expected_tokens), _status(l))
    return t


def totals_lines(plan) -> list[str]:
    line = (f"requested {plan.requested_tokens:,} of {plan.available_tokens:,} available tokens"
            + (f" (target_tokens {plan.target_tokens:,})" if plan.target_tokens else "")
            + ("; no budget: everything that passed is kept" if plan.mode == "keep" else ""))
    lines = [line]
    if plan.expected_tokens is not None:
        aim = plan.target_tokens or plan.requested_tokens
        lines.append(f"expected realized {plan.expected_tokens:,} tokens: {_delta(plan.expected_tokens, aim)} "
                     f"vs {'target' if plan.target_tokens else 'requested'} (cut: {plan.cut})")
    if plan.synthetic_max_share is not None or any(l.synthetic_available_tokens for l in plan.leaves):
        lines.append(f"synthetic share {plan.synthetic_share:.2%}"
                     + (f" (cap {plan.synthetic_max_share:.2%}" + (", binding" if plan.synthetic_capped else "")
                        + ")" if plan.synthetic_max_share is not None else ""))
    return lines


def print_plan(console, spec, res: PlanResult):
    plan = res.plan
    if res.stories:
        console.print(story_table(spec, res.stories))
        console.print()
    if plan:
        console.print(budget_table(spec, plan))
        for line in totals_lines(plan):
            console.print(lit(line))
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
            "requested_tokens": plan.requested_tokens if plan else None, "cut": spec.cut,
            "expected_tokens": plan.expected_tokens if plan else None,
            "expected_overshoot": (plan.expected_tokens - (plan.target_tokens or plan.requested_tokens)
                                   if plan and plan.expected_tokens is not None else None),
            "synthetic_share": plan.synthetic_share if plan else None,
            "leaves": [asdict(l) for l in plan.leaves] if plan else [],
            "explain": [asdict(st) for st in res.stories],
            "stages": res.reused, "work_dir": res.work,
            "dedup_estimate": res.dedup_estimate if isinstance(res.dedup_estimate, (dict, str, int, float))
            else (None if res.dedup_estimate is None else str(res.dedup_estimate))}


@click.command()
@spec_argument
@master_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
@verbose_option
@ui_option
def plan(spec, master, as_json, verbose, ui):
    """Dry run: available vs requested tokens per source and group, epochs, infeasible leaves.

    Exit 0 if the mix is feasible, 2 if not (naming the source), 1 on a runtime failure.
    """
    s = load(spec)
    with exit_codes("plan", s, verbose) as failing:   # raised InfeasibleMix: e.g. a group_by column that does not exist
        inputs = announce_stages(s)
        with spark_progress(s, verbose, ui) as failing.progress:
            res = compute_plan(s, master=master, say=failing.progress.stage, inputs=inputs)
            failing.progress.stage("done")
    if as_json:
        click.echo(json.dumps(plan_json(s, res), indent=2, default=str))
    else:
        wide = min(WIDTH, literal_console().width) if sys.stdout.isatty() else WIDTH
        print_plan(literal_console(width=wide), s, res)
    if res.error is not None:
        for p in res.error.problems:
            console.print(lit(("error:", "red"), " infeasible mix: ", p), soft_wrap=True, highlight=False)
        sys.exit(2)
