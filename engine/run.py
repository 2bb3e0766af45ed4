"""`tamis run`: annotate -> dedup -> mix -> write, with stage checkpoints and an atomic commit.

Stages persist Parquet under a work directory keyed by a hash of what they depend on (the relevant part
of the spec and the input files' names, sizes and mtimes), so a rerun after a crash, or a mix whose
weights changed, reuses what is still valid. The output is built in a hidden sibling folder and renamed
into place after `_SUCCESS` is written: a failed or killed run leaves nothing at the output path.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from engine.spec import MixSpec, source_files

TAMIS_VERSION = "0.1.0"


class OutputExists(Exception):
    pass


# ---------------------------------------------------------------- stage keys and work dir


def _inputs_fingerprint(source) -> list:
    out = []
    for p in source_files(source):
        for f in ([p] if os.path.isfile(p) else sorted(glob.glob(os.path.join(p, "**", "*"), recursive=True))):
            try:
                st = os.stat(f)
                out.append([f, st.st_size, int(st.st_mtime)])
            except OSError:
                out.append([f, None, None])
    return out


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


ANNOTATE_CODE = ("filters/*.py", "engine/readers/**/*.py", "engine/spark/annotate.py", "engine/extract.py",
                 "engine/tokenize.py", "engine/spark/thresholds.py", "engine/schema.py", "engine/spark/ids.py")
DEDUP_CODE = ("engine/spark/dedup.py", "engine/dedup/minhash.py")


def code_fingerprint(patterns=ANNOTATE_CODE) -> str:
    """A hash of the code that computes a stage's result, so a changed filter or reader never reuses stale ones."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted({f for pattern in patterns for f in root.glob(pattern)}):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def stage_keys(spec: MixSpec) -> dict[str, str]:
    """What each stage's result depends on; a change elsewhere in the spec reuses it."""
    mix_only = {"weight", "tokens", "max_epochs", "group_by", "temperature", "group_weights", "min_share", "max_share"}
    sources = [{**s.model_dump(exclude=mix_only, mode="json"), "inputs": _inputs_fingerprint(s)} for s in spec.sources]
    annotate = _digest({"v": TAMIS_VERSION, "code": code_fingerprint(), "tokenizer": spec.tokenizer, "sources": sources})
    dedup = _digest({"annotate": annotate, "code": code_fingerprint(DEDUP_CODE), "dedup": spec.dedup.model_dump(mode="json") if spec.dedup else None})
    return {"annotate": annotate, "dedup": dedup}


def work_dir(spec: MixSpec) -> str:
    return spec.output.work_dir or spec.output.path.rstrip("/") + ".work"


def stage_complete(path: str) -> bool:
    """A stage folder only ever appears under its final name complete (see `_stage`)."""
    return os.path.isfile(os.path.join(path, "_SUCCESS"))


def _stage_tmp_prefix(path: str) -> str:
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-")


def _clean_stale_stage_tmp(path: str):
    """Remove build folders of this stage left by killed runs: on this host, of a process no longer alive."""
    from engine.spark.cluster import alive   # zombies count as dead
    import socket

    host = socket.gethostname()
    for d in glob.glob(glob.escape(_stage_tmp_prefix(path)) + "*"):
        parts = d[len(_stage_tmp_prefix(path)):].rsplit("-", 2)
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not alive(int(parts[1])):
            shutil.rmtree(d, ignore_errors=True)
        elif time.time() - os.path.getmtime(d) > 7 * 86400:
            shutil.rmtree(d, ignore_errors=True)


