"""The native extractor against tamis' trafilatura call: quality, speed and per-page agreement.

    .venv/bin/python bench/bench_native_extract.py [--reps 5] [--data ../shared/data/html] [--worst 12]

Extractors: `trafilatura` (tamis' pre-cleaned fast call, engine/extract.py), `native` (engine.native, the
compiled walk) and `native_python` (the same rules in pure Python). Pages, gold and the keep / boilerplate
metrics are bench/bench_extract.py's. Speed: CPU time (process_time) of the call, parse included, best of
--reps interleaved runs per page (other processes' load hits every extractor alike); `parse` is lxml's parse
alone, the floor of both trafilatura and native.

Agreement with trafilatura, per page: token F1 of the two outputs (words = whitespace-separated tokens,
multiset overlap; 1.0 = same words), averaged over the pages, plus the number of pages with identical text.
Differing pages are counted by kind (same words in another layout, lines only added, lines only
missing, other), and the pages that differ most are listed with the lines only one side has.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_extract import DEFAULT_DATA, load_gold, load_pages, score, time_interleaved  # noqa: E402

import engine.native as native  # noqa: E402
from engine.extract import EXTRACTOR  # noqa: E402


def token_f1(a: str | None, b: str | None) -> float:
    ta, tb = Counter((a or "").split()), Counter((b or "").split())
    if not ta and not tb:
        return 1.0
    common = sum((ta & tb).values())
    if not common:
        return 0.0
    p, r = common / sum(tb.values()), common / sum(ta.values())
    return 2 * p * r / (p + r)


def functions() -> dict:
    fns = {"trafilatura": EXTRACTOR.function("trafilatura"), "native_python": native.extract_python}
    if native.IMPLEMENTATION == "compiled":
        fns["native"] = native.extract_compiled
    fns["parse"] = native.parse
    return fns


def run(pages, reps: int):
    return time_interleaved(functions(), pages, reps)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--worst", type=int, default=12)
    args = ap.parse_args(argv)
    if not (args.data / "trafilatura_cache.warc.gz").exists():
        sys.exit(f"data not found: {args.data}")
    pages, gold = load_pages(args.data), load_gold(args.data)
    best, outputs = run(pages, args.reps)
    ref = outputs["trafilatura"]
    base_ms = sum(best["trafilatura"]) / len(pages) * 1000
    print(f"{len(pages)} pages ({len(gold)} with gold); CPU ms/page, best of {args.reps}; native implementation "
          f"in this process: {native.IMPLEMENTATION}\n")
    print("| extractor | ms/page | speed vs trafilatura | keep | boilerplate | token F1 vs trafilatura | identical |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in best:
        ms = sum(best[n]) / len(pages) * 1000
        if n == "parse":
            print(f"| (lxml parse alone) | {ms:.2f} | | | | | |")
            continue
        keep, boiler = score(outputs[n], gold)
        f1 = sum(token_f1(ref[f], outputs[n][f]) for f in ref) / len(ref)
        same = sum(1 for f in ref if (ref[f] or "") == (outputs[n][f] or ""))
        print(f"| {n} | {ms:.2f} | x{base_ms / ms:.1f} | {keep:.3f} | {boiler:.3f} | {f1:.3f} | {same}/{len(ref)} |")
    if "native" in outputs:
        same = sum(1 for f in ref if outputs["native"][f] == outputs["native_python"][f])
        print(f"\nnative (compiled) vs native_python: identical text on {same}/{len(ref)} pages")
    name = "native" if "native" in outputs else "native_python"
    kinds = Counter(_difference(ref[f], outputs[name][f]) for f in ref)
    print(f"\n{name} vs trafilatura per page: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    worst = sorted(ref, key=lambda f: token_f1(ref[f], outputs[name][f]))[:args.worst]
    print(f"\npages where {name} differs most from trafilatura (token F1; lines only one side has):")
    for f in worst:
        a, b = (ref[f] or "").splitlines(), (outputs[name][f] or "").splitlines()
        only_t, only_n = [x for x in a if x not in set(b)], [x for x in b if x not in set(a)]
        print(f"- {f}: F1 {token_f1(ref[f], outputs[name][f]):.3f}, {len(ref[f] or '')} vs "
              f"{len(outputs[name][f] or '')} chars; only trafilatura: {len(only_t)} lines "
              f"{_first(only_t)}; only native: {len(only_n)} lines {_first(only_n)}")


def _difference(a: str | None, b: str | None) -> str:
    """How two outputs differ: identical, same words (whitespace, list or table markup), or other words."""
    a, b = a or "", b or ""
    if a == b:
        return "identical"
    if Counter(a.split()) == Counter(b.split()):
        return "same words"
    la, lb = set(a.splitlines()), set(b.splitlines())
    if la < lb:
        return "extra lines only"
    if lb < la:
        return "missing lines only"
    return "other"


def _first(lines: list[str]) -> str:
    return repr(lines[0][:60]) if lines else ""


if __name__ == "__main__":
    main()
