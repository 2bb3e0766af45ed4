"""`tamis export OUTPUT --format megatron|nanotron|olmo [--to DIR]`: tokenized files for trainers.

Refusals (exit 2, one line) come before Spark starts: an output that is not committed, a tokenizer that is not
the output's, an existing destination without `--overwrite`. A shard whose checksum or token counts do not
match (found by its task) is refused too, and nothing is committed then.
"""
from __future__ import annotations

import os
import time

import click

from engine.cli.common import console, exit_codes, fail, master_option, out, verbose_option
from engine.display import lit
from engine.export import FORMATS, ExportError


@click.command("export")
@click.argument("output")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), required=True,
              help="megatron: <shard>.bin + .idx (Megatron-LM, NeMo); nanotron: datatrove's .ds + .ds.index; "
                   "olmo: OLMo-core's token array .npy + .csv.gz document index.")
@click.option("--to", "dest", default=None, help="Export folder or URI (default: OUTPUT/export-<format>).")
@click.option("--tokenizer", default=None,
              help="Refuse unless the output was counted with this tokenizer (default: the output's own).")
@click.option("--overwrite", is_flag=True, help="Replace an existing export at the destination.")
@master_option
@verbose_option
def export_cmd(output, fmt, dest, tokenizer, overwrite, master, verbose):
    """Tokenize the committed output OUTPUT (a folder or a URI) with its own tokenizer, end-of-text after every
    document, one file set per shard in the output's shard order, plus DEST/manifest.json (format, tokenizer,
    dtype, EOS id, files with sha256, Megatron's --data-path weights)."""
    from engine.export.job import default_dest

    output = output.rstrip("/") or output
    dest = dest or default_dest(output, fmt)
    with exit_codes("export", verbose=verbose, interrupted="interrupted: nothing was committed") as failing:
        try:
            manifest = _run(output, fmt, dest, tokenizer, overwrite, master, verbose, failing)
        except ExportError as e:
            fail(str(e), 2)
        except Exception as e:  # noqa: BLE001 - a Spark failure: its root cause in one line, not the JVM's trace
            if verbose:
                raise
            fail(f"export: {_cause(e)}", 1)
    _summary(manifest, dest)


def _run(output, fmt, dest, tokenizer, overwrite, master, verbose, failing) -> dict:
    from engine.export.job import export
    from engine.settings import settings
    from engine.spark.export import export_shards
    from engine.spark.progress import StageProgress
    from engine.spark.session import get_spark, launch_with

    # the JVM's own output goes to a log file (unless --verbose), as for `tamis run`
    launch_with(verbose=verbose, log=os.path.join(str(settings().cache_dir), "logs", "export", "spark-driver.log"))

    def on_spark(tasks):
        spark = get_spark(master)   # before the export stage: its line times the export alone
        failing.progress.stage("export", f"tokenizing {len(tasks)} shards ({fmt})")
        results = export_shards(spark, tasks)
        failing.progress.tokens = sum(r.get("tokens", 0) for r in results)
        return results

    with _progress(StageProgress) as failing.progress:
        return export(output, fmt, dest, tokenizer, overwrite, run_tasks=on_spark, say=failing.progress.stage)


def _progress(base):
    """`tamis run`'s stage display, whose line for the export stage counts tokens: Spark counts no rows
    for work done in Python tasks."""
    from engine.spark.progress import _secs

    class ExportProgress(base):
        tokens: int | None = None

        def _end(self):
            secs = max(time.time() - self.t0, 1e-3)
            if self.name == "export" and self.tokens is not None:
                line = f"export  {self.tokens:,} tokens  {self.tokens / secs:,.0f} tokens/s  {_secs(secs)}"
            elif self.name == "commit":
                line = f"commit  manifest.json, _SUCCESS  {_secs(secs)}"
            else:
                return super()._end()
            self.console.print(lit(("✓", "green"), " ", line))
            self.ended.append(self.name)

    return ExportProgress(console)


def _cause(e: BaseException) -> str:
    from engine.cli.errors import exception_text, gist, os_cause

    cause = os_cause(exception_text(e))
    return str(cause) if cause else gist(e)


def _summary(m: dict, dest: str):
    out.print(lit(f"tamis export: {m['format']} → {dest}"), soft_wrap=True)
    out.print(lit(f"  {len(m['sets'])} file sets, {len(m['files'])} files, {m['documents']:,} documents, "
                  f"{m['tokens']:,} tokens ({m['dtype']}, {m['tokenizer']['name']}, EOS {m['eos_id']} after "
                  "every document)"), soft_wrap=True)
    if m.get("data_path"):
        out.print(lit(f"  Megatron --data-path (from {dest}): {m['data_path']}"), soft_wrap=True)
