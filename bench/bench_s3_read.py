"""Reading WARC pages from S3 vs local disk: CPU per page of tamis' own WARC reader, in one process.

    .venv/bin/python bench/bench_s3_read.py [--reps 10] [--full-reps 3] [--big-copies 4] [--read-buffer BYTES]

Run from the repository root. Starts the tests' SeaweedFS server (tests/s3server.py) on 127.0.0.1 and uploads
two input sets under the same relative layout as on disk:

    shared  the shared WARC files as they are: every `warc/**/*.warc.gz` (damaged ones included) and
            `html/trafilatura_cache.warc.gz`; small files (~12 pages each), so the cost per object counts
    big     one object of --big-copies copies of the real WARC files (bench/common.py), closer to Common
            Crawl's files (~1 GB, tens of thousands of pages), where the cost per byte is what remains

then reads every file with `engine.readers.read_file` from the local paths and from the `s3://` URIs,
interleaved (local then S3, S3 then local on the next repetition), three ways:

    bytes   the file's bytes only, through engine.storage.open_input_stream (unit: MB; the transfer alone)
    reader  read_file with extraction stubbed out (the HTML itself is the text): gzip, WARC records, HTTP,
            charset decoding, rows and Arrow batches
    full    read_file as a run does it (extractor trafilatura, the default)

CPU = user + system of this process (time.process_time: every thread, so pyarrow's and the AWS SDK's I/O
threads count). The S3 server is another process: its CPU is reported beside, not added. The figure per
run and side is the median over repetitions; ratio = S3 / local CPU per page (acceptance: <= 1.10).
Before timing, one pass per run and side checks that S3 and local give the same rows (ids, reasons, text).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import RESULTS, SHARED, print_table, write_json  # noqa: E402

BUCKET = "bench-s3-read"
MODES = ("bytes", "reader", "full")


def input_files() -> list[str]:
    """Paths relative to the shared data folder."""
    files = sorted(p.relative_to(SHARED).as_posix() for p in (SHARED / "warc").rglob("*.warc.gz"))
    return files + ["html/trafilatura_cache.warc.gz"]


def start_server(work: Path):
    """The tests' SeaweedFS server, reachable through the AWS_* variables (set in this process)."""
    from tests import s3server

    server = s3server.start(work / "seaweedfs")
    os.environ.update(server.env)
    from engine import storage
    from engine.settings import settings

    settings.cache_clear()          # the endpoint is read from the environment once per process
    storage.configure(None)
    return server


def big_file(work: Path, copies: int) -> Path:
    """One object the size Common Crawl's are closer to: `copies` copies of the real WARC files (bench/common.py
    WARC_FILES, distinct record ids per copy) concatenated (gzip members and WARC records both concatenate)."""
    from common import replicated_inputs

    parts = replicated_inputs(work / "s3-read-copies", copies)
    big = work / "s3-read-big" / f"x{copies}.warc.gz"
    if not big.exists() or big.stat().st_size != sum(p.stat().st_size for p in parts):
        big.parent.mkdir(parents=True, exist_ok=True)
        big.write_bytes(b"".join(p.read_bytes() for p in parts))
    return big


def input_sets(server, work: Path, big_copies: int) -> dict:
    """set name -> {side: (paths, source)}; the same relative layout locally and in the bucket."""
    root = f"{server.bucket(BUCKET)}/data"
    files = input_files()
    for rel in files:
        server.upload(SHARED / rel, f"{root}/{rel}")
    sets = {"shared": {side: ([f"{r}/{f}" for f in files], source(r, ["warc/**/*.warc.gz",
                                                                        "html/trafilatura_cache.warc.gz"]))
                       for side, r in (("local", str(SHARED)), ("s3", root))}}
    if big_copies:
        big = big_file(work, big_copies)
        server.upload(big, f"{root}/big/{big.name}")
        sets["big"] = {side: ([f"{r}/{big.name}"], source(r, ["*.warc.gz"]))
                       for side, r in (("local", str(big.parent)), ("s3", f"{root}/big"))}
    return sets


def source(root: str, patterns: list[str]):
    from engine.spec import WarcSource

    # the same patterns under both roots, so relative keys (hence reject ids) match
    return WarcSource(name="web", kind="warc", paths=[f"{root}/{p}" for p in patterns], extract_timeout=10)


