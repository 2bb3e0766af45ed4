"""Throughput of the heuristic quality filters against datatrove's, on the same real documents, same run.

    .venv/bin/python bench/bench_quality_filters.py [--docs 5000] [--batch 1000]

Input: real web text, extracted with resiliparse (main content) from the Common Crawl WARC excerpt and the
trafilatura evaluation pages under ../shared/data, plus dolma's Common Crawl JSONL documents; repeated up to
`--docs` documents. Code: The Stack-style sample parquet, repeated likewise.

Times are CPU seconds of this process (`time.process_time`), so docs/s is per core even on a busy machine.
- datatrove: `filter(Document)` per document (a fresh Document each time: C4 rewrites the text).
- tamis warm: `score` + `decide` over Arrow batches of `--batch` rows; the per-process memo of tokenized
  chunks is warm after the first copy of the corpus, as it is in a long-running Spark worker.
- tamis cold: the distinct documents once, after clearing every per-process memo (the worst case: a fresh
  worker on its first batch).
- chain: datatrove as a pipeline (a dropped document goes no further; C4's rewritten text goes on) against
  tamis' `apply_chain`, which scores every document with every filter (more work, kept for the audit).
Also reports keep/drop agreement on the distinct documents.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from filters.chain import apply_chain  # noqa: E402
from filters.code_quality import CodeQuality  # noqa: E402
from filters.c4 import C4Quality  # noqa: E402
from filters.fineweb import FineWebQuality  # noqa: E402
from filters.gopher import GopherQuality, GopherRepetition  # noqa: E402
from filters.text.words import Words  # noqa: E402
from tests.web_texts import jsonl_texts, warc_texts  # noqa: E402  (the parity tests' corpus readers)


def web_corpus(shared: Path = SHARED) -> list[str]:
    """The distinct real web documents the parity tests use, in a fixed order."""
    return (warc_texts(shared / "warc/resiliparse/warcfile.warc.gz")
            + warc_texts(shared / "html/trafilatura_cache.warc.gz")
            + jsonl_texts(shared / "jsonl"))


def clear_memos() -> None:
    from filters import spacy_en
    from filters.text import words

    spacy_en.english_tokenizer.cache_clear()
    words.vocab.cache_clear()


def run_tamis(filters, table: pa.Table, batch: int) -> list:
    reasons = []
    for start in range(0, table.num_rows, batch):
        t = table.slice(start, batch)
        words = Words(t)  # as the chain does: the batch's words split once for every filter
        for f in filters:
            sig = f.score(t, words) if f.uses_words else f.score(t)
            for name, arr in sig.items():
                t = t.append_column(name, arr)
            reasons.append(f.decide(t))
    return reasons


def run_datatrove(dt_filter, texts: list[str]) -> list:
    from datatrove.data import Document

    out = []
    for i, t in enumerate(texts):
        r = dt_filter.filter(Document(text=t, id=str(i)))
        out.append(r[1] if isinstance(r, tuple) else None)
    return out


def cpu(fn):
    t0 = time.process_time()
    res = fn()
    return time.process_time() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    uniq = web_corpus()
    reps = max(1, args.docs // len(uniq))
    docs = uniq * reps
    print(f"web: {len(uniq)} distinct real documents ({sum(map(len, uniq)) / len(uniq):,.0f} chars on average)"
          f" x {reps} = {len(docs)} docs; batch {args.batch}; CPU time of one process\n")
    table = pa.table({"id": [str(i) for i in range(len(docs))], "text": docs})
    utable = pa.table({"id": [str(i) for i in range(len(uniq))], "text": uniq})
    pairs = [("gopher_quality", GopherQualityFilter, GopherQuality), ("gopher_repetition", GopherRepetitionFilter, GopherRepetition),
             ("c4_quality", C4QualityFilter, C4Quality), ("fineweb_quality", FineWebQualityFilter, FineWebQuality)]
    run_datatrove(GopherQualityFilter(), uniq[:3])  # load spaCy outside the timings

    print(f"{'filter':18s} {'datatrove':>10s} {'tamis warm':>11s} {'ratio':>7s} {'tamis cold':>11s} {'ratio':>7s} {'agree':>9s}")
    dt_total = tw_total = tc_total = 0.0
    for name, D, T in pairs:
        dt_s, ref = cpu(lambda: run_datatrove(D(), docs))
        clear_memos()
        tc_s, cold = cpu(lambda: run_tamis([T()], utable, args.batch))
        tw_s, _ = cpu(lambda: run_tamis([T()], table, args.batch))
        mine = [r for a in cold for r in a.to_pylist()]
        ref_u = ref[:len(uniq)]
        agree = sum((a is None) == (b is None) for a, b in zip(ref_u, mine))
        dt_total += dt_s / len(docs)
        tw_total += tw_s / len(docs)
        tc_total += tc_s / len(uniq)
        print(f"{name:18s} {len(docs) / dt_s:8.0f}/s {len(docs) / tw_s:9.0f}/s {dt_s / tw_s:6.1f}x "
              f"{len(uniq) / tc_s:9.0f}/s {dt_s / len(docs) / (tc_s / len(uniq)):6.1f}x {agree:4d}/{len(uniq)}")
    print(f"{'sum of the four':18s} {1 / dt_total:8.0f}/s {1 / tw_total:9.0f}/s {dt_total / tw_total:6.1f}x "
          f"{1 / tc_total:9.0f}/s {dt_total / tc_total:6.1f}x")

    # chains
    def dt_chain():
        from datatrove.data import Document
        from datatrove.pipeline.filters.base_filter import get_filter_result

        fs = [D() for _, D, _ in pairs]
        kept = 0
        for i, t in enumerate(docs):
            doc = Document(text=t, id=str(i))
            for f in fs:
                if not get_filter_result(f.filter(doc))[0]:
                    break
            else:
                kept += 1
        return kept

    def tamis_chain(tbl):
        fs = [T() for _, _, T in pairs]
        kept = 0
        for start in range(0, tbl.num_rows, args.batch):
            out = apply_chain(fs, tbl.slice(start, args.batch))
            kept += out.column("reasons").null_count
        return kept

    dts, dkept = cpu(dt_chain)
    clear_memos()
    tcs, _ = cpu(lambda: tamis_chain(utable))
    tws, tkept = cpu(lambda: tamis_chain(table))
    print(f"{'chain of the four':18s} {len(docs) / dts:8.0f}/s {len(docs) / tws:9.0f}/s {dts / tws:6.1f}x "
          f"{len(uniq) / tcs:9.0f}/s {dts / len(docs) / (tcs / len(uniq)):6.1f}x  kept {dkept} vs {tkept}")

    # code
    code = pq.read_table(SHARED / "code/stack_style_code_sample.parquet")
    n = code.num_rows
    creps = max(1, args.docs // n)
    ctable = pa.table({"id": [str(i) for i in range(n * creps)], "text": code.column("content").to_pylist() * creps,
                       "lang": code.column("lang").to_pylist() * creps})
    cs, res = cpu(lambda: run_tamis([CodeQuality()], ctable, args.batch))
    dropped = ctable.num_rows - sum(a.null_count for a in res)
    print(f"\ncode_quality (no datatrove equivalent): {ctable.num_rows / cs:,.0f} files/s "
          f"({n} distinct files x {creps}; {dropped} dropped)")


if __name__ == "__main__":
    main()
