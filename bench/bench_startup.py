"""Fixed costs of a run: Spark start-up, the first job, and whole `tamis run`s, with and without the JVM
class-data archive (engine/spark/cds.py); Spark jobs and their seconds per calling module.

    .venv/bin/python bench/bench_startup.py [--repeat 3] [--master local[2]] [--cache DIR] [--no-runs]
                                            [--medium COPIES] [--medium-only]

Run from the repository root. The archive is built into a temporary cache folder first (`python -m
engine.spark.cds --force`: its wall and CPU seconds and size are printed), so the figures do not depend on
what this machine's cache holds. Every measurement is a fresh process (a fresh JVM), best of `--repeat`:

    start-up     interpreter, imports and `get_spark` (the JVM and the SparkContext)
    first job    a Python-worker job right after (what a run's first job pays for warm-up)
    first run    `tamis run mixes/web-code-qa.yaml` into an empty work dir (everything scored)
    rerun        the decide-side edit of bench_incremental.py over the first run's work dir (nothing scored)

Runs write Spark's event log; its jobs are counted and grouped by the tamis module that started them
(the job's call site), with the sum of their seconds. Then (`--medium`, in one Spark session) dedup's
clusters and the shard writer over 16 copies of the pipeline benchmark's WARC inputs, each on its
distributed / shuffled path and on its one-task path for small inputs: Spark jobs, wall and CPU seconds.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_incremental import decide_edit, write_variant  # noqa: E402
from common import print_table  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
STARTUP = """
import json, time
t0 = time.time()
from engine.spark.session import get_spark
spark = get_spark({master!r})
t1 = time.time()
spark.range(0, 1000, numPartitions=2).mapInArrow(lambda bs: bs, "id long").count()
t2 = time.time()
print(json.dumps({{"startup_s": t1 - t0, "first_job_s": t2 - t1,
                  "cds": "SharedArchiveFile" in spark.conf.get("spark.driver.extraJavaOptions")}}))
"""


def _env(cache: Path, cds: bool) -> dict:
    return {**os.environ, "TAMIS_CACHE_DIR": str(cache), "TAMIS_JVM_CDS": "on" if cds else "off"}


def build_archive(cache: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    p = subprocess.run([PY, "-m", "engine.spark.cds", "--force"], cwd=ROOT, env=_env(cache, True),
                       capture_output=True, text=True)
    wall = time.time() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    files = glob.glob(str(cache / "jvm" / "*.jsa"))
    if p.returncode or not files:
        raise SystemExit(f"archive not built: {p.stdout} {p.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)   # the JVM is waited for
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "mb": round(os.path.getsize(files[0]) / 1e6)}


def startup(cache: Path, cds: bool, master: str) -> dict:
    p = subprocess.run([PY, "-c", STARTUP.format(master=master)], cwd=ROOT, env=_env(cache, cds),
                       capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(p.stderr[-2000:])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["cds"] == cds, r
    return r


def _events(folder: Path) -> list[dict]:
    """The newest event log under `folder` (Spark 4 writes a folder of rolled files per application)."""
    log = sorted(folder.glob("*"), key=os.path.getmtime)[-1]
    files = sorted(log.glob("events_*"), key=lambda f: int(f.name.split("_")[1])) if log.is_dir() else [log]
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


def jobs_by_module(events: list[dict]) -> dict:
    """{module: [jobs, seconds]} from an event log; the module from the job's call site (`x at path:line`)."""
    start = {}
    out = collections.defaultdict(lambda: [0, 0.0])
    for e in events:
        if e["Event"] == "SparkListenerJobStart":
            site = (e.get("Properties") or {}).get("callSite.short", "")
            m = re.search(r"(engine/[\w/]+\.py)", site) or re.search(r"([\w]+\.py)", site)
            start[e["Job ID"]] = (m.group(1) if m else site or "?", e["Submission Time"])
        elif e["Event"] == "SparkListenerJobEnd" and e["Job ID"] in start:
            mod, t0 = start[e["Job ID"]]
            out[mod][0] += 1
            out[mod][1] += (e["Completion Time"] - t0) / 1000
    return dict(out)


