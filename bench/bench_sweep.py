"""Mix search: a 32-variant `tamis sweep` of mixes/web-code-qa.yaml against one run's mix-and-write.

    .venv/bin/python bench/bench_sweep.py [--master local[2]] [--n 32] [--repeat 3] [--keep DIR]

Run from the repository root. Writes a copy of the spec (absolute paths, output and work dir in a temp
folder), starts one embedded Spark and prepares the spec once to store its stages, then, on the prepared
(persisted) DataFrame of a second `prepare` (every stage reused, as a user's second command finds them):

    one run        what `tamis run` does after `prepare`: counts, plan, cuts, shards, rejects, manifest,
                   datasheet, commit (engine.run), median of --repeat
    sweep          what `tamis sweep --n N` does after `prepare`: draws, every variant's cuts, shards, counts,
                   manifests, datasheets and commits (engine.sweep.run.write_sweep), twice into two folders

and prints wall seconds, the sweep / run ratio (acceptance: <= 4x at N = 32), per variant the realized tokens
against the request (acceptance: within 0.5%), whether the two sweeps are byte-identical (sweep.csv and
every shard), what the variants' manifests say of the stages, and whether the last variant's shards are the
bytes a run of its spec (weights and target_tokens set, rejects off) writes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import print_table  # noqa: E402

MIX = ROOT / "mixes" / "web-code-qa.yaml"


def write_spec(folder: Path) -> Path:
    """The spec with absolute input and benchmark paths, output and work dir under `folder`."""
    spec = yaml.safe_load(MIX.read_text())
    for s in spec["sources"]:
        s["paths"] = [str((MIX.parent / p).resolve()) for p in s["paths"]]
        for f in s.get("filters", []):
            if "benchmarks" in f:
                f["benchmarks"] = [str((MIX.parent / p).resolve()) for p in f["benchmarks"]]
    spec["output"].update(path=str(folder / "out"), work_dir=str(folder / "work"))
    path = folder / "mix.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def one_run(spec, df, log, work, inputs, out: str) -> float:
    """engine.run's steps after `prepare`, timed (wall seconds)."""
    from engine import output
    from engine.datasheet import write_datasheet
    from engine.plan.manifest import build_manifest, with_datasheet
    from engine.run import _mix_and_write
    from engine.spark.ids import renamed_ids
    from engine.spark.stats import reason_counts

    t = time.time()
    lock = output.acquire(out)
    try:
        tmp = output.build_dir(out)
        os.makedirs(tmp)
        counts, skips = reason_counts(df)
        plan, realized, shards, rejects, aggregates = _mix_and_write(spec, df, counts, tmp, lambda *_: None)
        m = build_manifest(spec, files={n: len(r.paths) for n, r in inputs.items()}, counts=counts, skips=skips,
                           plan=plan, realized=realized, shards=shards, reject_shards=rejects, stages=log,
                           work_dir=work, seconds=0.0, master="bench", renamed=renamed_ids(df, counts))
        m = with_datasheet(m, write_datasheet(tmp, spec, m, inputs, aggregates))
        output.finish(tmp, out, m, True, lock, None)
    finally:
        lock.release()
    return time.time() - t


def one_sweep(spec, df, log, work, inputs, folder: str, n: int, tokens: int) -> tuple[float, dict]:
    from engine import output
    from engine.sweep.run import write_sweep

    shutil.rmtree(folder, ignore_errors=True)   # a kept folder's previous sweep (`tamis sweep --overwrite`)
    t = time.time()
    lock = output.acquire(folder)
    try:
        ctx = {"inputs": inputs, "log": log, "work": work, "started": t, "folder": folder, "lock": lock,
               "master": "bench", "remote": False}
        result = write_sweep(spec, df, ctx, n, tokens, spec.seed, 10.0, lambda *_: None)
    finally:
        lock.release()
    return time.time() - t, result


