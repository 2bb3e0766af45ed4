"""Incremental runs on mixes/web-code-qa.yaml: what a spec edit costs after one full run.

    .venv/bin/python bench/bench_incremental.py [--master local[2]] [--keep DIR] [--web-copies N]

Run from the repository root. Writes copies of the spec (absolute paths, output and work dir in a temp
folder) and times `tamis run` as a user runs it (a subprocess: interpreter, Spark start-up and all), wall
clock:

    first           the spec as it is, empty work dir
    decide edit     web's language `min_score` 0.6 -> 0.65 (decide-side), same work dir, --overwrite
    from scratch    the edited spec in a fresh work dir: its shards must be byte-identical to the edit's
    filter edit     a gopher_repetition filter added to `qa` (one source's filter list), same work dir
    from scratch    that spec in a fresh work dir, compared the same way

and prints, per run, wall seconds, the ratio to the first run, and the manifest's files reused /
computed per source. `--web-copies N`: the `web` source reads N copies of its WARC files (distinct record
ids, bench/common.py), to see how the ratios move once the run is more than Spark's fixed costs. Figures go
to bench/README.md ("Incremental runs").
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from common import SHARED, print_table, replicated_inputs  # noqa: E402

MIX = ROOT / "mixes" / "web-code-qa.yaml"


def _absolute(spec: dict) -> dict:
    """The spec with every input and filter file path absolute (it is written elsewhere)."""
    base = MIX.parent
    for s in spec["sources"]:
        s["paths"] = [str((base / p).resolve()) for p in s["paths"]]
        for f in s.get("filters", []):
            if "benchmarks" in f:
                f["benchmarks"] = [str((base / p).resolve()) for p in f["benchmarks"]]
    return spec


def write_variant(folder: Path, name: str, work: Path, edit=None, web: list[str] | None = None) -> Path:
    spec = _absolute(yaml.safe_load(MIX.read_text()))
    spec["output"].update(path=str(folder / "out"), work_dir=str(work))
    if web:
        spec["sources"][0]["paths"] = web
    if edit:
        edit(spec)
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / f"{name}.yaml"
    f.write_text(yaml.safe_dump(spec, sort_keys=False))
    return f


def decide_edit(spec):
    lang = next(f for f in spec["sources"][0]["filters"] if f["kind"] == "language")
    lang["min_score"] = 0.65


def filter_edit(spec):
    decide_edit(spec)
    qa = next(s for s in spec["sources"] if s["name"] == "qa")
    qa.setdefault("filters", []).append({"kind": "gopher_repetition"})


def timed_run(spec: Path, master: str) -> dict:
    """Wall and CPU seconds of `tamis run SPEC --overwrite` (CPU: children of this process, all of them)."""
    t = time.time()
    p = subprocess.run([str(ROOT / ".venv" / "bin" / "tamis"), "run", str(spec), "--master", master, "--overwrite"],
                       cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t
    if p.returncode != 0:
        raise SystemExit(f"{spec.name} failed: {p.stderr[-2000:]}")
    out = Path(yaml.safe_load(spec.read_text())["output"]["path"])
    m = json.loads((out / "manifest.json").read_text())
    hashes = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(out.glob("*.parquet"))}
    return {"wall_s": round(wall, 1),
            "files": {k: f"{v['files_reused']}/{v['files_computed']}" for k, v in m["stages"]["score"]["sources"].items()},
            "dedup_reused": m["stages"].get("dedup", {}).get("reused"), "hashes": hashes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--keep", help="folder to work in (kept); default a temp folder, removed")
    ap.add_argument("--web-copies", type=int, default=0, help="web reads this many copies of its WARC files")
    args = ap.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="tamis-inc-"))
    folder.mkdir(parents=True, exist_ok=True)
    web = None
    if args.web_copies:
        files = [str(Path(p).resolve().relative_to(SHARED.resolve()))
                 for p in _absolute(yaml.safe_load(MIX.read_text()))["sources"][0]["paths"]]
        web = [str(p) for p in replicated_inputs(folder / "warc", args.web_copies, files)]
    work = folder / "work"
    rows, runs = [], {}
    plan = [("first", None, work), ("decide edit", decide_edit, work), ("decide edit, from scratch", decide_edit,
            folder / "w-decide"), ("filter edit", filter_edit, work),
            ("filter edit, from scratch", filter_edit, folder / "w-filter")]
    try:
        for name, edit, w in plan:
            spec = write_variant(folder / name.replace(" ", "-").replace(",", ""), "mix", w, edit, web)
            runs[name] = r = timed_run(spec, args.master)
            rows.append({"run": name, "wall_s": r["wall_s"],
                         "of_first": f"{r['wall_s'] / runs['first']['wall_s']:.0%}",
                         "files": " ".join(f"{k} {v}" for k, v in r["files"].items()),
                         "dedup": "reused" if r["dedup_reused"] else "computed"})
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"mixes/web-code-qa.yaml, {args.master}, web x{args.web_copies or 1}; files: reused/computed per source")
    print_table(rows, [("run", "run"), ("wall_s", "wall s"), ("of_first", "wall / first"),
                       ("files", "score files"), ("dedup", "dedup")])
    for edit in ("decide edit", "filter edit"):
        same = runs[edit]["hashes"] == runs[f"{edit}, from scratch"]["hashes"]
        print(f"{edit}: shards byte-identical to a run from scratch: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
