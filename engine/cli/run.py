"""`tamis validate SPEC` and `tamis run SPEC`: check a spec; run its mix and print the summary."""
from __future__ import annotations

import click

from engine.cli.common import (exit_codes, load, master_option, out, spark_progress, spec_argument, ui_option,
                               verbose_option)


@click.command()
@spec_argument
def validate(spec):
    """Check SPEC: schema, paths, filters. Exit 0 if valid, 2 if not (one line per problem)."""
    s = load(spec)
    n_filters = sum(len(src.filters) for src in s.sources)
    out.print(f"{spec}: ok ({len(s.sources)} sources, {n_filters} filters, output {s.output.path})")


@click.command()
@spec_argument
@master_option
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@verbose_option
@ui_option
def run(spec, master, overwrite, verbose, ui):
    """Run the mix in SPEC and write shards, rejects and manifest.json to its output path."""
    from engine.cli.common import announce_stages
    from engine.cli.summary import print_summary
    from engine.run import check_output, run as run_mix

    s = load(spec)
    with exit_codes("run", s, verbose, interrupted="interrupted: nothing was written to the output path") as failing:
        check_output(s, overwrite)   # before Spark starts: an existing output is refused at once
        inputs = announce_stages(s)
        with spark_progress(s, verbose, ui) as failing.progress:
            manifest = run_mix(s, master=master, overwrite=overwrite, progress=failing.progress.stage,
                               inputs=inputs)
    print_summary(out, manifest, s.output.path)
