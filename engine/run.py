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


def stage_keys(spec: MixSpec) -> dict[str, str]:
    """What each stage's result depends on; a change elsewhere in the spec reuses it."""
    mix_only = {"weight", "tokens", "max_epochs", "group_by", "temperature", "group_weights", "min_share", "max_share"}
    sources = [{**s.model_dump(exclude=mix_only, mode="json"), "inputs": _inputs_fingerprint(s)} for s in spec.sources]
    annotate = _digest({"v": TAMIS_VERSION, "tokenizer": spec.tokenizer, "sources": sources})
    dedup = _digest({"annotate": annotate, "dedup": spec.dedup.model_dump(mode="json") if spec.dedup else None})
    return {"annotate": annotate, "dedup": dedup}


def work_dir(spec: MixSpec) -> str:
    return spec.output.work_dir or spec.output.path.rstrip("/") + ".work"


def _stage(spark, path: str, build, reused: dict, name: str):
    """Read the stage's Parquet when a completed one exists, else build it, write it, and read it back."""
    if os.path.exists(os.path.join(path, "_SUCCESS")):
        reused[name] = True
        return spark.read.parquet(path)
    reused[name] = False
    build().write.mode("overwrite").parquet(path)
    return spark.read.parquet(path)


# ---------------------------------------------------------------- run


def check_output(spec: MixSpec, overwrite: bool):
    out = spec.output.path
    if os.path.exists(out) and os.listdir(out) and not overwrite:
        raise OutputExists(f"output exists: {out} (use --overwrite to replace it)")


def prepare(spark, spec: MixSpec, say=lambda *_: None):
    """Stages 1-2: annotated documents (read + filters + tokens), then dedup; each reused when done before.

    Returns (DataFrame of every record with `reason` null for the kept ones, {stage: reused}, work dir).
    """
    from engine.pipeline import annotate_source

    keys = stage_keys(spec)
    work = work_dir(spec)
    reused: dict[str, bool] = {}

    say("annotate", "reading and filtering")

    def annotated():
        dfs = [annotate_source(spark, spec, s) for s in spec.sources]
        df = dfs[0]
        for d in dfs[1:]:
            df = df.unionByName(d, allowMissingColumns=True)
        return df

    df = _stage(spark, os.path.join(work, f"annotate-{keys['annotate']}"), annotated, reused, "annotate")
    if spec.dedup:
        say("dedup", "exact and near-duplicate detection")
        from engine.dedup import dedup

        base = df
        df = _stage(spark, os.path.join(work, f"dedup-{keys['dedup']}"), lambda: dedup(base, spec.dedup),
                    reused, "dedup")
    return df, reused, work


def run(spec: MixSpec, master: str | None = None, overwrite: bool = False, progress=None) -> dict:
    from pyspark.sql import functions as F

    from engine.mix import apply_mix, available_tokens, plan_mix
    from engine.spark import get_spark
    from engine.write import shard_count, write_shards

    check_output(spec, overwrite)
    say = progress or (lambda *_: None)
    started = time.time()
    out = spec.output.path.rstrip("/")
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    _clean_stale_tmp(out)
    tmp = os.path.join(parent, f".{os.path.basename(out)}.tmp-{uuid.uuid4().hex[:12]}")
    os.makedirs(tmp)
    try:
        spark = get_spark(master, conf=spec.spark)
        df, reused, work = prepare(spark, spec, say)

        # 3. counts per source and reason (aggregates only, never documents)
        reason_key = F.when(F.col("reason").startswith("duplicate:"), F.lit("duplicate")).otherwise(F.col("reason"))
        counts = (df.groupBy("source", reason_key.alias("reason"))
                    .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens")).collect())
        skip_cols = [c for c in df.columns if c.endswith("_skipped")]
        skips = {}
        for c in skip_cols:
            for r in df.where(F.col(c).isNotNull()).groupBy("source", c).count().collect():
                skips.setdefault(r["source"], {})[f"{c}:{r[c]}"] = r["count"]

        # 4. mix by tokens
        say("mix", "planning the token budget")
        kept = df.where(F.col("reason").isNull())
        available = available_tokens(kept, spec)
        plan = plan_mix(spec, available)
        mixed = apply_mix(kept, spec, plan).drop("reason", "reasons")

        # 5. shards, rejects, manifest
        say("write", "writing shards")
        text_bytes = kept.agg(F.sum(F.length("text"))).first()[0] or 0
        n_shards = shard_count(int(text_bytes * plan.expected_ratio), spec.output.shard_mb)
        shards = write_shards(mixed, tmp, spec.seed, n_shards)
        realized = mixed.groupBy("source", *plan.group_cols).agg(
            F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens"), F.max("epoch").alias("max_epoch")).collect()
        reject_shards = []
        if spec.output.keep_rejects:
            say("write", "writing rejects")
            rejects = df.where(F.col("reason").isNotNull())
            rej_bytes = rejects.agg(F.sum(F.length("text"))).first()[0] or 0
            reject_shards = write_shards(rejects, os.path.join(tmp, "rejects"), spec.seed,
                                         shard_count(rej_bytes, spec.output.shard_mb), prefix="rejects")
        manifest = build_manifest(spec, counts, skips, plan, realized, shards, reject_shards, reused, work,
                                  time.time() - started, master or spark.sparkContext.master)
        Path(tmp, "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        Path(tmp, "_SUCCESS").write_text("")
        if os.environ.get("TAMIS_TEST_PAUSE_BEFORE_COMMIT"):   # lets tests kill a run at its worst moment
            time.sleep(float(os.environ["TAMIS_TEST_PAUSE_BEFORE_COMMIT"]))
        _commit(tmp, out, overwrite)
        say("done", out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _clean_stale_tmp(out: str):
    """Remove build folders that a killed run left next to the output (they never hold committed data)."""
    for d in glob.glob(os.path.join(os.path.dirname(out) or ".", f".{os.path.basename(out)}.tmp-*")):
        shutil.rmtree(d, ignore_errors=True)


def _commit(tmp: str, out: str, overwrite: bool):
    """Move the finished output into place: a rename on the same filesystem, never a partial copy."""
    old = None
    if os.path.exists(out):
        if not overwrite and os.listdir(out):
            raise OutputExists(f"output exists: {out} (use --overwrite to replace it)")
        old = f"{os.path.dirname(tmp)}/.{os.path.basename(out)}.old-{uuid.uuid4().hex[:12]}"
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
        "stages": {name: {"reused": r} for name, r in reused.items()},
        "work_dir": work,
        "sources": per_source,
        "leaves": plan.manifest_leaves(realized),
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