def tamis_run(spec: Path, cache: Path, cds: bool, master: str) -> float:
    t = time.time()
    p = subprocess.run([str(ROOT / ".venv" / "bin" / "tamis"), "run", str(spec), "--master", master, "--overwrite"],
                       cwd=ROOT, env=_env(cache, cds), capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{spec} failed: {p.stderr[-2000:]}")
    return time.time() - t


def runs(folder: Path, cache: Path, cds: bool, master: str, repeat: int) -> dict:
    """Best wall seconds of a first run and of a decide-edit rerun; jobs per module of the last of each."""
    best = {"first": 1e9, "rerun": 1e9}
    jobs = {}
    for i in range(repeat):
        base = folder / f"{'cds' if cds else 'plain'}-{i}"
        events = base / "events"
        events.mkdir(parents=True)

        def spark_conf(spec, edit=None):
            spec["spark"] = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(),
                             "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}
            if edit:
                edit(spec)

        first = write_variant(base / "first", "mix", base / "work", spark_conf)
        rerun = write_variant(base / "rerun", "mix", base / "work", lambda s: spark_conf(s, decide_edit))
        best["first"] = min(best["first"], tamis_run(first, cache, cds, master))
        jobs["first"] = jobs_by_module(_events(events))
        best["rerun"] = min(best["rerun"], tamis_run(rerun, cache, cds, master))
        jobs["rerun"] = jobs_by_module(_events(events))
        shutil.rmtree(base, ignore_errors=True)
    return {"best": best, "jobs": jobs}


def _job_rows(jobs: dict) -> list[dict]:
    rows = []
    for name, by_module in jobs.items():
        for mod, (n, s) in sorted(by_module.items(), key=lambda kv: -kv[1][1]):
            rows.append({"run": name, "module": mod, "jobs": n, "seconds": round(s, 2)})
        rows.append({"run": name, "module": "total", "jobs": sum(v[0] for v in by_module.values()),
                     "seconds": round(sum(v[1] for v in by_module.values()), 2)})
    return rows


# ---------------------------------------------------------------- dedup and the writer, both paths, one session

MEDIUM_PATHS = {"distributed / shuffled": {"dedup.LOCAL_MAX_DOCS": -1, "dedup.BROADCAST_MAX_MEMBERS": -1,
                                           "write.SINGLE_TASK_BYTES": -1},
                "one task": {}}


def _timed(mon, sc, fn) -> tuple[object, dict]:
    jobs = set(sc.statusTracker().getJobIdsForGroup(None))
    cpu, t = mon.cpu()["total"], time.time()
    out = fn()
    return out, {"wall_s": time.time() - t, "cpu_s": mon.cpu()["total"] - cpu,
                 "jobs": len(set(sc.statusTracker().getJobIdsForGroup(None)) - jobs)}


def medium_child(copies: int, master: str, repeat: int) -> None:
    """In a process of its own: `copies` of the pipeline benchmark's WARC files scored once (resiliparse,
    its filters), then dedup's clusters and the shard writer on both paths, best of `repeat` (CPU of the
    process tree, wall, Spark jobs); the clusters and the shards' bytes must be the same on both."""
    import hashlib

    import yaml

    from bench_pipeline import inputs, spec_dict
    from common import TreeMonitor
    from engine.run import score
    from engine.spark import dedup, write
    from engine.spark.session import get_spark
    from engine.spec import parse_spec

    folder = Path(tempfile.mkdtemp(prefix="tamis-medium-"))
    spec = parse_spec(yaml.safe_dump(spec_dict(inputs(copies), folder / "out", "resiliparse")), "m.yaml",
                      base_dir=str(folder))
    spark = get_spark(master)
    sc = spark.sparkContext
    mon = TreeMonitor().__enter__()
    scored = dedup.cut(score(spark, spec)["scored"])
    docs, text_bytes = dedup._size(scored.where("reason is null"))
    rows, shards = {}, {}
    for name, patch in MEDIUM_PATHS.items():
        saved = {k: getattr({"dedup": dedup, "write": write}[k.split(".")[0]], k.split(".")[1]) for k in patch}
        for k, v in patch.items():
            setattr({"dedup": dedup, "write": write}[k.split(".")[0]], k.split(".")[1], v)
        for i in range(repeat):
            clusters, d = _timed(mon, sc, lambda: dedup.dedup_clusters(scored, spec.dedup))
            members = clusters.count()             # what the pipeline reads from the stored stage's manifest
            kept = dedup.apply_dedup(scored, clusters, spec.dedup, members=members).where("reason is null")
            kept = kept.drop("reason", "reasons")
            out = str(folder / f"{name[:3]}-{i}")
            meta, w = _timed(mon, sc, lambda: write.write_shards(kept, out, 17, write.shard_count(text_bytes, 1.0),
                                                                 text_bytes=text_bytes))
            for stage, m in (("dedup clusters", d), ("apply dedup + write shards", w)):
                best = rows.setdefault((name, stage), {"path": name, "stage": stage, **m})
                if m["cpu_s"] < best["cpu_s"]:
                    best.update(m)
        rows[(name, "dedup clusters")]["clusters"] = sorted(map(tuple, clusters.collect()))
        shards[name] = [(m["file"], m["sha256"]) for m in meta]
        for k, v in saved.items():
            setattr({"dedup": dedup, "write": write}[k.split(".")[0]], k.split(".")[1], v)
    same_clusters = len({str(rows[(n, "dedup clusters")].pop("clusters")) for n in MEDIUM_PATHS}) == 1
    same_shards = len({str(v) for v in shards.values()}) == 1
    print(json.dumps({"docs": docs, "text_mb": round(text_bytes / 1e6, 1), "rows": list(rows.values()),
                      "same_clusters": same_clusters, "same_shards": same_shards,
                      "shards": len(next(iter(shards.values())))}))
    shutil.rmtree(folder, ignore_errors=True)


def medium(copies: int, master: str, repeat: int) -> None:
    p = subprocess.run([PY, __file__, "_medium", str(copies), master, str(repeat)], cwd=ROOT, capture_output=True,
                       text=True)
    if p.returncode:
        raise SystemExit(p.stderr[-3000:])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"\ndedup and shard writer, {copies} copies of the WARC inputs ({r['docs']} docs taking part, "
          f"{r['text_mb']} MB text, {r['shards']} shards of 1 MB), {master}, best of {repeat} by CPU; same clusters: "
          f"{'yes' if r['same_clusters'] else 'NO'}, byte-identical shards: {'yes' if r['same_shards'] else 'NO'}")
    for row in r["rows"]:
        row["docs_per_cpu_s"] = round(r["docs"] / row["cpu_s"]) if row["cpu_s"] else None
    print_table(r["rows"], [("stage", "stage"), ("path", "path"), ("jobs", "Spark jobs"), ("wall_s", "wall s"),
                            ("cpu_s", "CPU s (tree)"), ("docs_per_cpu_s", "docs/CPU s")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--no-runs", action="store_true", help="start-up and first job only")
    ap.add_argument("--cache", help="a cache folder whose archive is reused (default: built in a temp folder)")
    ap.add_argument("--medium", type=int, default=16, metavar="COPIES",
                    help="dedup and writer on both paths over this many copies of the WARC inputs (0: skip)")
    ap.add_argument("--medium-only", action="store_true")
    args = ap.parse_args()
    if args.medium_only:
        return medium(args.medium, args.master, args.repeat)
    folder = Path(tempfile.mkdtemp(prefix="tamis-startup-"))
    cache = Path(args.cache) if args.cache else folder / "cache"
    try:
        if not glob.glob(str(cache / "jvm" / "*.jsa")):
            built = build_archive(cache)
            print(f"archive: {built['mb']} MB, built in {built['wall_s']} s wall, {built['cpu_s']} CPU-s; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        rows = []
        for cds in (False, True):
            s = [startup(cache, cds, args.master) for _ in range(args.repeat)]
            row = {"archive": "yes" if cds else "no", "startup": round(min(x["startup_s"] for x in s), 2),
                   "first_job": round(min(x["first_job_s"] for x in s), 2)}
            if not args.no_runs:
                r = runs(folder, cache, cds, args.master, args.repeat)
                row.update(first_run=round(r["best"]["first"], 1), rerun=round(r["best"]["rerun"], 1))
                row["jobs"] = r["jobs"]
            rows.append(row)
        print(f"best of {args.repeat}, {args.master}, wall seconds; load now {os.getloadavg()[0]:.1f}")
        print_table(rows, [("archive", "archive"), ("startup", "start-up s"), ("first_job", "first job s"),
                           ("first_run", "first run s"), ("rerun", "decide-edit rerun s")])
        if not args.no_runs:
            print("\nSpark jobs by calling module (with the archive; the last run of each kind)")
            print_table(_job_rows(rows[-1]["jobs"]), [("run", "run"), ("module", "module"), ("jobs", "jobs"),
                                                      ("seconds", "job s")])
        if args.medium:
            medium(args.medium, args.master, args.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_medium":
        medium_child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        main()
