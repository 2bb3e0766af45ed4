"""Dedup benchmark: MinHash signature speed vs datasketch, end-to-end dedup throughput and peak memory.

    .venv/bin/python bench/bench_dedup.py            # everything, prints tables
    .venv/bin/python bench/bench_dedup.py --sig      # signatures only (no JVM)

1. Signatures per CPU-second (process time; all single-threaded): engine.dedup.minhash from raw text (normalize,
   tokenize, hash, permute) and from already normalized text, vs datasketch 2.0 `MinHash.update_batch` (one
   MinHash per document) and `MinHash.bulk`, both given the same shingles already built (their shingling is
   not timed), same num_perm, datasketch's default hash (sha1_hash32), and `update_batch` with the plain-Python
   shingling timed too (both sides from the text). Best of several runs each.
2. End-to-end `dedup` (exact + MinHash 0.8, verify on) on real text, Spark `local[1]`, input from Parquet:
   MB of text per wall second on the one core and per CPU-second of all processes (driver, JVM, workers),
   peak RSS of the Python driver, the JVM and the Python workers (psutil, every 0.1 s), at 1x and 4x input
   (4x = the corpus plus three edited copies of it: near duplicates). Each scale runs in a fresh process.

Real text only: Stack Exchange posts and post-history revisions, the vendored-code near-dup set, Dolma's
Common Crawl documents and lingua's language-ID sentences (75 languages, grouped 20 to a document).
"""
from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("TAMIS_SHARED_DATA", ROOT.parent / "shared" / "data"))


# ---------------------------------------------------------------- real text

def _doc(id_, text, source, kind="text", lang="en", meta=None):
    return {"id": id_, "text": text, "source": source, "kind": kind, "lang": lang, "url": None,
            "meta": json.dumps(meta) if meta else None, "reason": None}


