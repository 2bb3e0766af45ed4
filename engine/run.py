"""`tamis run`: annotate -> dedup -> mix -> write, with stage checkpoints and an atomic commit.

Orchestration only. The inputs are listed once (engine.spec.paths.resolve_source) and that one list feeds
the stage keys, the annotate tasks and the manifest. Stages are cached under the work dir
(engine/stages.py); a local output is built in a hidden sibling folder, checked against its manifest and
renamed into place (engine/output.py): a failed or killed run leaves nothing at the output path. A remote
output (object store) is written in place and committed by `_SUCCESS`, written last (output.finish_remote).
Spark work lives in engine/spark/, the mix plan and the manifest in engine/plan/.
"""
from __future__ import annotations

import os
import shutil
import time

from engine import output, storage
# re-exported: the CLI and callers of `run` import these from here
from engine.output import OutputExists, UnsafePath, check_output  # noqa: F401
from engine.plan.manifest import build_manifest
from engine.spec import MixSpec
from engine.spec.paths import resolve_source
from engine.stages import StageLog, stage, stage_keys, work_dir  # noqa: F401


def resolve_inputs(spec: MixSpec) -> dict:
    """{source name: ResolvedSource}: every input file listed once for the whole run."""
    return {s.name: resolve_source(s) for s in spec.sources}


def prepare(spark, spec: MixSpec, say=lambda *_: None, inputs: dict | None = None):
    """Stages 1-2: annotated documents (read + filters + tokens), then dedup; each reused when done before.

    Returns (DataFrame of every record with `reason` null for the kept ones, {stage: reused}, work dir).
    """
    from engine.spark.annotate import annotate_source
    from engine.spark.ids import unique_ids
    from engine.spark.thresholds import apply_global_thresholds, deferred

    inputs = inputs if inputs is not None else resolve_inputs(spec)
    keys, work = stage_keys(spec, inputs), work_dir(spec)
    reused = StageLog()                        # {stage: reused}, and why a stage was recomputed

    def annotated():
        dfs = [annotate_source(spark, spec, inputs[s.name]) for s in spec.sources]
        df = dfs[0]
        for d in dfs[1:]:
            df = df.unionByName(d, allowMissingColumns=True)
        return df

    say("annotate", "reading and filtering")
    df = stage(spark, storage.join(work, f"annotate-{keys['annotate']}"), annotated, reused, "annotate")
    df = unique_ids(df)      # everything below joins, samples and counts on id: make it unique per mix
    if any(deferred(s.filters) for s in spec.sources):   # source-wide thresholds (quality top_percent)
        say("thresholds", "source-wide quantile thresholds")
        base = df
        df = stage(spark, storage.join(work, f"thresholds-{keys['annotate']}"),
                   lambda: apply_global_thresholds(base, spec)[0], reused, "thresholds")
    if spec.dedup:
        from engine.spark.dedup import dedup

        say("dedup", "exact and near-duplicate detection")
        base = df
        df = stage(spark, storage.join(work, f"dedup-{keys['dedup']}"), lambda: dedup(base, spec.dedup),
                   reused, "dedup")
    return df, reused, work


def run(spec: MixSpec, master: str | None = None, overwrite: bool = False, progress=None) -> dict:
    """Run the mix holding the output's lock (engine/output.py): a concurrent run on it is refused."""
    storage.configure(spec.storage.options())   # this process's store options; tasks get them in closures
    check_output(spec, overwrite)
    out = spec.output.path.rstrip("/")
    storage.makedirs(storage.dirname(out) or ".")
    lock = output.acquire(out)
    try:
        return _run_locked(spec, master, overwrite, progress, lock)
    finally:
        lock.release()


def _run_locked(spec: MixSpec, master, overwrite: bool, progress, lock) -> dict:
    from engine.spark.ids import renamed_ids
    from engine.spark.session import get_spark
    from engine.spark.stats import reason_counts

    check_output(spec, overwrite)
    say = progress or (lambda *_: None)
    started = time.time()
    out = spec.output.path.rstrip("/")
    remote = storage.is_remote(out)
    if remote:
        output.start_remote(out)                # `_SUCCESS` first: the old output is no longer committed
        tmp = out                               # deterministic names in place; leftovers go at the commit
    else:
        output.clean_stale_builds(out)          # only folders whose owner is gone; restores a half-committed one
        tmp = output.build_dir(out)             # .<name>.tmp-<host>-<pid>-<rand>: cleaned once its owner is gone
        os.makedirs(tmp)
    try:
        spark = get_spark(master, conf=spec.spark)
        inputs = resolve_inputs(spec)
        df, reused, work = prepare(spark, spec, say, inputs)
        counts, skips = reason_counts(df)       # per source and reason: aggregates only, never documents
        plan, realized, shards, reject_shards = _mix_and_write(spec, df, counts, tmp, say)
        manifest = build_manifest(spec, files={name: len(r.paths) for name, r in inputs.items()},
                                  counts=counts, skips=skips, plan=plan, realized=realized, shards=shards,
                                  reject_shards=reject_shards, stages=reused, work_dir=work,
                                  seconds=time.time() - started, master=master or spark.sparkContext.master,
                                  renamed=renamed_ids(df, counts))
        if remote:
            output.finish_remote(out, manifest, lock)      # manifest.json, verify, leftovers, _SUCCESS
        else:                                              # manifest.json, verify, _SUCCESS, commit
            output.finish(tmp, out, manifest, overwrite, lock, master or spark.sparkContext.master)
        say("done", out)
        return manifest
    except BaseException:
        if not remote:   # a remote output without `_SUCCESS` is not committed; the next run removes its files
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _mix_and_write(spec: MixSpec, df, counts, tmp: str, say):
    """Stages 3-4: plan the token budget, sample by hash(seed, id), write shards (and rejects) into `tmp`."""
    from engine.plan.budgets import plan_mix
    from engine.spark.sample import apply_mix, available_tokens, realized_tokens
    from engine.spark.stats import kept_docs, rejected_docs, text_bytes
    from engine.spark.write import shard_count, write_shards

    say("mix", "planning the token budget")
    kept = kept_docs(df)
    available = available_tokens(kept, spec)
    plan = plan_mix(spec, available)          # raises InfeasibleMix before anything is written
    say("mix", "sampling documents by hash(seed, id)")
    mixed = apply_mix(kept, spec, plan).drop("reason", "reasons")
    say("write", "writing shards")
    n_shards = shard_count(int(text_bytes(counts, kept=True) * plan.expected_ratio), spec.output.shard_mb)
    shards = write_shards(mixed, tmp, spec.seed, n_shards)
    realized = realized_tokens(mixed, spec)   # per leaf: docs, tokens, synthetic tokens, max epoch
    reject_shards = []
    if spec.output.keep_rejects:
        say("write", "writing rejects")
        reject_shards = write_shards(rejected_docs(df), storage.join(tmp, "rejects"), spec.seed,
                                     shard_count(text_bytes(counts, kept=False), spec.output.shard_mb),
                                     prefix="rejects")
    return plan, realized, shards, reject_shards
