"""The `tamis` command: one verb per command, each a plain click command in its own module, added here.

Shared consoles, options and the exception → exit-code mapping are in `engine.cli.common`; exit codes per
DESIGN.md (0 ok, 2 the user's error, 1 a runtime failure), every error in one line.
"""
from __future__ import annotations

import click

# modules, not their commands: `engine.cli.plan` and `engine.cli.run` must stay the modules (tests patch them)
from engine.cli import audit, export, filters, gc, ops, plan, run, train
from engine.cli import sweep


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="tamis")
def main():
    """tamis: filter, dedup and mix pretraining data on Spark; audit it with DuckDB."""


main.add_command(run.validate)
main.add_command(run.run)
main.add_command(plan.plan)
main.add_command(audit.audit_cmd)
main.add_command(train.train_quality_cmd)
main.add_command(filters.filters_cmd)
main.add_command(ops.package)
main.add_command(ops.cluster)
main.add_command(export.export_cmd)
main.add_command(gc.gc_cmd)
main.add_command(sweep.sweep_cmd)
main.add_command(sweep.fit_cmd)
