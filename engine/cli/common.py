"""What every command shares: the two consoles, option decorators, loading a spec, and the one mapping from an
exception to a one-line message and an exit code (DESIGN.md: 0 ok, 2 the user's error, 1 a runtime failure).

No pyspark here: a command imports the Spark side lazily, inside its body, so `tamis --help` and `tamis
validate` start without a JVM.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import click
from rich.console import Console

from engine.display import lit, literal_console
from engine.settings import settings

console = Console(stderr=True, highlight=False)   # progress, errors: stderr
out = literal_console()   # results on stdout: paths, names and reasons, never parsed as markup

spec_argument = click.argument("spec", type=click.Path(dir_okay=False))
master_option = click.option("--master", default=None, help="Spark master URL (default: embedded local[*]).")
verbose_option = click.option("--verbose", "-v", is_flag=True,
                              help="Show the full stack trace on failure, and the JVM's output and Spark's warnings "
                                   "(else in <work dir>/spark-driver.log).")
ui_option = click.option("--ui", is_flag=True,
                         help="Turn the Spark UI on and print its URL (embedded runs: on 127.0.0.1 only).")

DRIVER_LOG = "spark-driver.log"   # in the work dir: the JVM's own output, unless --verbose


def log_dir(spec) -> str:
    """Where the driver's logs go: the work dir when it is local, else a local folder per mix under the
    cache dir (a log is written as it grows: no object store takes appends)."""
    from engine.settings import settings
    from engine.stages import work_dir
    from engine.storage import is_remote

    work = work_dir(spec)
    return str(settings().cache_dir / "logs" / spec.name) if is_remote(work) else work


def spark_progress(spec, verbose: bool, ui: bool):
    """The stage display of a command that runs Spark, with the JVM set to start quietly: its output goes to
    `<work dir>/spark-driver.log` unless `verbose`, and its UI is on with `ui` (the display prints the URL)."""
    from engine.spark.progress import StageProgress
    from engine.spark.session import launch_with

    launch_with(ui=ui, verbose=verbose, log=os.path.join(log_dir(spec), DRIVER_LOG))
    return StageProgress(console, ui=ui)


def announce_stages(spec) -> dict:
    """Print what the run will reuse and compute, per stage and source, before any Spark work (one line on
    stderr); returns the resolved inputs, for the run to use the same listing."""
    from engine.run import resolve_inputs
    from engine.stage_status import stage_status, status_line
    from engine.stages import work_dir

    inputs = resolve_inputs(spec)
    console.print(lit(status_line(stage_status(spec, inputs, work_dir(spec)))), soft_wrap=True)
    return inputs


def fail(msg: str, code: int) -> NoReturn:
    """`error: <msg>` on stderr, exit `code`."""
    console.print(lit(("error:", "red"), " ", msg), soft_wrap=True)   # msg holds paths, exception text: literal
    sys.exit(code)


def load(spec_path: str, check_paths: bool = True):
    """The spec at `spec_path`, or exit 2 printing one line per problem."""
    from engine.spec import SpecError, load_spec

    try:
        return load_spec(spec_path, check_paths=check_paths)
    except SpecError as e:
        for p in e.problems:
            console.print(lit(p), soft_wrap=True)   # names and values from the spec: literal
        sys.exit(2)


def user_error(e: BaseException) -> str | None:
    """The one line for an error the user can fix (exit 2): an existing or locked output, an unsafe output
    path, an infeasible mix, an output the audit refuses. None for anything else."""
    from engine.audit.views import AuditError
    from engine.plan.budgets import InfeasibleMix
    from engine.run import OutputExists

    from engine.cli.errors import unreadable_input

    if isinstance(e, InfeasibleMix):
        return f"infeasible mix: {e}"
    if line := unreadable_input(e):   # an input an executor cannot open: names the file and the host
        return line
    if isinstance(e, (OutputExists, AuditError)):   # OutputLocked and UnsafePath are OutputExists
        return str(e)
    return None


@dataclass
class Failing:
    """What the error mapper needs to know about the command it guards; `progress` is set by the command
    once its stage display runs (the one line then names the stage that failed)."""
    command: str
    spec: object = None
    verbose: bool = False
    interrupted: str = "interrupted"
    prefix: bool = True
    progress: object = None


@contextmanager
def exit_codes(command: str, spec=None, verbose: bool = False, interrupted: str = "interrupted",
               prefix: bool = True):
    """Run a command's body; turn any exception it raises into one line and an exit code.

    User errors (`user_error`) exit 2. Anything else exits 1: with a spec, `errors.runtime_failure` (the root
    OSError or the gist, the stage, and the full traceback in the work dir's log); without one, `<command>:
    <message>` (`prefix=False`: just the message). `--verbose` or `$TAMIS_DEBUG` also print the traceback.
    click's own exceptions (usage errors, `ClickException`) pass through to click.
    """
    state = Failing(command, spec, verbose, interrupted, prefix)
    try:
        yield state
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except KeyboardInterrupt:
        fail(state.interrupted, 1)
    except Exception as e:  # noqa: BLE001 - the CLI's job is to turn any failure into one line
        line = user_error(e)
        if line is not None:
            fail(line, 2)
        if state.verbose or settings().debug:
            console.print_exception()
        fail(_runtime_line(state, e), 1)


def _runtime_line(state: Failing, e: Exception) -> str:
    if state.spec is None:
        return f"{state.command}: {e}" if state.prefix else str(e)
    from engine.cli.errors import runtime_failure

    return runtime_failure(state.command, e, state.spec, state.progress)
