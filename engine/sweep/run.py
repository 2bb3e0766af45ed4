"""`tamis sweep`: N feasible variants of a spec's weights, each a committed output of its own, from one
`prepare` (scored, deduplicated and decided documents, persisted) of the spec.

Stages run once: `engine.run.prepare` (stored signals and dedup clusters reused as for `tamis run`), one
aggregate of what every leaf holds, then the variants' cuts, shards and counts in a fixed number of Spark
jobs (engine/spark/sweep.py). Each variant is the spec with only its source weights and `target_tokens`
changed (`--tokens`; output `DIR/<variant>`, rejects off: they are the spec's, identical for every variant),
committed like a run's output (manifest.json, datasheet.md, `_SUCCESS`; a hidden build folder renamed into
place, or `finish_remote` on an object store), so `tamis audit` and `tamis export` take it as it is. Every
variant's manifest has the stages `prepare` reported and a `sweep` entry. `sweep.json` then `sweep.csv` are
written last: a folder without sweep.csv is no sweep. The folder holds one lock (`engine.output`).
"""
from __future__ import annotations

import hashlib
import re
import shutil
import time

from engine import output, storage
from engine.sweep import SweepError
from engine.sweep.draws import draw_variants, swept_sources, variant_spec
from engine.sweep.spec_text import number, set_top, set_weights, with_comment
from engine.sweep.table import CSV, META, csv_text, meta_json

_OURS = re.compile(r"^(v\d{3,}|\.v\d{3,}\.(tmp|old)-.*|" + re.escape(CSV) + "|" + re.escape(META) + ")$")


def default_folder(spec) -> str:
    return spec.output.path.rstrip("/") + ".sweep"


def sweep(spec, n: int, tokens: int, seed: int | None = None, concentration: float = 10.0,
          folder: str | None = None, master: str | None = None, overwrite: bool = False, progress=None,
          inputs: dict | None = None) -> dict:
    """Draw, write and commit the variants; returns {"folder", "variants": [{"variant", "origin", "weights",
    "realized_tokens", "output"}], "stages": {stage: reused}}."""
    from engine.output import check_output
    from engine.stages import work_dir

    if n < 1 or tokens < 1 or not concentration > 0:
        raise SweepError("--n and --tokens must be at least 1 and --concentration above 0")
    swept_sources(spec)
    check_output(spec, overwrite=True)          # the spec's own paths (its work dir holds the stages); canonical
    probe = variant_spec(spec, {}, path=folder or default_folder(spec), work_dir=work_dir(spec), keep_rejects=False)
    check_output(probe, overwrite)              # unsafe paths; an existing folder without --overwrite
    folder = probe.output.path.rstrip("/")
    storage.makedirs(storage.dirname(folder) or ".")
    lock = output.acquire(folder)
    try:
        _clear(folder)                           # under the lock: a previous sweep, or a killed one's leftovers
        return _sweep_locked(spec, n, tokens, spec.seed if seed is None else seed, concentration, folder,
                             master, progress or (lambda *_: None), lock, inputs)
    finally:
        lock.release()


def _clear(folder: str):
    """Remove a previous sweep from `folder` (sweep.csv first: it is the sweep's commit); refuse anything
    that a sweep does not write."""
    names = storage.listdir(folder) if storage.exists(folder) else []
    names = sorted({storage.basename(n.rstrip("/")) for n in names})
    if other := [n for n in names if not _OURS.match(n)]:
        raise output.UnsafePath(f"refusing to overwrite {folder}: {other[0]!r} is not part of a sweep")
    for name in sorted(names, key=lambda x: x != CSV):
        path = storage.join(folder, name)
        if storage.isdir(path):
            storage.delete_tree(path)
        else:
            storage.delete_file(path)


def _sweep_locked(spec, n, tokens, seed, concentration, folder, master, say, lock, inputs) -> dict:
    from engine.run import prepare, release, resolve_inputs
    from engine.spark.session import get_spark

    started, df = time.time(), None
    try:
        spark = get_spark(master, conf=spec.spark)
        inputs = inputs if inputs is not None else resolve_inputs(spec)
        df, log, work = prepare(spark, spec, say, inputs)
        ctx = {"inputs": inputs, "log": log, "work": work, "started": started, "folder": folder, "lock": lock,
               "master": master or spark.sparkContext.master, "remote": storage.is_remote(folder)}
        return write_sweep(spec, df, ctx, n, tokens, seed, concentration, say)
    finally:
        release(df)


