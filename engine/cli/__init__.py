"""The `tamis` command: one verb per command. User errors are one line; exit codes per DESIGN.md."""
from __future__ import annotations

import json
import os
import sys

import click
from rich.console import Console

from engine.cli.display import lit, literal_console
from engine.spec import SpecError, load_spec

console = Console(stderr=True, highlight=False)
out = literal_console()   # prints paths, names and reasons: never parsed as markup


def _fail(msg: str, code: int):
    console.print(lit(("error:", "red"), " ", msg), soft_wrap=True)   # msg holds paths, exception text: literal
    sys.exit(code)


def _load(spec_path: str, check_paths: bool = True):
    try:
        return load_spec(spec_path, check_paths=check_paths)
    except SpecError as e:
        for p in e.problems:
            console.print(lit(p), soft_wrap=True)   # names and values from the spec: literal
        sys.exit(2)


def _one_line(e: BaseException) -> str:
    """The gist of an error: a Java exception's first line, not its stack trace."""
    from engine.cli.errors import gist

    return gist(e)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="tamis")
def main():
    """tamis: filter, dedup and mix pretraining data on Spark; audit it with DuckDB."""


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
def validate(spec):
    """Check SPEC: schema, paths, filters. Exit 0 if valid, 2 if not (one line per problem)."""
    s = _load(spec)
    n_filters = sum(len(src.filters) for src in s.sources)
    out.print(f"{spec}: ok ({len(s.sources)} sources, {n_filters} filters, output {s.output.path})")


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--master", default=None, help="Spark master URL (default: embedded local[*]).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--verbose", "-v", is_flag=True, help="Show the full stack trace on failure.")
def run(spec, master, overwrite, verbose):
    """Run the mix in SPEC and write shards, rejects and manifest.json to its output path."""
    from engine.plan.budgets import InfeasibleMix
    from engine.spark.progress import StageProgress
    from engine.run import OutputExists, check_output, run as run_mix

    s = _load(spec)
    try:
        check_output(s, overwrite)
    except OutputExists as e:
        _fail(str(e), 2)
    progress = None
    try:
        with StageProgress(console) as progress:
            manifest = run_mix(s, master=master, overwrite=overwrite, progress=progress.stage)
    except OutputExists as e:
        _fail(str(e), 2)
    except InfeasibleMix as e:
        _fail(f"infeasible mix: {e}", 2)
    except KeyboardInterrupt:
        _fail("interrupted: nothing was written to the output path", 1)
    except Exception as e:  # noqa: BLE001 - the CLI's job is to turn any failure into one line
        if verbose or os.environ.get("TAMIS_DEBUG"):
            console.print_exception()
        from engine.cli.errors import runtime_failure

        _fail(runtime_failure("run", e, s, progress), 1)
    from engine.cli.summary import print_summary

    print_summary(out, manifest, s.output.path)


def _register_optional_commands():
    """Commands that live in their own modules (audit, plan, package, cluster, ...)."""
    import importlib

    for mod in ("engine.cli.train", "engine.cli.audit", "engine.cli.ops", "engine.cli.plan"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


_register_optional_commands()

if __name__ == "__main__":
    # `python -m engine.cli`: this module runs as __main__, but the optional commands registered on the
    # importable `engine.cli.main`; run that one.
    from engine.cli import main as registered

    registered()