def stub_extraction():
    """Extraction off: the decoded HTML is the text (what the reader does around the extractor still runs)."""
    from engine import extract

    real = extract.extract_detailed
    extract.extract_detailed = lambda html, extractor="trafilatura", timeout=2.0: extract.Extraction(html, "none")
    return lambda: setattr(extract, "extract_detailed", real)


def read_bytes_pass(paths: list[str], src, digest=None) -> int:
    from engine import storage

    n = 0
    for p in paths:
        with storage.open_input_stream(p) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                n += len(chunk)
                if digest is not None:
                    digest.update(chunk)
    return n / 1e6             # bytes mode is about the transfer: its unit is the MB


def read_rows_pass(paths: list[str], src, digest=None) -> int:
    from engine.readers import read_file

    rows = 0
    for p in paths:
        for batch in read_file(p, src):
            rows += batch.num_rows
            if digest is not None:
                for r in batch.select(["id", "reason", "text"]).to_pylist():
                    digest.update(repr((r["id"], r["reason"], r["text"])).encode())
    return rows


def timed(fn, paths, src, server_proc) -> dict:
    s0 = _cpu(server_proc)
    c0, w0 = time.process_time(), time.perf_counter()
    pages = fn(paths, src)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"pages": pages, "cpu_s": cpu, "wall_s": wall, "server_cpu_s": _cpu(server_proc) - s0}