def hashes(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("v*/*.parquet"))} | {"sweep.csv": hashlib.sha256(
                (folder / "sweep.csv").read_bytes()).hexdigest()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the one-run baseline (median)")
    ap.add_argument("--keep", help="folder to work in (kept); default a temp folder, removed")
    args = ap.parse_args()
    if not (ROOT / "mixes" / "sample" / "data" / "synthetic_markov.jsonl.gz").exists():
        subprocess.run([sys.executable, str(ROOT / "mixes" / "sample" / "prepare.py")], check=True)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="tamis-sweep-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        report(folder, args)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def report(folder: Path, args):
    from engine.output import check_output
    from engine.run import prepare, release, resolve_inputs
    from engine.spark.session import get_spark
    from engine.spec import load_spec
    from engine.sweep.draws import variant_spec

    spec = load_spec(str(write_spec(folder)))
    check_output(spec, True)
    spark = get_spark(args.master)
    inputs = resolve_inputs(spec)
    t = time.time()
    df, log, work = prepare(spark, spec, inputs=inputs)
    df.count()
    first = time.time() - t
    release(df)
    df, log, work = prepare(spark, spec, inputs=inputs)   # every stage stored now: reused
    tokens = spec.target_tokens
    try:
        runs = [one_run(spec, df, log, work, inputs, str(folder / f"run{i}")) for i in range(args.repeat)]
        s1, r1 = one_sweep(spec, df, log, work, inputs, str(folder / "sweep-a"), args.n, tokens)
        s2, _ = one_sweep(spec, df, log, work, inputs, str(folder / "sweep-b"), args.n, tokens)
        v = r1["variants"][-1]                 # a Dirichlet draw, written on its own as `tamis run` writes it
        vspec = variant_spec(spec, v["weights"], tokens, path=str(folder / "solo"), keep_rejects=False)
        one_run(vspec, df, log, work, inputs, str(folder / "solo"))
    finally:
        release(df)
    run_s = statistics.median(runs)
    devs = [(v["realized_tokens"] - tokens) / tokens for v in r1["variants"]]
    reused = {json.dumps(json.loads((Path(v["output"]) / "manifest.json").read_text())["stages"]["score"]["reused"])
              for v in r1["variants"]}
    print(f"mixes/web-code-qa.yaml, {args.master}, {tokens:,} tokens per variant; stages computed once in "
          f"{first:.1f} s (score, dedup, decide), then reused")
    print_table([{"what": "one run: mix-and-write + commit", "wall": f"{run_s:.1f}",
                  "runs": " ".join(f"{x:.1f}" for x in runs), "ratio": "1.00x"},
                 {"what": f"sweep, {args.n} variants", "wall": f"{s1:.1f}", "runs": f"{s1:.1f} {s2:.1f}",
                  "ratio": f"{min(s1, s2) / run_s:.2f}x"}],
                [("what", "after prepare"), ("wall", "wall s"), ("runs", "each"), ("ratio", "of one run")])
    print(f"per variant: {min(s1, s2) / args.n:.2f} s; realized vs requested: {min(devs):+.3%} .. {max(devs):+.3%} "
          f"(acceptance: within 0.5%: {'yes' if max(map(abs, devs)) <= 0.005 else 'NO'})")
    same = hashes(folder / "sweep-a") == hashes(folder / "sweep-b")
    print(f"rerun with the same seed: sweep.csv and {len(hashes(folder / 'sweep-a')) - 1} shards byte-identical: "
          f"{'yes' if same else 'NO'}; the variants' manifests say score reused: {', '.join(sorted(reused))}")
    solo = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "solo").glob("*.parquet"))}
    mine = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(v["output"]).glob("*.parquet"))}
    print(f"variant {v['variant']}'s shards = `tamis run` of its spec: {'yes' if solo == mine else 'NO'}")
    print(f"acceptance (<= 4x one run's mix-and-write): {'yes' if min(s1, s2) <= 4 * run_s else 'NO'}")


if __name__ == "__main__":
    main()