def write_sweep(spec, df, ctx: dict, n: int, tokens: int, seed: int, concentration: float, say) -> dict:
    """From the prepared DataFrame on: draw, write and commit every variant, then sweep.json and sweep.csv.
    ctx: inputs, log (the stages `prepare` reported), work, started, folder, lock (held), master, remote."""
    from engine.gc import record_output
    from engine.spark.sample import available_tokens
    from engine.spark.stats import kept_docs

    folder, builds = ctx["folder"], []
    try:
        say("mix", f"drawing {n} feasible variants")
        available = available_tokens(kept_docs(df), spec)
        variants = draw_variants(spec, tokens, n, seed, concentration, available)
        outs = [storage.join(folder, v.id) for v in variants]
        for o in outs:
            record_output(ctx["work"], o)       # before any commit: `tamis gc` keeps what the variants use
            if ctx["remote"]:
                output.start_remote(o)
        builds = outs if ctx["remote"] else [output.build_dir(o) for o in outs]
        realized = _write_and_commit(spec, df, variants, tokens, outs, builds, {**ctx, "n": n}, say)
        names = swept_sources(spec)
        storage.write_bytes(storage.join(folder, META),
                            meta_json(spec, tokens, seed, concentration, names, available, variants).encode())
        storage.write_bytes(storage.join(folder, CSV), csv_text(variants, names, realized).encode())
        say("done", folder)
        return {"folder": folder, "stages": dict(ctx["log"]), "tokens": tokens,
                "variants": [{"variant": v.id, "origin": v.origin, "weights": v.weights,
                              "realized_tokens": realized[v.id], "output": o} for v, o in zip(variants, outs)]}
    except BaseException:
        if not ctx["remote"]:
            for b in builds:
                shutil.rmtree(b, ignore_errors=True)
        raise


def _write_and_commit(spec, df, variants, tokens, outs, builds, ctx, say) -> dict[str, int]:
    """Every variant's shards (Spark), then its manifest, datasheet and commit; {variant: realized tokens}."""
    from engine.plan.manifest import build_manifest, with_datasheet
    from engine.spark.ids import renamed_ids
    from engine.spark.cuts import keyed
    from engine.spark.datasheet import decontam_counts
    from engine.spark.sample import with_leaf
    from engine.spark.stats import kept_docs, reason_counts, text_bytes
    from engine.spark.sweep import mixed_variants, variant_counts, variant_cuts, write_variants
    from engine.spark.write import shard_count

    counts, skips = reason_counts(df)
    kept = kept_docs(df)
    plans = [v.plan for v in variants]
    say("mix", f"cutting {len(variants)} variants by hash(seed, id)")
    tables = variant_cuts(keyed(kept, spec, with_leaf), plans, spec.cut)
    n_shards = [shard_count(int(text_bytes(counts, kept=True) * p.expected_ratio), spec.output.shard_mb) for p in plans]
    mixed = mixed_variants(kept, spec, tables, n_shards)
    data_cols = [c for c in kept.columns if c not in ("reason", "reasons")] + ["epoch"]
    say("write", f"writing {len(variants)} variants")
    shards = write_variants(mixed, builds, spec.seed, data_cols, sum(n_shards))
    per = variant_counts(mixed, len(variants))
    decontam = decontam_counts(df)
    renamed = renamed_ids(df, counts)
    files = {name: len(r.paths) for name, r in ctx["inputs"].items()}
    realized_total = {}
    say("commit", f"{len(variants)} variants")
    for i, v in enumerate(variants):
        vspec = _vspec(spec, v, tokens, outs[i], ctx["work"])
        realized, written = per[i]
        manifest = build_manifest(vspec, files=files, counts=counts, skips=skips, plan=v.plan, realized=realized,
                                  shards=shards[i], reject_shards=[], stages=ctx["log"], work_dir=ctx["work"],
                                  seconds=time.time() - ctx["started"], master=ctx["master"], renamed=renamed)
        manifest["sweep"] = {"folder": ctx["folder"], "variant": v.id, "origin": v.origin, "weights": v.weights,
                             "variants": ctx["n"], "stages_shared": True}
        sheet = _datasheet(builds[i], vspec, spec, v, tokens, manifest, ctx["inputs"],
                           {**written, "decontam": decontam})
        manifest = with_datasheet(manifest, sheet)
        if ctx["remote"]:
            output.finish_remote(outs[i], manifest, ctx["lock"])
        else:
            output.finish(builds[i], outs[i], manifest, False, ctx["lock"], ctx["master"])
        realized_total[v.id] = manifest["totals"]["tokens_written"]
    return realized_total


def _vspec(spec, v, tokens: int, out: str, work: str):
    vs = variant_spec(spec, v.weights, tokens, path=out, work_dir=work, keep_rejects=False)
    return vs.model_copy(update={"name": f"{spec.name}-{v.id}"})


def _datasheet(folder: str, vspec, spec, v, tokens: int, manifest: dict, inputs: dict, aggregates: dict) -> dict:
    """engine.datasheet.write_datasheet, with the variant's own spec text: the spec's YAML with the variant's
    weights and target_tokens (comments kept), so the datasheet shows what was mixed."""
    from engine.datasheet import CACHE, FILE, datasheet_facts, render_datasheet, spec_facts

    facts = datasheet_facts(vspec, manifest, inputs, aggregates, cache=storage.join(manifest["work_dir"], CACHE))
    base = spec_facts(spec)
    if base["text"] is not None:
        text = set_top(set_weights(base["text"], v.weights), "target_tokens", f"{tokens}")
        text = with_comment(text, [f"tamis sweep: variant {v.id} ({v.origin}) of {spec.spec_path}: weights "
                                   f"{', '.join(f'{k} {number(w)}' for k, w in v.weights.items())}, "
                                   f"target_tokens {tokens}"])
        facts["spec"] = {"path": base["path"], "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text,
                         "note": None}
    written = storage.write_bytes(storage.join(folder, FILE), render_datasheet(facts).encode())
    return {"datasheet": facts, "extra_files": [{"file": FILE, **written}]}