def _cpu(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def check_same(fn, sides: dict, mode: str) -> dict:
    """One untimed pass per side (warms caches and the S3 connections): the rows must be identical."""
    out = {}
    for side, (paths, src) in sides.items():
        h = hashlib.sha256()
        try:
            out[side] = {"pages": fn(paths, src, h), "sha256": h.hexdigest()}
        except Exception as e:  # noqa: BLE001 - reported, and the timed passes are skipped
            out[side] = {"pages": 0, "error": f"{type(e).__name__}: {e}"[:300]}
            print(f"[s3-read] {mode} {side}: {out[side]['error']}", flush=True)
    same = "error" not in out["local"] and out["local"].get("sha256") == out["s3"].get("sha256")
    print(f"[s3-read] {mode}: {out['local']['pages']} pages local, {out['s3']['pages']} from S3; "
          f"identical rows: {same}", flush=True)
    return {"same": same, **out}


def run_mode(mode: str, reps: int, sides: dict, server_proc) -> dict:
    """One untimed checking pass per side, then `reps` interleaved timed passes."""
    fn = read_bytes_pass if mode == "bytes" else read_rows_pass
    restore = stub_extraction() if mode == "reader" else None
    try:
        check = check_same(fn, sides, mode)
        if any("error" in v for v in check.values() if isinstance(v, dict)):
            return {"check": check}
        runs = {"local": [], "s3": []}
        for rep in range(reps):
            order = ("local", "s3") if rep % 2 == 0 else ("s3", "local")
            for side in order:
                paths, src = sides[side]
                runs[side].append(timed(fn, paths, src, server_proc))
    finally:
        if restore:
            restore()
    return {"check": check, "runs": runs, **summarize(runs)}


def summarize(runs: dict) -> dict:
    out = {}
    for side, rs in runs.items():
        pages = rs[0]["pages"]
        med = {k: statistics.median(r[k] for r in rs) for k in ("cpu_s", "wall_s", "server_cpu_s")}
        out[side] = {"pages": pages, "cpu_ms_per_page": 1000 * med["cpu_s"] / pages,
                     "cpu_ms_per_page_min": 1000 * min(r["cpu_s"] for r in rs) / pages,
                     "wall_ms_per_page": 1000 * med["wall_s"] / pages, "pages_per_s": pages / med["wall_s"],
                     "pages_per_cpu_s": pages / med["cpu_s"],
                     "server_cpu_ms_per_page": 1000 * med["server_cpu_s"] / pages}
    loc, s3 = out["local"], out["s3"]
    out["ratio_cpu"] = s3["cpu_ms_per_page"] / loc["cpu_ms_per_page"]
    # each repetition's S3 pass next to its local pass: drifts in machine speed cancel out
    out["ratio_cpu_paired"] = statistics.median(s["cpu_s"] / loc["cpu_s"] for s, loc in zip(runs["s3"], runs["local"]))
    out["ratio_cpu_min"] = s3["cpu_ms_per_page_min"] / loc["cpu_ms_per_page_min"]
    out["ratio_cpu_with_server"] = (s3["cpu_ms_per_page"] + s3["server_cpu_ms_per_page"]) / loc["cpu_ms_per_page"]
    out["ratio_wall"] = s3["wall_ms_per_page"] / loc["wall_ms_per_page"]
    return out


def report(res: dict) -> None:
    rows = []
    for key, m in res["runs"].items():
        if "local" not in m:
            continue
        unit = "MB" if key.endswith("bytes") else "page"
        for side in ("local", "s3"):
            x = m[side]
            rows.append({"run": f"{key} ({x['pages']:.4g} {unit}s)", "side": side, "cpu": x["cpu_ms_per_page"],
                         "cpu_min": x["cpu_ms_per_page_min"], "wall": x["wall_ms_per_page"],
                         "rate": x["pages_per_s"], "server": x["server_cpu_ms_per_page"],
                         "ratio": m["ratio_cpu"] if side == "s3" else None,
                         "paired": m["ratio_cpu_paired"] if side == "s3" else None,
                         "ratio_min": m["ratio_cpu_min"] if side == "s3" else None,
                         "ratio_srv": m["ratio_cpu_with_server"] if side == "s3" else None})
    print(f"\nWARC pages from S3 (SeaweedFS on 127.0.0.1) vs local disk: median of {res['reps']} interleaved reps "
          f"(full: {res['full_reps']}); remote read buffer {res['read_buffer']}; CPU = this process, per unit; server = the "
          f"S3 server's CPU (another process)")
    print_table(rows, [("run", "set / mode"), ("side", "side"), ("cpu", "CPU ms"), ("cpu_min", "CPU ms (best)"),
                       ("wall", "wall ms"), ("rate", "units/s (wall)"), ("server", "server CPU ms"),
                       ("ratio", "S3/local CPU"), ("paired", "(paired)"), ("ratio_min", "(best)"), ("ratio_srv", "(+server)")])
    for key, m in res["runs"].items():
        if "local" not in m:
            print(f"  {key}: not timed, a pass failed: {m['check']}")
        elif not key.endswith("bytes"):
            met = "yes" if m["ratio_cpu"] <= 1.10 else "NO"
            print(f"  {key}: S3/local CPU per page {m['ratio_cpu']:.3f}, paired {m['ratio_cpu_paired']:.3f}, "
                  f"best {m['ratio_cpu_min']:.3f} (target <= 1.10: {met}); "
                  f"rows identical: {m['check']['same']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=10, help="repetitions of the bytes and reader passes")
    ap.add_argument("--full-reps", type=int, default=3, help="repetitions of the full (extracting) passes")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated: bytes,reader,full")
    ap.add_argument("--big-copies", type=int, default=4, help="copies of the real WARC files in the one big object "
                                                               "(0: leave that set out)")
    ap.add_argument("--read-buffer", type=int, default=None,
                    help="override engine.storage.files.REMOTE_READ_BUFFER (bytes) for an experiment")
    ap.add_argument("--json", type=Path, default=RESULTS / "s3_read.json")
    args = ap.parse_args(argv)
    import psutil

    from engine.storage import files as storage_files

    if args.read_buffer:
        storage_files.REMOTE_READ_BUFFER = args.read_buffer
    work = Path(os.environ.get("TAMIS_BENCH_WORK", tempfile.gettempdir() + "/tamis-bench"))
    work.mkdir(parents=True, exist_ok=True)
    res = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_before": os.getloadavg()[0], "reps": args.reps,
           "full_reps": args.full_reps, "read_buffer": storage_files.REMOTE_READ_BUFFER, "runs": {}}
    with tempfile.TemporaryDirectory(dir=work, prefix="s3-read-") as tmp:
        server = start_server(Path(tmp))
        try:
            sets = input_sets(server, work, args.big_copies)
            res["inputs"] = {k: {"files": len(v["local"][0]), "bytes": sum(os.path.getsize(p) for p in v["local"][0])}
                             for k, v in sets.items()}
            proc = psutil.Process(server.proc.pid)
            t0 = time.time()
            for name, sides in sets.items():
                for mode in args.modes.split(","):
                    reps = args.full_reps if mode == "full" else args.reps
                    res["runs"][f"{name} {mode}"] = run_mode(mode, reps, sides, proc)
            res.update(seconds=round(time.time() - t0, 1), load_after=os.getloadavg()[0])
        finally:
            server.stop()
    report(res)
    write_json(args.json, res)
    print(f"\n[s3-read] {res['seconds']:.0f} s timed (load {res['load_before']:.1f} -> {res['load_after']:.1f}); "
          f"inputs {res['inputs']}; results: {args.json}")
    return res


if __name__ == "__main__":
    main()
