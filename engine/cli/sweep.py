"""`tamis sweep SPEC --n N --tokens T` and `tamis fit SWEEP_DIR RESULTS.csv --metric NAME -o NEW.yaml`.

sweep: N feasible variants of the spec's weights, each a committed output under DIR, plus DIR/sweep.csv
(engine/sweep/run.py). fit: a regression of proxy results on those weights and a proposed spec
(engine/sweep/propose.py; no Spark). A bad results file, a folder that is no sweep, too few feasible draws:
one line, exit 2.
"""
from __future__ import annotations

import click

from engine.cli.common import (announce_stages, exit_codes, fail, load, master_option, out, spark_progress,
                               spec_argument, ui_option, verbose_option)
from engine.sweep import MODELS, SweepError


@click.command("sweep")
@spec_argument
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Number of variants.")
@click.option("--tokens", type=click.IntRange(min=1), required=True, help="Tokens of every variant (target_tokens).")
@click.option("--seed", type=int, default=None, help="Seed of the draws (default: the spec's seed).")
@click.option("--concentration", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Dirichlet concentration around the spec's weights: higher stays closer to them.")
@click.option("--out", "folder", default=None, help="Sweep folder (default: the spec's output path + .sweep).")
@click.option("--overwrite", is_flag=True, help="Replace a previous sweep in the folder.")
@master_option
@verbose_option
@ui_option
def sweep_cmd(spec, n, tokens, seed, concentration, folder, overwrite, master, verbose, ui):
    """Write N feasible mix variants of SPEC (its weights drawn around the spec's, plus the corner mixes),
    each a committed output DIR/<variant> from the spec's stored stages, and DIR/sweep.csv."""
    from engine.sweep.run import sweep

    s = load(spec)
    with exit_codes("sweep", s, verbose, interrupted="interrupted: the sweep was not committed") as failing:
        try:
            inputs = announce_stages(s)
            with spark_progress(s, verbose, ui) as failing.progress:
                result = sweep(s, n, tokens, seed, concentration, folder, master, overwrite,
                               failing.progress.stage, inputs)
        except SweepError as e:
            fail(str(e), 2)
    _print_sweep(result)


def _print_sweep(result: dict):
    reused = ", ".join(f"{k} {'reused' if v else 'computed'}" for k, v in result["stages"].items())
    out.print(f"{len(result['variants'])} variants of {result['tokens']:,} tokens in {result['folder']} "
              f"(stages: {reused})", soft_wrap=True)
    for v in result["variants"]:
        w = " ".join(f"{k} {x:.3f}" for k, x in v["weights"].items())
        dev = (v["realized_tokens"] - result["tokens"]) / result["tokens"]
        out.print(f"  {v['variant']} {v['realized_tokens']:>12,} ({dev:+.2%})  {w}  {v['origin']}", soft_wrap=True)
    out.print(f"weights and realized tokens: {result['folder']}/sweep.csv", soft_wrap=True)


@click.command("fit")
@click.argument("sweep_dir")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--metric", required=True, help="The results column to fit (e.g. a proxy model's validation loss).")
@click.option("--maximize", is_flag=True, help="Higher is better (a score); default: lower is better (a loss).")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the proposed spec.")
@click.option("--model", type=click.Choice(["auto", *MODELS]), default="auto", show_default=True,
              help="The regression; auto: the best held-out rank correlation.")
def fit_cmd(sweep_dir, results, metric, maximize, out_path, model):
    """Fit RESULTS (variant -> metric) against the sweep's weights, search the feasible mixes for the best
    predicted one, and write the sweep's spec with those weights to OUT."""
    from engine.sweep.propose import propose

    with exit_codes("fit"):
        try:
            info = propose(sweep_dir, results, metric, maximize, out_path, model)
        except SweepError as e:
            fail(str(e), 2)
    cv = ", ".join(f"{m} {'n/a' if v != v else f'{v:.3f}'}" for m, v in info["cv"].items())
    out.print(f"fit on {info['rows']} variants; held-out Spearman: {cv}; using {info['model']}", soft_wrap=True)
    out.print(f"proposed: {', '.join(f'{k} {w:.4f}' for k, w in info['weights'].items())} "
              f"(predicted {metric} {info['predicted']:.6g}; best measured {info['best_measured']:.6g}, "
              f"{info['best_variant']})", soft_wrap=True)
    out.print(f"wrote {out_path}", soft_wrap=True)
