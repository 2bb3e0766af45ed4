"""Scaling of the full tamis web pipeline: local[1] vs local[2] wall clock, peak memory at 1x and 4x input.

    .venv/bin/python bench/bench_scaling.py [--base 2] [--json out.json]

The job is bench/bench_pipeline.py's (WARC -> extraction -> filters -> dedup -> shards), each run a fresh
child process (`engine.run.run`), sampled with psutil every 0.2 s:
- speedup = wall(local[1]) / wall(local[2]) on 4x input (`4 * base` copies of the real WARC files), for the
  whole run and for the score stage alone (read + extract + filter: the part that parallelises by file);
- peak RSS of the process tree (driver Python, the JVM that in local mode is driver and executor, Python
  workers) at 1x (`base` copies) and 4x on local[1]: growth 4x/1x well under 4 = sub-linear.
Wall clock needs an otherwise idle machine: the load average before each run is recorded with it.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import print_table, ratio, write_json  # noqa: E402


def _stage(res: dict, name: str, key: str = "wall_s"):
    return next((s[key] for s in res.get("stages", []) if s["stage"] == name), None)


def run_scaling(base: int = 2, one=None, two=None, small=None, big: int | None = None, memory=None) -> dict:
    """Runs (or takes already-made results of) local[1] and local[2] on `big` copies (default 4 x base) and
    local[1] on `base` copies. Peak memory compares `small` with `one`, or the (1x run, 4x run, 1x copies,
    4x copies) given as `memory`."""
    import bench_pipeline as bp

    big = big or 4 * base
    out = {"base_copies": base, "big_copies": big}
    if one is None:
        out["load_before_1"] = os.getloadavg()[0]
        one = bp.run_tamis(bp.inputs(big), "local[1]", f"x{big}-local1")
    if two is None:
        out["load_before_2"] = os.getloadavg()[0]
        two = bp.run_tamis(bp.inputs(big), "local[2]", f"x{big}-local2")
    if small is None:
        small = bp.run_tamis(bp.inputs(base), "local[1]", f"x{base}-local1")
    out.update(local1=one, local2=two, small=small)
    if "error" in one or "error" in two:
        out["error"] = one.get("error") or two.get("error")
        return out
    out["speedup_wall"] = ratio(one["wall_s"], two["wall_s"])
    out["speedup_annotate"] = ratio(_stage(one, "score"), _stage(two, "score"))
    out["stage_walls"] = [{"stage": s["stage"], "local1": s["wall_s"], "local2": _stage(two, s["stage"]),
                           "speedup": ratio(s["wall_s"], _stage(two, s["stage"]))} for s in one.get("stages", [])]
    m_small, m_big, out["memory_copies"] = small, one, (base, big)
    if memory is not None:
        m_small, m_big, c_small, c_big = memory
        out["memory_copies"] = (c_small, c_big)
    if "error" not in m_small and "error" not in m_big:
        out["memory"] = [{"class": k, "1x_mb": m_small["peak_mb"].get(k), "4x_mb": m_big["peak_mb"].get(k),
                          "growth": ratio(m_big["peak_mb"].get(k), m_small["peak_mb"].get(k))}
                         for k in ("total", "driver", "jvm", "python_workers")]
        out["memory_growth_total"] = ratio(m_big["peak_mb"]["total"], m_small["peak_mb"]["total"])
    return out


def report(res: dict) -> None:
    if res.get("error"):
        print("scaling failed:", res["error"])
        return
    print(f"\nlocal[1] vs local[2], {res['big_copies']} copies: wall speedup {res['speedup_wall']}x "
          f"(score stage {res['speedup_annotate']}x)")
    print_table(res["stage_walls"], [("stage", "stage"), ("local1", "local[1] s"), ("local2", "local[2] s"),
                                     ("speedup", "speedup")])
    if res.get("memory"):
        c1, c4 = res.get("memory_copies") or (res["base_copies"], res["big_copies"])
        print(f"\npeak RSS, local[1], {c1} copies (1x) vs {c4} copies ({c4 / c1:g}x)")
        print_table(res["memory"], [("class", "process class"), ("1x_mb", "1x MB"), ("4x_mb", "4x MB"),
                                    ("growth", "4x/1x")])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    res = run_scaling(args.base)
    report(res)
    if args.json:
        write_json(args.json, res)


if __name__ == "__main__":
    main()