def _stage(spark, path: str, build, reused: dict, name: str):
    """Read the stage's Parquet when a completed one exists, else build it, write it, and read it back.

    The stage is written to a hidden sibling (`.<stage>.tmp-<host>-<pid>-<rand>`) and renamed to its final
    name only after Spark committed every task and `_SUCCESS` exists, so a folder under the final name is
    always complete: a run killed mid-stage leaves only a hidden build folder, removed by the next run.
    """
    from engine import transient

    if stage_complete(path) and transient.before_build(path, reused, name):
        reused[name] = True
        return spark.read.parquet(path)
    reused[name] = False
    import socket

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    _clean_stale_stage_tmp(path)
    tmp = f"{_stage_tmp_prefix(path)}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        build().write.mode("overwrite").parquet(tmp)
        transient.after_build(spark, tmp, reused, name)   # transient read errors: written, never reused
        Path(tmp, "_SUCCESS").touch()            # also when the committer is told not to write it
        if os.path.lexists(path):                # an incomplete folder from an older tamis: never trusted
            shutil.rmtree(path)
        try:
            os.rename(tmp, path)
        except OSError:
            if not stage_complete(path):         # a concurrent run of the same stage finished first: fine
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return spark.read.parquet(path)


# ---------------------------------------------------------------- run


class UnsafePath(OutputExists):
    """An output, work dir or input path that tamis refuses (exit 2, one line)."""


def check_paths(spec: MixSpec):
    from engine.spec.paths import canonicalize, path_problems

    problems = path_problems(spec)
    if problems:
        raise UnsafePath(problems[0][1])
    canonicalize(spec)   # the run writes exactly the real folders just checked (a spec may be built in code)


def check_output(spec: MixSpec, overwrite: bool):
    check_paths(spec)
    out = spec.output.path
    if os.path.exists(out) and os.listdir(out) and not overwrite:
        raise OutputExists(f"output exists: {out} (use --overwrite to replace it)")


def prepare(spark, spec: MixSpec, say=lambda *_: None):
    """Stages 1-2: annotated documents (read + filters + tokens), then dedup; each reused when done before.

    Returns (DataFrame of every record with `reason` null for the kept ones, {stage: reused}, work dir).
    """
    from engine.spark.annotate import annotate_source

    keys = stage_keys(spec)
    work = work_dir(spec)
    from engine.spark.transient import StageLog

    reused = StageLog()                        # {stage: reused}, and why a stage was recomputed

    say("annotate", "reading and filtering")

    def annotated():
        dfs = [annotate_source(spark, spec, s) for s in spec.sources]
        df = dfs[0]
        for d in dfs[1:]:
            df = df.unionByName(d, allowMissingColumns=True)
        return df

    df = _stage(spark, os.path.join(work, f"annotate-{keys['annotate']}"), annotated, reused, "annotate")
    from engine.spark.ids import unique_ids

    df = unique_ids(df)      # everything below joins, samples and counts on id: make it unique per mix
    from engine.spark.thresholds import apply_global_thresholds, deferred

    if any(deferred(s.filters) for s in spec.sources):   # source-wide thresholds (quality top_percent)
        say("thresholds", "source-wide quantile thresholds")
        base = df
        df = _stage(spark, os.path.join(work, f"thresholds-{keys['annotate']}"),
                    lambda: apply_global_thresholds(base, spec)[0], reused, "thresholds")
    if spec.dedup:
        say("dedup", "exact and near-duplicate detection")
        from engine.spark.dedup import dedup

        base = df
        df = _stage(spark, os.path.join(work, f"dedup-{keys['dedup']}"), lambda: dedup(base, spec.dedup),
                    reused, "dedup")
    return df, reused, work


def run(spec: MixSpec, master: str | None = None, overwrite: bool = False, progress=None) -> dict:
    """Run the mix holding the output's lock (engine/output.py): a concurrent run on it is refused."""
    from engine.output import acquire

    check_output(spec, overwrite)
    out = spec.output.path.rstrip("/")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    lock = acquire(out)
    try:
        return _run_locked(spec, master, overwrite, progress, lock)
    finally:
        lock.release()