def corpus() -> list[dict]:
    docs = []
    for site in sorted((DATA / "stackexchange").glob("*/")):
        for name, attr in (("Posts.xml", "Body"), ("PostHistory.xml", "Text")):
            path = site / name
            if not path.exists():
                continue
            for _, el in ET.iterparse(path):
                if el.tag != "row":
                    continue
                if name == "PostHistory.xml" and el.get("PostHistoryTypeId") not in ("2", "5"):
                    el.clear()
                    continue
                text = html.unescape(re.sub(r"<[^>]+>", " ", el.get(attr) or ""))
                if len(text) > 50:
                    lang = "fr" if site.name.startswith("french") else "en"
                    docs.append(_doc(f"se/{site.name}/{name[:-4]}/{el.get('Id')}", text, "stackexchange", "qa",
                                     lang, {"date": el.get("CreationDate")}))
                el.clear()
    path = DATA / "neardup" / "vendored_python_code" / "vendored_code_docs.jsonl.gz"
    for d in map(json.loads, gzip.open(path, "rt")):
        docs.append(_doc(f"code/{d['doc_id']}", d["content"], "code", "code", None))
    for path in sorted((DATA / "jsonl").rglob("*.json*.gz")):
        for i, line in enumerate(gzip.open(path, "rt")):
            rec = json.loads(line)
            if isinstance(rec.get("text"), str):
                docs.append(_doc(f"cc/{path.name}/{i}", rec["text"], "web", "web"))
    for path in sorted((DATA / "langid" / "sentences").glob("*.txt")):
        lines = [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
        for k in range(0, len(lines), 20):
            docs.append(_doc(f"lid/{path.stem}/{k}", "\n".join(lines[k:k + 20]), "langid", "text", path.stem))
    return docs


def scaled(docs: list[dict], scale: int) -> list[dict]:
    """scale x the corpus: the originals, then edited copies (a few words swapped): near duplicates."""
    out = list(docs)
    rnd = random.Random(1)
    for k in range(1, scale):
        rate = [0.01, 0.03, 0.1][(k - 1) % 3]
        for d in docs:
            words = d["text"].split(" ")
            for i in range(len(words)):
                if rnd.random() < rate:
                    words[i] = rnd.choice(["the", "a", "foo", "bar", "und", "的"])
            out.append({**d, "id": f"{d['id']}#copy{k}", "text": " ".join(words)})
    return out


# ---------------------------------------------------------------- 1. signatures vs datasketch

def bench_signatures(max_mb: float = 4.0, num_perm: int = 128) -> list[tuple]:
    from datasketch import MinHash

    from engine.dedup import minhash as mh
    from engine.dedup import shingles as sh
    from tests.minhash_reference import reference_shingles

    docs = corpus()
    random.Random(0).shuffle(docs)
    picked, size = [], 0
    for d in docs:
        if size > max_mb * 1e6:
            break
        picked.append(d)
        size += len(d["text"].encode())
    texts = [d["text"] for d in picked]
    chars = sh.char_mode([d["lang"] for d in picked])
    # what a datasketch user also pays per document: shingles the plain-Python way (the reference definition
    # in tests/minhash_reference.py, as fast as a hand-written unicodedata + re version)
    runs = [_timed(lambda: [reference_shingles(t, c) for t, c in zip(texts, chars)]) for _ in range(2)]
    t_shingle, shingles = min(r[0] for r in runs), runs[0][1]
    n_sh = sum(len(s) for s in shingles)

    hasher = mh.MinHasher(num_perm, 1)
    hasher.text_signatures(texts[:50], chars[:50])
    ours = min(_timed(lambda: hasher.text_signatures(texts, chars))[0] for _ in range(5))
    norm = sh.normalize(texts)
    ours_norm = min(_timed(lambda: hasher.text_signatures(norm, chars, normalized=True))[0] for _ in range(5))

    def update_batch():
        for s in shingles:
            m = MinHash(num_perm=num_perm)
            m.update_batch(s)

    t_ub = min(_timed(update_batch)[0] for _ in range(2))
    t_bulk = min(_timed(lambda: MinHash.bulk(shingles, num_perm=num_perm))[0] for _ in range(2))
    rows = []
    for name, t in (("tamis (from raw text)", ours), ("tamis (normalized text)", ours_norm),
                    ("datasketch update_batch", t_ub), ("datasketch bulk", t_bulk),
                    ("datasketch shingling + update_batch", t_shingle + t_ub)):
        rows.append((name, len(texts) / t, size / 1e6 / t, n_sh / t / 1e6, t_ub / t, t_bulk / t))
    return rows, len(texts), size, n_sh


def _timed(fn):
    """CPU seconds of this process: on a shared, busy machine wall time mostly measures the neighbours."""
    t = time.process_time()
    r = fn()
    return time.process_time() - t, r


# ---------------------------------------------------------------- 2. end to end, with memory sampling

class Sampler(threading.Thread):
    """Every `period` s: peak RSS of this process (the Python driver), the JVM and the Python workers, and
    the CPU seconds each process has used (summed at the end: CPU-seconds of the whole job)."""

    def __init__(self, period: float = 0.1):
        super().__init__(daemon=True)
        import psutil

        self.me = psutil.Process()
        self.period = period
        self.peak = {"driver_python": 0, "jvm": 0, "python_worker_max": 0, "python_workers_total": 0}
        self.cpu = {}
        self.stop_flag = threading.Event()

    def run(self):
        import psutil

        while not self.stop_flag.is_set():
            try:
                self._sample(psutil)
            except Exception:
                pass
            time.sleep(self.period)

    def _sample(self, psutil):
        self.peak["driver_python"] = max(self.peak["driver_python"], self.me.memory_info().rss)
        workers = []
        for p in self.me.children(recursive=True):
            try:
                cmd = " ".join(p.cmdline())
                rss = p.memory_info().rss
                t = p.cpu_times()
            except psutil.Error:
                continue
            self.cpu[p.pid] = t.user + t.system
            if "java" in p.name() or "java" in cmd.split(" ")[0]:
                self.peak["jvm"] = max(self.peak["jvm"], rss)
            elif "pyspark" in cmd or "python" in p.name():
                workers.append(rss)
        if workers:
            self.peak["python_worker_max"] = max(self.peak["python_worker_max"], max(workers))
            self.peak["python_workers_total"] = max(self.peak["python_workers_total"], sum(workers))


def prepare(scale: int, path: str) -> None:
    """Write the scaled corpus as Parquet (READ_SCHEMA), in its own process: the timed one only reads it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.schema import READ_SCHEMA

    docs = scaled(corpus(), scale)
    rows = [{k: d.get(k) for k in READ_SCHEMA.names} for d in docs]
    pq.write_table(pa.Table.from_pylist(rows, schema=READ_SCHEMA), path, row_group_size=2000)
    Path(path + ".json").write_text(json.dumps({"docs": len(docs),
                                                "text_bytes": sum(len(d["text"].encode()) for d in docs)}))


def end_to_end(scale: int, path: str) -> dict:
    from engine.spark.dedup import dedup
    from engine.spark.session import get_spark
    from engine.spec import DedupSpec, MinHashSpec

    size = json.loads(Path(path + ".json").read_text())
    n_docs, text_bytes = size["docs"], size["text_bytes"]
    sampler = Sampler()
    sampler.start()
    cpu0 = time.process_time()
    spark = get_spark("local[1]", app_name="bench-dedup")
    from pyspark.sql import functions as F

    df = spark.read.parquet(path)
    spark.range(1).count()                        # JVM up, before the clock starts
    sampler._sample(__import__("psutil"))
    cpu_start = sum(sampler.cpu.values()) + time.process_time() - cpu0
    spec = DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8))
    t = time.perf_counter()
    out = dedup(df, spec)
    out.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - t
    sampler._sample(__import__("psutil"))
    cpu_seconds = sum(sampler.cpu.values()) + time.process_time() - cpu0 - cpu_start
    removed = out.where(F.col("reason").startswith("duplicate:")).count()
    sampler.stop_flag.set()
    sampler.join()
    spark.stop()
    return {"scale": scale, "docs": n_docs, "text_mb": text_bytes / 1e6, "seconds": seconds,
            "cpu_seconds": cpu_seconds, "mb_per_s": text_bytes / 1e6 / seconds,
            "mb_per_cpu_s": text_bytes / 1e6 / cpu_seconds, "removed": removed,
            **{k: v / 1e6 for k, v in sampler.peak.items()}}


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sig", action="store_true", help="signature benchmark only")
    ap.add_argument("--prepare", type=int, default=0, help=argparse.SUPPRESS)   # child: write one scale
    ap.add_argument("--e2e", type=int, default=0, help=argparse.SUPPRESS)       # child: time one scale
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        prepare(args.prepare, args.path)
        return
    if args.e2e:
        print(json.dumps(end_to_end(args.e2e, args.path)))
        return
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows, n_docs, size, n_sh = bench_signatures()
    print(f"\nMinHash signatures, num_perm 128, per CPU-second: {n_docs} real documents, {size / 1e6:.1f} MB, "
          f"{n_sh} shingles")
    print(f"{'':26} {'docs/s':>10} {'MB/s':>8} {'Mshingles/s':>12}   speedup")
    for name, dps, mbs, shs, r_ub, r_bulk in rows:
        speed = f"x{r_ub:.1f} vs update_batch, x{r_bulk:.1f} vs bulk" if name.startswith("tamis") else ""
        print(f"{name:26} {dps:10.0f} {mbs:8.2f} {shs:12.3f}   {speed}")
    if args.sig:
        return
    print("\nEnd-to-end dedup (exact + MinHash 0.8, verify on), Spark local[1], input read from Parquet:")
    print(f"{'scale':>5} {'docs':>7} {'text MB':>7} {'wall s':>7} {'MB/s':>6} {'CPU s':>6} {'MB/CPU-s':>8} "
          f"{'removed':>7} {'driver py MB':>12} {'JVM MB':>7} {'worker max MB':>13} {'workers sum MB':>14}")
    tmp = tempfile.mkdtemp(prefix="tamis-bench-dedup-")
    for scale in (1, 4):
        path = f"{tmp}/input-{scale}x.parquet"
        subprocess.run([sys.executable, __file__, "--prepare", str(scale), "--path", path], check=True)
        res = subprocess.run([sys.executable, __file__, "--e2e", str(scale), "--path", path],
                             capture_output=True, text=True)
        line = next((l for l in res.stdout.splitlines() if l.startswith("{")), None)
        if line is None:
            print(f"scale {scale} failed:\n{res.stderr[-3000:]}")
            continue
        r = json.loads(line)
        print(f"{r['scale']:>4}x {r['docs']:7d} {r['text_mb']:7.1f} {r['seconds']:7.1f} {r['mb_per_s']:6.2f} "
              f"{r['cpu_seconds']:6.1f} {r['mb_per_cpu_s']:8.2f} {r['removed']:7d} {r['driver_python']:12.0f} "
              f"{r['jvm']:7.0f} {r['python_worker_max']:13.0f} {r['python_workers_total']:14.0f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}  (MB/s = wall time on 1 core; MB/CPU-s = text MB per "
          f"CPU-second of driver, JVM and workers together)")


if __name__ == "__main__":
    main()
