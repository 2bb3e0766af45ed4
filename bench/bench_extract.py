"""HTML -> text extraction: speed and quality of each extractor on trafilatura's 110 cached pages.

    .venv/bin/python bench/bench_extract.py [--reps 3] [--data ../shared/data/html]

Pages: `trafilatura_cache.warc.gz` (real pages, decoded as the WARC reader does: engine.extract.decode_html);
gold: `evaldata_cache_subset.json` (106 of the pages; mapped by the WARC's X-Source-File basename = the
gold's `file`). Metrics, over all snippets of all annotated pages (micro-averaged), a snippet "found"
when it occurs in the output after collapsing whitespace runs to one space on both sides:

    keep        = found `with` snippets    / all `with` snippets     (recall of main text; higher is better)
    boilerplate = found `without` snippets / all `without` snippets  (boilerplate left; lower is better)

Speed: CPU seconds of the extraction call alone (process_time; the best of --reps runs per page, which
keeps other processes on the machine out of the figure), docs/s = pages / total: one process = one core.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.extract import DEFAULT_EXTRACTOR, EXTRACTOR, decode_html  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("TAMIS_SHARED_DATA", ROOT.parent / "shared" / "data")) / "html"
_WS = re.compile(r"\s+")


def load_pages(data: Path = DEFAULT_DATA) -> list[tuple[str, str]]:
    """(source file basename, decoded HTML) of each response in trafilatura_cache.warc.gz."""
    from engine.readers.warc.http import mime_type, parse_http
    from engine.readers.warc.records import Record, iter_records
    from engine.readers.warc.stream import Stream, file_chunks

    pages = []
    for rec in iter_records(Stream(file_chunks(str(data / "trafilatura_cache.warc.gz"))),
                            lambda fmt, h, n: n if h.get("warc-type") == "response" else 0):
        if not isinstance(rec, Record) or rec.block is None:
            continue
        status, hh, payload = parse_http(rec.block)
        html, _, _ = decode_html(payload, mime_type(hh.get("content-type"))[1])
        pages.append((rec.headers.get("x-source-file", "").rsplit("/", 1)[-1], html))
    return pages


def load_gold(data: Path = DEFAULT_DATA) -> dict[str, dict]:
    return {v["file"]: v for v in json.loads((data / "evaldata_cache_subset.json").read_text()).values()}


def score(outputs: dict[str, str | None], gold: dict[str, dict]) -> tuple[float, float]:
    """(keep, boilerplate) as defined in the module docstring."""
    w_all = w_found = b_all = b_found = 0
    for f, g in gold.items():
        text = _WS.sub(" ", outputs.get(f) or "")
        for s in g["with"]:
            w_all += 1
            w_found += _WS.sub(" ", s).strip() in text
        for s in g["without"]:
            b_all += 1
            b_found += _WS.sub(" ", s).strip() in text
    return w_found / w_all, b_found / b_all


def time_interleaved(fns: dict, pages, reps: int) -> tuple[dict, dict]:
    """({name: best CPU seconds per page}, {name: {file: output}}): each page goes through every function in
    turn, `reps` rounds, the best time per (function, page) kept, so other processes' load hits all alike."""
    for fn in fns.values():
        fn(pages[0][1])   # warm up imports and caches
    best = {n: [float("inf")] * len(pages) for n in fns}
    outputs: dict[str, dict] = {n: {} for n in fns}
    for _ in range(reps):
        for i, (f, html) in enumerate(pages):
            for n, fn in fns.items():
                t = time.process_time()
                out = fn(html)
                best[n][i] = min(best[n][i], time.process_time() - t)
                outputs[n][f] = out
    return best, outputs


def run(names, pages, gold, reps: int = 3) -> list[dict]:
    """Every named extractor's speed (`time_interleaved`) and quality."""
    best, outputs = time_interleaved({n: EXTRACTOR.function(n) for n in names}, pages, reps)
    results = []
    for n in names:
        keep, boiler = score(outputs[n], gold)
        results.append({"extractor": n, "docs_per_s": len(pages) / sum(best[n]), "keep": keep, "boilerplate": boiler,
                        "empty": sum(1 for o in outputs[n].values() if not o), "outputs": outputs[n]})
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--extractors",
                    default="native,resiliparse,trafilatura_fast,trafilatura_fallback,trafilatura_nocomments,trafilatura")
    args = ap.parse_args(argv)
    if not (args.data / "trafilatura_cache.warc.gz").exists():
        sys.exit(f"data not found: {args.data}")
    pages, gold = load_pages(args.data), load_gold(args.data)
    names = args.extractors.split(",")
    results = run(names, pages, gold, args.reps)
    print(f"{len(pages)} pages, {len(gold)} with gold "
          f"({sum(len(g['with']) for g in gold.values())} keep / {sum(len(g['without']) for g in gold.values())} "
          f"boilerplate snippets); CPU time, best of {args.reps}\n")
    print("| extractor | docs/s/core | keep (>=0.91) | boilerplate (<=0.10) | empty |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        label = r["extractor"] + (" (default)" if r["extractor"] == DEFAULT_EXTRACTOR else "")
        print(f"| {label} | {r['docs_per_s']:.0f} | {r['keep']:.3f} | {r['boilerplate']:.3f} | {r['empty']} |")
    by = {r["extractor"]: r for r in results}
    print()
    for ref in ("trafilatura_nocomments", "trafilatura_fast"):
        if "trafilatura" in by and ref in by:
            a, b = by["trafilatura"]["outputs"], by[ref]["outputs"]
            same = sum(1 for f in a if (a[f] or "") == (b.get(f) or ""))
            print(f"trafilatura vs {ref}: identical text on {same}/{len(a)} pages; speed x"
                  f"{by['trafilatura']['docs_per_s'] / by[ref]['docs_per_s']:.2f}")
    if "trafilatura" in by and "resiliparse" in by:
        print(f"trafilatura speed / resiliparse speed: {by['trafilatura']['docs_per_s'] / by['resiliparse']['docs_per_s']:.2f}")
    if "native" in by and "trafilatura" in by:
        print(f"native speed / trafilatura speed: {by['native']['docs_per_s'] / by['trafilatura']['docs_per_s']:.2f}")


if __name__ == "__main__":
    main()