def _run_locked(spec: MixSpec, master, overwrite: bool, progress, lock) -> dict:
    from pyspark.sql import functions as F

    from engine.spark.ids import add_renamed, renamed_count
    from engine.plan.budgets import apply_mix, available_tokens, plan_mix
    from engine.spark.session import get_spark
    from engine.spark.write import shard_count, write_shards

    check_output(spec, overwrite)
    say = progress or (lambda *_: None)
    started = time.time()
    out = spec.output.path.rstrip("/")
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    _clean_stale_tmp(out)
    from engine.manifest_check import check_output_files
    from engine.output import build_dir, test_pause

    tmp = build_dir(out)                        # .<name>.tmp-<host>-<pid>-<rand>: cleaned once its owner is gone
    os.makedirs(tmp)
    try:
        spark = get_spark(master, conf=spec.spark)
        df, reused, work = prepare(spark, spec, say)

        # 3. counts per source and reason (aggregates only, never documents)
        reason_key = F.when(F.col("reason").startswith("duplicate:"), F.lit("duplicate")).otherwise(F.col("reason"))
        # docs, tokens and text bytes per (source, reason) in one aggregate; every `*_skipped` value in another
        counts = (df.groupBy("source", reason_key.alias("reason"))
                    .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens"),
                         F.sum(F.length("text")).alias("text_bytes"), renamed_count().alias("renamed")).collect())
        skip_cols = [c for c in df.columns if c.endswith("_skipped")]
        skips = {}
        if skip_cols:
            values = F.array(*[F.when(F.col(c).isNotNull(), F.concat(F.lit(f"{c}:"), F.col(c))) for c in skip_cols])
            for r in (df.select("source", F.explode(values).alias("skip")).where(F.col("skip").isNotNull())
                        .groupBy("source", "skip").count().collect()):
                skips.setdefault(r["source"], {})[r["skip"]] = r["count"]

        # 4. mix by tokens
        say("mix", "planning the token budget")
        kept = df.where(F.col("reason").isNull())
        available = available_tokens(kept, spec)
        plan = plan_mix(spec, available)          # raises InfeasibleMix before anything is written
        say("mix", "sampling documents by hash(seed, id)")
        mixed = apply_mix(kept, spec, plan).drop("reason", "reasons")

        # 5. shards, rejects, manifest
        say("write", "writing shards")
        text_bytes = sum(r["text_bytes"] or 0 for r in counts if r["reason"] is None)
        n_shards = shard_count(int(text_bytes * plan.expected_ratio), spec.output.shard_mb)
        shards = write_shards(mixed, tmp, spec.seed, n_shards)
        from engine.plan.budgets import realized_tokens

        realized = realized_tokens(mixed, spec)   # per leaf: docs, tokens, synthetic tokens, max epoch
        reject_shards = []
        if spec.output.keep_rejects:
            say("write", "writing rejects")
            rejects = df.where(F.col("reason").isNotNull())
            rej_bytes = sum(r["text_bytes"] or 0 for r in counts if r["reason"] is not None)
            reject_shards = write_shards(rejects, os.path.join(tmp, "rejects"), spec.seed,
                                         shard_count(rej_bytes, spec.output.shard_mb), prefix="rejects")
        manifest = build_manifest(spec, counts, skips, plan, realized, shards, reject_shards, reused, work,
                                  time.time() - started, master or spark.sparkContext.master)
        add_renamed(manifest, df, counts)         # per source: ids_renamed, ids_renamed_examples
        Path(tmp, "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        test_pause("TAMIS_TEST_PAUSE_BEFORE_VERIFY")
        check_output_files(tmp, manifest)          # every listed file there, with its size and sha256
        Path(tmp, "_SUCCESS").write_text("")
        test_pause("TAMIS_TEST_PAUSE_BEFORE_COMMIT")   # lets tests kill a run at its worst moment
        lock.check()                               # never commit after another run took the output over
        _commit(tmp, out, overwrite)
        say("done", out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _clean_stale_tmp(out: str):
    """Remove build folders that a killed run left next to the output (they never hold committed data).

    A run killed between the two renames of `_commit` leaves the previous output as `.<name>.old-*` and
    nothing at `<path>`: that previous output is put back first.
    """
    from engine.output import clean_stale_builds

    clean_stale_builds(out)                      # only folders whose owner is gone (engine/output.py)


def _commit(tmp: str, out: str, overwrite: bool):
    """Move the finished output into place: a rename on the same filesystem, never a partial copy."""
    for f in glob.glob(os.path.join(glob.escape(tmp), "**", "*.inprogress"), recursive=True):
        os.remove(f)                             # a killed task attempt's file; its retry wrote the shard
    if os.path.dirname(os.path.realpath(out)) == os.path.realpath(out) or os.path.realpath(out) == os.path.expanduser("~"):
        raise UnsafePath(f"refusing to replace {out}")
    old = None
    if os.path.exists(out):
        if not overwrite and os.listdir(out):
            raise OutputExists(f"output exists: {out} (use --overwrite to replace it)")
        from engine.output import build_dir

        old = build_dir(out, "old")
        os.rename(out, old)
    os.rename(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- manifest


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"tamis": TAMIS_VERSION}
    for pkg in ("pyspark", "pyarrow", "datatrove", "datasketch", "bpe-openai", "fasttext-numpy2-wheel",
                "trafilatura", "resiliparse", "warcio", "duckdb", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def build_manifest(spec, counts, skips, plan, realized, shards, reject_shards, reused, work, seconds, master) -> dict:
    per_source = {}
    for s in spec.sources:
        rows = [r for r in counts if r["source"] == s.name]
        dropped = {r["reason"]: r["docs"] for r in rows if r["reason"] is not None}
        kept = sum(r["docs"] for r in rows if r["reason"] is None)
        kept_tokens = sum(r["tokens"] or 0 for r in rows if r["reason"] is None)
        out_rows = [r for r in realized if r["source"] == s.name]
        per_source[s.name] = {
            "kind": s.kind,
            "files": len(source_files(s)),
            "docs_read": sum(r["docs"] for r in rows),
            "docs_unreadable": sum(v for k, v in dropped.items() if k.startswith("read:")),
            "docs_dropped": dict(sorted(dropped.items())),
            "rules_skipped": skips.get(s.name, {}),
            "docs_kept": kept,
            "tokens_kept": kept_tokens,
            "docs_written": sum(r["docs"] for r in out_rows),
            "tokens_written": sum(r["tokens"] or 0 for r in out_rows),
            "epochs_used": (max((r["max_epoch"] or 0) for r in out_rows) + 1) if out_rows else 0,
            "filters": [f.versioned_name for f in s.filters],
        }
    return {
        "name": spec.name,
        "spec_sha256": spec.spec_sha256,
        "spec_path": spec.spec_path,
        "seed": spec.seed,
        "tokenizer": spec.tokenizer,
        "target_tokens": spec.target_tokens,
        "versions": _versions(),
        "master": master,
        "seconds": round(seconds, 2),
        "stages": {name: {"reused": r, **getattr(reused, "notes", {}).get(name, {})} for name, r in reused.items()},
        "work_dir": work,
        "sources": per_source,
        "leaves": plan.manifest_leaves(realized),
        "mix": {"mode": plan.mode, "target_tokens": plan.target_tokens,
                "requested_tokens": plan.requested_tokens,
                "synthetic_max_share": plan.synthetic_max_share, "synthetic_capped": plan.synthetic_capped,
                "synthetic_share_requested": round(plan.synthetic_share, 6),
                "synthetic_share_realized": round(sum(r.get("synthetic_tokens") or 0 for r in realized)
                                                  / (sum(r["tokens"] or 0 for r in realized) or 1), 6),
                "notes": plan.notes},
        "totals": {
            "docs_read": sum(v["docs_read"] for v in per_source.values()),
            "docs_written": sum(sh["rows"] for sh in shards),
            "tokens_written": sum(sh["tokens"] for sh in shards),
            "shards": len(shards),
            "rejects": sum(sh["rows"] for sh in reject_shards),
        },
        "shards": shards,
        "rejects": reject_shards,
    }
