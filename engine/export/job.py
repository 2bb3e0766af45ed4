"""An export from start to commit, with the shard tasks run by the caller: on Spark by the CLI
(engine.spark.export.export_shards), in this process by tests and small tools (`in_process`)."""
from __future__ import annotations

import time

from engine import storage
from engine.export import ExportError, commit, source
from engine.export.base import token_dtype
from engine.export.shard import export_shard


def default_dest(output: str, fmt: str) -> str:
    return storage.join(output.rstrip("/") or output, f"export-{fmt}")


def in_process(tasks: list[dict]) -> list[dict]:
    return [export_shard(t) for t in tasks]


def export(output: str, fmt: str, dest: str | None = None, tokenizer: str | None = None, overwrite: bool = False,
           run_tasks=in_process, say=None) -> dict:
    """Export the committed output `output` as `fmt` into `dest`; returns the export's manifest.

    `run_tasks(tasks) -> results` runs engine.export.shard.export_shard on every task; `say(stage, detail)`
    is told of the commit. Refusals are ExportError (one line); a failed export commits nothing."""
    say = say or (lambda *_: None)
    output = output.rstrip("/") or output
    dest = dest or default_dest(output, fmt)
    manifest = source.committed_manifest(output)
    name = source.resolve_tokenizer(manifest, tokenizer)
    tok = source.tokenizer_facts(name)
    source.check_first_shard(output, manifest, name)
    build = commit.prepare(dest, output, overwrite)
    try:
        started = time.time()
        results = run_tasks(source.shard_tasks(output, manifest, build, fmt, tok))
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            more = f" (and {len(errors) - 1} more shards)" if len(errors) > 1 else ""
            raise ExportError(f"refusing to export: {errors[0]}{more}")
        say("commit", "manifest.json, _SUCCESS")
        m = commit.build_manifest(fmt, output, manifest, tok, token_dtype(fmt, tok["vocab_size"]), results,
                                  time.time() - started)
        commit.finish(build, dest, m, overwrite)
        say("done", dest)
        return m
    except BaseException:
        commit.discard(build, dest)
        raise
