"""`tamis run`: score -> dedup clusters -> decide -> mix -> write, with stored stages and an atomic commit.

Orchestration only. The inputs are listed once (engine.spec.paths.resolve_source) and that one list feeds
the stage keys, the score tasks and the manifest. Signals (per source and input file) and dedup clusters
are stored under the work dir (engine/stage_keys.py, engine/stages.py); decisions are recomputed from them
every run. A local output is built in a hidden sibling folder, checked against its manifest and
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
from engine.gc import record_output
from engine.datasheet import write_datasheet
from engine.plan.manifest import build_manifest, with_datasheet
from engine.spec import MixSpec
from engine.spec.paths import resolve_source
from engine.stage_keys import dedup_key
from engine.stages import StageLog, committed, note, stage, work_dir


def resolve_inputs(spec: MixSpec) -> dict:
    """{source name: ResolvedSource}: every input file listed once for the whole run."""
    return {s.name: resolve_source(s) for s in spec.sources}


def score(spark, spec: MixSpec, say=lambda *_: None, inputs: dict | None = None) -> dict:
    """Stage 1: every source's signals, stored per source and input file (reused when computed before), ids
    made unique. {"scored": DataFrame, "log": StageLog, "work": work dir, "keys", "parts"} for `prepare`."""
    from engine.spark.ids import unique_ids
    from engine.spark.score import score_sources

    inputs = inputs if inputs is not None else resolve_inputs(spec)
    work, log = work_dir(spec), StageLog()
    say("score", "reading and scoring")
    scored, ids, keys, parts = score_sources(spark, spec, inputs, work, log)
    scored = unique_ids(scored, ids)   # everything below joins, samples and counts on id: unique per mix
    return {"scored": scored, "log": log, "work": work, "keys": keys, "parts": parts}


def prepare(spark, spec: MixSpec, say=lambda *_: None, inputs: dict | None = None, signals: dict | None = None):
    """Signals (`score`), dedup clusters (stored), then the decisions over them (recomputed every run: a
    threshold edit re-decides without re-scoring).

    Returns (DataFrame of every record with `reason` null for the kept ones, persisted: `release` it when
    done; the StageLog {stage: reused} with per-source notes; the work dir)."""
    from engine.spark.decide import decide

    signals = signals or score(spark, spec, say, inputs)
    scored, log, work = signals["scored"], signals["log"], signals["work"]
    clusters = None
    if spec.dedup:
        from engine.spark.dedup import dedup_clusters

        say("dedup", "exact and near-duplicate clusters")
        path = storage.join(work, f"dedup-{dedup_key(spec, signals['keys'], signals['parts'])}")
        clusters = stage(spark, path, lambda: dedup_clusters(scored, spec.dedup), log, "dedup")
        note(log, "dedup", stage=storage.basename(path))
    say("decide", "thresholds over the stored signals")
    df = decide(scored, spec)
    if clusters is not None:
        from engine.spark.dedup import apply_dedup

        df = apply_dedup(df, clusters, spec.dedup, members=(committed(path) or {}).get("rows"))
    log["decide"] = False
    return df.persist(), log, work


def release(df):
    """Free what `prepare` persisted (a test session runs many mixes)."""
    if df is not None:
        df.unpersist()


def run(spec: MixSpec, master: str | None = None, overwrite: bool = False, progress=None,
        inputs: dict | None = None) -> dict:
    """Run the mix holding the output's lock (engine/output.py): a concurrent run on it is refused.
    `inputs`: the resolved inputs when the caller listed them already (the CLI, to announce the stages)."""
    storage.configure(spec.storage.options())   # this process's store options; tasks get them in closures
    check_output(spec, overwrite)
    out = spec.output.path.rstrip("/")
    storage.makedirs(storage.dirname(out) or ".")
    lock = output.acquire(out)
    try:
        return _run_locked(spec, master, overwrite, progress, lock, inputs)
    finally:
        lock.release()


def _run_locked(spec: MixSpec, master, overwrite: bool, progress, lock, inputs: dict | None) -> dict:
    from engine.diversity import check_limits
    from engine.spark.diversity import diversity
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
    df = None
    try:
        spark = get_spark(master, conf=spec.spark)
        inputs = inputs if inputs is not None else resolve_inputs(spec)
        df, reused, work = prepare(spark, spec, say, inputs)
        quality = diversity(df, spec)           # languages, synthetic diversity: aggregates, bounded samples
        check_limits(quality, spec)             # a generator below the spec's diversity limits: exit 2
        record_output(work, out)                # before the commit: `tamis gc` keeps what this output uses
        counts, skips = reason_counts(df)       # per source and reason: aggregates only, never documents
        plan, realized, shards, reject_shards, aggregates = _mix_and_write(spec, df, counts, tmp, say)
        manifest = build_manifest(spec, files={name: len(r.paths) for name, r in inputs.items()},
                                  counts=counts, skips=skips, plan=plan, realized=realized, shards=shards,
                                  reject_shards=reject_shards, stages=reused, work_dir=work,
                                  seconds=time.time() - started, master=master or spark.sparkContext.master,
                                  renamed=renamed_ids(df, counts), diversity=quality)
        manifest = with_datasheet(manifest, write_datasheet(tmp, spec, manifest, inputs, aggregates))
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
    finally:
        release(df)


def _mix_and_write(spec: MixSpec, df, counts, tmp: str, say):
    """Plan the token budget, sample by hash(seed, id), write shards (and rejects) into `tmp`; the counts the
    datasheet needs."""
    from engine.plan.budgets import plan_mix
    from engine.spark.datasheet import datasheet_aggregates
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
    expected = int(text_bytes(counts, kept=True) * plan.expected_ratio)
    shards = write_shards(mixed, tmp, spec.seed, shard_count(expected, spec.output.shard_mb), text_bytes=expected)
    realized = realized_tokens(mixed, spec)   # per leaf: docs, tokens, synthetic tokens, max epoch
    aggregates = datasheet_aggregates(mixed, df)   # licences, languages, generators, benchmark matches: counts
    reject_shards = []
    if spec.output.keep_rejects:
        say("write", "writing rejects")
        rejected = text_bytes(counts, kept=False)
        reject_shards = write_shards(rejected_docs(df), storage.join(tmp, "rejects"), spec.seed,
                                     shard_count(rejected, spec.output.shard_mb), prefix="rejects",
                                     text_bytes=rejected)
    return plan, realized, shards, reject_shards, aggregates
