"""Full web pipeline, tamis vs datatrove, on the same real WARC pages: throughput per core and agreement.

    .venv/bin/python bench/bench_pipeline.py [--copies 8] [--master local[1]] [--no-datatrove] [--profile]

Input: the real WARC files of ../shared/data (bench/common.py: WARC_FILES, 194 HTML pages, 3.7 MB gzip),
written `--copies` times into a work folder with rewritten WARC-Record-IDs (copy 0 keeps the original
ids), so every copy is a distinct document for both tools (tamis' id = source + WARC-Record-ID, datatrove's
id = the WARC-Record-ID). The copies are exact duplicates of each other's text, so MinHash dedup has real
work: every kept page forms a cluster of `copies` documents.

tamis: `engine.run.run(spec, master)` (the code path of `tamis run`) on embedded Spark, one fresh run in a
child process: WARC -> trafilatura (tamis default) -> language(en, 0.65) -> gopher_repetition ->
gopher_quality -> c4_quality -> fineweb_quality -> nsfw (URL; text-word rule off, as datatrove's URLFilter
has none) -> exact + MinHash dedup (0.8) -> shards + rejects + manifest.
datatrove: bench/datatrove_pipeline.py (the same steps with datatrove's classes, tasks=1, workers=1).

Per core = documents / CPU seconds of the whole process tree (tamis: driver Python + JVM + Python workers,
Spark start-up included; datatrove: its process + extractor sandbox). MB/s per core: WARC input bytes and
extracted text bytes per CPU second.

Agreement on the documents both saw (matched by WARC-Record-ID):
- filters: kept by every filter (tamis: no reason or a `duplicate:` reason; datatrove: reached the MinHash
  stage) on both sides or dropped on both;
- final (after dedup), up to the choice of survivor: the two tools keep a different copy of a duplicate
  cluster (tamis: the smallest id; datatrove: the first one read), so per original page the number of kept
  copies is compared (a page kept once by both agrees on all its copies); the raw per-document figure is
  reported as well.
`--profile`: cProfile (CPU time) of tamis' per-file work outside Spark (`engine.annotate.read_and_annotate`
over the distinct files), grouped by the entry points of each stage.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.extract import DEFAULT_EXTRACTOR  # noqa: E402

from common import (PY, ROOT, SHARED, WARC_FILES, TreeMonitor, _new_id, print_table, ratio,  # noqa: E402
                    replicated_inputs, run_json, write_json)

WORK = Path(os.environ.get("TAMIS_BENCH_WORK", Path(tempfile.gettempdir()) / "tamis-bench"))
FILTERS = [
    {"kind": "language", "keep": ["en"], "min_score": 0.65},
    {"kind": "gopher_repetition"},
    {"kind": "gopher_quality"},
    {"kind": "c4_quality"},
    {"kind": "fineweb_quality"},
    {"kind": "nsfw", "max_word_ratio": 1.0},
]


def inputs(copies: int) -> Path:
    d = WORK / f"warc-x{copies}"
    replicated_inputs(d, copies)
    return d


def spec_dict(inputs_dir: Path, out: Path, extractor: str = DEFAULT_EXTRACTOR) -> dict:
    return {
        "name": "bench-web", "seed": 17, "tokenizer": "cl100k_base",
        "output": {"path": str(out), "keep_rejects": True},
        "sources": [{"name": "web", "kind": "warc", "paths": [str(inputs_dir / "*.warc.gz")],
                     "extractor": extractor, "extract_timeout": 10.0, "filters": FILTERS}],
        "dedup": {"exact": True, "minhash": {"threshold": 0.8}},
    }


# ---------------------------------------------------------------- tamis, in a child process


def tamis_child(args) -> None:
    """One fresh `run()` on `args.master`; writes CPU per stage, memory, docs, bytes and decisions."""
    import yaml

    mon = TreeMonitor(interval=0.2).__enter__()
    t0 = time.time()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    inputs_dir = Path(args.inputs)
    from engine.spec import parse_spec

    sd = spec_dict(inputs_dir, work / "out", args.extractor)
    sd["spark"] = dict(kv.split("=", 1) for kv in (args.conf or []))
    spec = parse_spec(yaml.safe_dump(sd), "bench.yaml", base_dir=str(work))
    from engine.run import run
    from engine.spark.session import get_spark

    spark = get_spark(args.master, conf=spec.spark)
    spy = PySpy(mon, work / "py-spy.txt") if args.py_spy else None
    marks = [("startup", time.time(), mon.cpu())]
    tracker = spark.sparkContext.statusTracker()
    jobs_at = {}

    def progress(stage, detail=""):
        if not marks or marks[-1][0] != stage:
            marks.append((stage, time.time(), mon.cpu()))
            jobs_at[stage] = len(tracker.getJobIdsForGroup(None))

    manifest = run(spec, master=args.master, overwrite=True, progress=progress)
    progress("end")
    cpu_end = mon.cpu()
    mon.sample()
    # marks: startup, score, dedup, decide, mix, write, done, end: each span is named by its start
    spans = [{"stage": "process + imports + Spark start-up", "wall_s": round(marks[0][1] - t0, 2),
              "cpu_s": round(marks[0][2]["total"], 2)}]
    for (name, t, c), (_, t2, c2) in zip(marks[1:], marks[2:]):
        spans.append({"stage": name, "wall_s": round(t2 - t, 2), "cpu_s": round(c2["total"] - c["total"], 2),
                      "cpu_jvm_s": round(c2["jvm"] - c["jvm"], 2),
                      "cpu_python_workers_s": round(c2["python_workers"] - c["python_workers"], 2),
                      "spark_jobs": jobs_at.get(_, 0) - jobs_at.get(name, 0)})
    spy_summary = spy.finish() if spy else None
    spark.stop()
    mon.stop()

    # decisions per record id, text bytes
    import duckdb

    out = work / "out"
    con = duckdb.connect()
    q = """select json_extract_string(meta, '$.record_id') rid, {reason}, octet_length(encode(text)) nb
           from read_parquet(?, union_by_name=true)"""
    rows = con.execute(q.format(reason="null::varchar reason"), [str(out / "*.parquet")]).fetchall()
    rej = (con.execute(q.format(reason="reason"), [str(out / "rejects" / "*.parquet")]).fetchall()
           if list((out / "rejects").glob("*.parquet")) else [])
    decisions = work / "decisions.tsv"
    text_bytes = 0
    with open(decisions, "w") as f:
        for rid, reason, nb in rows + rej:
            f.write(f"{rid}\t{'kept' if reason is None else 'dropped'}\t{reason or ''}\t{nb or 0}\n")
            if reason is None or not str(reason).startswith("read:"):
                text_bytes += nb or 0
    kept_rows = len(rows)
    input_bytes = sum(p.stat().st_size for p in inputs_dir.glob("*.warc.gz"))
    write_json(Path(args.json), {
        "tool": "tamis", "master": args.master, "extractor": args.extractor, "conf": spec.spark,
        "docs": manifest["totals"]["docs_read"], "docs_kept": kept_rows,
        "input_bytes": input_bytes, "text_bytes": text_bytes,
        "cpu_s": round(cpu_end["total"], 2), "wall_s": round(time.time() - t0, 2),
        "cpu_startup_s": round(marks[0][2]["total"], 2),
        "cpu_by_class": {k: round(v, 2) for k, v in cpu_end.items()},
        "stages": spans, "peak_mb": mon.peak_mb(), "decisions": str(decisions),
        "dropped": manifest["sources"]["web"]["docs_dropped"], "py_spy": spy_summary,
    })


def run_tamis(inputs_dir: Path, master: str, tag: str, extractor: str = DEFAULT_EXTRACTOR, timeout: float = 900,
              py_spy: bool = False, conf: list[str] | None = None) -> dict:
    work = WORK / f"tamis-{tag}"
    out = WORK / f"tamis-{tag}.json"
    cmd = [PY, __file__, "_tamis", "--inputs", str(inputs_dir), "--work", str(work), "--json", str(out),
           "--master", master, "--extractor", extractor] + (["--py-spy"] if py_spy else [])
    for kv in conf or []:
        cmd += ["--conf", kv]
    return run_json(cmd, out, timeout, env={"TAMIS_SPARK_LOG_LEVEL": "ERROR"}, log=WORK / f"tamis-{tag}.log")


def run_datatrove(inputs_dir: Path, tag: str, timeout: float = 1200, extractor: str = "trafilatura") -> dict:
    from engine.dedup.minhash import lsh_params

    bands, rows = lsh_params(0.8, 128)
    out = WORK / f"datatrove-{tag}.json"
    return run_json([PY, str(ROOT / "bench" / "datatrove_pipeline.py"), "--inputs", str(inputs_dir),
                     "--work", str(WORK / f"datatrove-{tag}"), "--json", str(out), "--extractor", extractor,
                     "--bands", str(bands), "--rows", str(rows)], out, timeout, log=WORK / f"datatrove-{tag}.log")


# ---------------------------------------------------------------- py-spy on Spark's Python workers


class PySpy:
    """`py-spy record` on every Python worker of this process tree (forks of PySpark's daemons: one daemon
    serves RDD functions, another `mapInArrow`; with `spark.python.worker.reuse` a worker runs many tasks),
    each attached as soon as it appears; `finish()` stops them and summarizes the samples by stage.
    (`--subprocesses` on a daemon loses the workers it forks.)"""

    def __init__(self, mon: TreeMonitor, out: Path, rate: int = 50):
        import threading

        self.mon, self.out, self.rate = mon, out, rate
        self.procs: dict[int, object] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._attach, daemon=True)
        self._t.start()

    def _attach(self):
        import subprocess

        exe = Path(sys.executable).with_name("py-spy")
        while not self._stop.is_set():
            for p in self.mon._procs():
                if p.pid in self.procs:
                    continue
                try:
                    cmd = " ".join(p.cmdline())
                    parent = p.parent()
                    worker = ("pyspark.daemon" in cmd and parent is not None
                              and "pyspark.daemon" in " ".join(parent.cmdline()))
                except Exception:   # noqa: BLE001
                    continue
                if worker:
                    self.procs[p.pid] = subprocess.Popen(
                        [str(exe), "record", "-p", str(p.pid), "-r", str(self.rate), "-f", "raw", "-o",
                         f"{self.out}.{p.pid}", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._stop.wait(0.2)

    def finish(self) -> dict | None:
        import signal

        self._stop.set()
        self._t.join(timeout=5)
        for proc in self.procs.values():
            proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except Exception:   # noqa: BLE001
                proc.kill()
        with open(self.out, "w") as f:
            for pid in self.procs:
                part = Path(f"{self.out}.{pid}")
                if part.exists():
                    f.write(part.read_text(errors="replace"))
        return summarize_py_spy(self.out) if self.procs else None


# (category, fragments of a frame: file or function); the deepest frame of a sample that matches decides
SPY_CATEGORIES = [
    ("pyspark worker + Arrow IPC", ("pyspark/", "serializers.py", "worker.py", "daemon.py", "worker_util.py",
                                    "spark_message_receiver", "pyarrow/ipc")),
    ("worker start-up imports", ("<frozen zipimport>", "<frozen importlib")),
    ("pipeline glue", ("engine/annotate.py", "engine/spark/annotate.py", "filters/chain.py", "engine/schema.py",
                       "engine/readers/__init__.py")),
    ("WARC read (gzip, records, HTTP)", ("engine/readers/warc/",)),
    ("extraction (trafilatura + lxml)", ("engine/extract.py", "trafilatura/", "lxml/", "justext/", "courlan/",
                                         "htmldate/", "charset_normalizer/")),
    ("charset / resiliparse", ("resiliparse/",)),
    ("language ID (fastText)", ("filters/language.py", "filters/scripts.py", "fasttext/")),
    ("quality filters", ("filters/gopher.py", "filters/c4.py", "filters/fineweb.py", "filters/text/",
                         "filters/spacy_en.py")),
    ("nsfw (URL)", ("filters/nsfw.py", "tldextract/")),
    ("token counts", ("engine/tokenize.py", "bpe_openai/")),
    ("dedup (signatures, verify)", ("engine/spark/dedup.py", "engine/spark/components.py", "engine/dedup/")),
    ("writing shards", ("engine/spark/write.py",)),
]
_SPY_IDLE = ("manager (daemon.py", "read_int (serializers.py")   # a worker waiting for the JVM


def summarize_py_spy(path: Path) -> dict:
    """Busy samples per category from py-spy's raw (collapsed) output: `frame;frame;... count` per line,
    root first. Samples whose innermost frame is the daemon's wait loop or a socket read are idle."""
    counts: Counter = Counter()
    idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        if any(frames[-1].startswith(i) for i in _SPY_IDLE):
            idle += int(n)
            continue
        cat = "other"
        for frame in frames:
            for name, frags in SPY_CATEGORIES:
                if any(f in frame for f in frags):
                    cat = name
        counts[cat] += int(n)
    busy = sum(counts.values())
    return {"busy_samples": busy, "idle_samples": idle,
            "share": {k: round(v / busy, 3) for k, v in counts.most_common()} if busy else {}}


# ---------------------------------------------------------------- agreement


def _read_decisions(path: str) -> dict[str, tuple[str, str]]:
    """record id -> (kept|dropped, reason)"""
    out = {}
    for line in Path(path).read_text().splitlines():
        rid, dec, reason = (line.split("\t") + ["", ""])[:3]
        out[rid] = (dec, reason)
    return out


def _read_text_bytes(path: str) -> dict[str, int]:
    """record id -> UTF-8 bytes of the extracted text (0: none), from the 4th column of a decisions file"""
    out = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split("\t")
        if len(parts) > 3 and parts[3].isdigit():
            out[parts[0]] = int(parts[3])
    return out


def _passed_filters(tool: str, dec: str, reason: str) -> bool:
    if dec == "kept":
        return True
    return reason.startswith("duplicate") if tool == "tamis" else reason.startswith("minhash")


def _reason_family(tool: str, reason: str) -> str:
    if not reason:
        return "kept"
    if tool == "tamis":
        head = reason.split(":")[0]
        return {"read": "extraction", "nsfw": "url", "duplicate": "dedup"}.get(head, head)
    head = reason.split(":")[0]
    return {"extraction": "extraction", "minhash": "dedup"}.get(head, head)


def original_ids(copies: int) -> dict[str, tuple[str, int]]:
    """record id of any copy -> (record id in copy 0, copy number)."""
    from engine.readers.warc.records import Record, iter_records
    from engine.readers.warc.stream import Stream, file_chunks

    out = {}
    for f in WARC_FILES:
        for rec in iter_records(Stream(file_chunks(str(SHARED / f))), lambda fmt, h, n: 0):
            if isinstance(rec, Record) and rec.headers.get("warc-record-id"):
                rid = rec.headers["warc-record-id"]
                out[rid] = (rid, 0)
                for k in range(1, copies):
                    out[_new_id(k, rid.encode()).decode()] = (rid, k)
    return out


def agreement(t_path: str, d_path: str, copies: int) -> dict:
    t, d = _read_decisions(t_path), _read_decisions(d_path)
    both = sorted(set(t) & set(d))
    orig = original_ids(copies)
    filt_agree = sum(_passed_filters("tamis", *t[i]) == _passed_filters("datatrove", *d[i]) for i in both)
    raw_agree = sum((t[i][0] == "kept") == (d[i][0] == "kept") for i in both)
    # final, up to the survivor: per original page, kept copies on each side
    per_page = defaultdict(lambda: [0, 0, 0])
    for i in both:
        page = orig.get(i, (i, 0))[0]
        per_page[page][0] += 1
        per_page[page][1] += t[i][0] == "kept"
        per_page[page][2] += d[i][0] == "kept"
    final_agree = sum(n - abs(kt - kd) for n, kt, kd in per_page.values())
    # disagreements on the filter decision: (tamis reason, datatrove reason) per distinct original page
    pages: dict[tuple[str, str], set] = defaultdict(set)
    examples = {}
    for i in both:
        pt, pd = _passed_filters("tamis", *t[i]), _passed_filters("datatrove", *d[i])
        if pt != pd:
            page = orig.get(i, (i, 0))[0]
            key = (_reason_family("tamis", t[i][1]) if not pt else "passed",
                   _reason_family("datatrove", d[i][1]) if not pd else "passed")
            pages[key].add(page)
            examples.setdefault(page, {"tamis": t[i][1] or "kept", "datatrove": d[i][1] or "kept"})
    dis = [{"tamis": a, "datatrove": b, "pages": len(v)} for (a, b), v in sorted(pages.items(), key=lambda kv: -len(kv[1]))]
    n = len(both)
    tb, db = _read_text_bytes(t_path), _read_text_bytes(d_path)
    with_text = [i for i in both if tb.get(i) and db.get(i)]
    same_len = sum(tb[i] == db[i] for i in with_text)
    return {
        "extracted_same_length": round(same_len / len(with_text), 4) if with_text else None,
        "docs_tamis": len(t), "docs_datatrove": len(d), "docs_both": n,
        "only_tamis": len(set(t) - set(d)), "only_datatrove": len(set(d) - set(t)),
        "filters_agree": round(filt_agree / n, 4) if n else None,
        "final_agree": round(final_agree / n, 4) if n else None,
        "final_agree_raw": round(raw_agree / n, 4) if n else None,
        "kept_tamis": sum(t[i][0] == "kept" for i in both), "kept_datatrove": sum(d[i][0] == "kept" for i in both),
        "filter_disagreements": dis, "examples": dict(list(examples.items())[:12]),
        "first_reason_tamis": dict(Counter(_reason_family("tamis", t[i][1]) for i in both).most_common()),
        "first_reason_datatrove": dict(Counter(_reason_family("datatrove", d[i][1]) for i in both).most_common()),
    }


# ---------------------------------------------------------------- profile (outside Spark)

def profile(copies: int = 8, extractor: str = DEFAULT_EXTRACTOR, top: int = 20) -> dict:
    """Where a Spark task's Python time goes: `read_and_annotate` over the pipeline's input files, in one
    process as a reused Spark worker runs them (models and memos load once, on the first file).

    Stage CPU comes from process-time wrappers around each stage's entry point (extraction, every filter's
    score + decide, token counts; the rest is WARC reading, charset decoding, Arrow glue): accurate, unlike
    cProfile, which inflates code made of many small Python calls (it showed bpe-openai's 0.7 s vocabulary
    load as 7 s). A cProfile pass afterwards only ranks functions by self time (`top_self`)."""
    import cProfile
    import functools
    import pstats

    import yaml

    import engine.extract as ext
    import engine.annotate as pipeline
    import engine.tokenize as tok
    from engine.schema import READ_SCHEMA
    from engine.spark.session import ARROW_MAX_BYTES
    from engine.spec import parse_spec
    from filters.chain import chain_schema

    d = inputs(copies)
    spec = parse_spec(yaml.safe_dump(spec_dict(d, WORK / "profile-out", extractor)), "bench.yaml",
                      base_dir=str(WORK))
    source = spec.sources[0]
    filters = pipeline.source_filters(source)
    schema = chain_schema(filters, READ_SCHEMA)
    files = sorted(str(p) for p in d.glob("*.warc.gz"))
    acc: dict[str, float] = {}
    restore = []

    def wrap(owner, name, label):
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*a, **k):
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                acc[label] = acc.get(label, 0.0) + time.process_time() - t

        type.__setattr__(owner, name, timed) if isinstance(owner, type) else setattr(owner, name, timed)
        restore.append((owner, name, fn))

    def work():
        n = 0
        for p in files:
            for b in pipeline.read_and_annotate(p, source, filters, schema, spec.tokenizer, ARROW_MAX_BYTES):
                n += b.num_rows
        return n

    wrap(ext, "extract_detailed", f"extraction ({extractor})")
    for f in {type(f): f for f in filters}.values():
        wrap(type(f), "score", f.kind)
        wrap(type(f), "decide", f.kind)
    wrap(tok, "count_tokens", "token counts")
    try:
        c0 = time.process_time()
        n = work()
        total = time.process_time() - c0
    finally:
        for owner, name, fn in reversed(restore):
            type.__setattr__(owner, name, fn) if isinstance(owner, type) else setattr(owner, name, fn)
    stages = [{"stage": k, "cpu_s": round(v, 3), "ms_per_doc": round(1000 * v / n, 2) if n else None,
               "share": round(v / total, 3) if total else None}
              for k, v in sorted(acc.items(), key=lambda kv: -kv[1])]
    rest = total - sum(acc.values())
    stages.append({"stage": "WARC read, charset, Arrow glue, first-use model loads", "cpu_s": round(rest, 3),
                   "ms_per_doc": round(1000 * rest / n, 2) if n else None,
                   "share": round(rest / total, 3) if total else None})
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    work()
    prof.disable()
    st = pstats.Stats(prof)
    tt_total = sum(v[2] for v in st.stats.values()) or 1.0
    top_tt = sorted(((tt, f"{_short(fn)}:{ln}({func})") for (fn, ln, func), (cc, nc, tt, ct, _) in st.stats.items()),
                    reverse=True)[:top]
    return {"docs": n, "files": len(files), "extractor": extractor, "cpu_s": round(total, 3),
            "docs_per_cpu_s": round(n / total, 1) if total else None, "stages": stages,
            "top_self": [{"fn": f, "share_of_profiled": round(t / tt_total, 3)} for t, f in top_tt]}


def _short(fn: str) -> str:
    p = fn.replace(os.sep, "/")
    for marker in ("site-packages/", "/work/main/"):
        if marker in p:
            return p.split(marker, 1)[1]
    return p


# ---------------------------------------------------------------- report


def per_core(res: dict) -> dict:
    cpu = res.get("cpu_s")
    if not cpu:
        return {}
    return {"docs_per_cpu_s": res["docs"] / cpu, "input_mb_per_cpu_s": res["input_bytes"] / 1e6 / cpu,
            "text_mb_per_cpu_s": res["text_bytes"] / 1e6 / cpu}


def compare(t: dict, d: dict) -> list[dict]:
    pt, pd = per_core(t), per_core(d)
    rows = []
    for key, label in (("docs_per_cpu_s", "docs/s per core"), ("input_mb_per_cpu_s", "WARC MB/s per core"),
                       ("text_mb_per_cpu_s", "text MB/s per core")):
        rows.append({"metric": label, "tamis": pt.get(key), "datatrove": pd.get(key),
                     "ratio": ratio(pt.get(key), pd.get(key))})
    rows.append({"metric": "CPU s (whole tree)", "tamis": t.get("cpu_s"), "datatrove": d.get("cpu_s"),
                 "ratio": ratio(d.get("cpu_s"), t.get("cpu_s"))})
    rows.append({"metric": "wall s", "tamis": t.get("wall_s"), "datatrove": d.get("wall_s"),
                 "ratio": ratio(d.get("wall_s"), t.get("wall_s"))})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--master", default="local[1]")
    ap.add_argument("--extractor", default=DEFAULT_EXTRACTOR)
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    d = inputs(args.copies)
    res = {"copies": args.copies, "files": len(list(d.glob("*.warc.gz")))}
    res["tamis"] = run_tamis(d, args.master, f"x{args.copies}-{args.master.replace('[', '').replace(']', '')}",
                             args.extractor)
    if not args.no_datatrove:
        # datatrove's counterpart of tamis' extractor: its Trafilatura for native and trafilatura (native is
        # trafilatura's rules, compiled), tamis' own resiliparse call for resiliparse
        dt_extractor = "resiliparse" if args.extractor == "resiliparse" else "trafilatura"
        res["datatrove"] = run_datatrove(d, f"x{args.copies}-{dt_extractor}", extractor=dt_extractor)
        if "error" not in res["tamis"] and "error" not in res["datatrove"]:
            res["agreement"] = agreement(res["tamis"]["decisions"], res["datatrove"]["decisions"], args.copies)
            res["compare"] = compare(res["tamis"], res["datatrove"])
    if args.profile:
        res["profile"] = profile(args.copies, args.extractor)
    report(res)
    if args.json:
        write_json(args.json, res)


def report(res: dict) -> None:
    t = res.get("tamis", {})
    if "error" in t:
        print("tamis run failed:", t["error"], t.get("log_tail", ""))
    if res.get("compare"):
        print(f"\nFull pipeline, {res['copies']} copies ({t['docs']} docs), tamis {t.get('master')} vs datatrove "
              f"(1 task, 1 worker); CPU time of each process tree")
        print_table(res["compare"], [("metric", "metric"), ("tamis", "tamis"), ("datatrove", "datatrove"),
                                     ("ratio", "tamis/datatrove")])
    a = res.get("agreement")
    if a:
        print(f"\nagreement on {a['docs_both']} docs both saw: filters {a['filters_agree']:.4f}, final (up to the "
              f"survivor) {a['final_agree']:.4f}, final raw {a['final_agree_raw']:.4f}; kept {a['kept_tamis']} vs "
              f"{a['kept_datatrove']}")
        print(f"  first drop reason, tamis: {a.get('first_reason_tamis')}")
        print(f"  first drop reason, datatrove: {a.get('first_reason_datatrove')}")
        for row in a["filter_disagreements"]:
            print(f"  {row['pages']} page(s): tamis {row['tamis']} / datatrove {row['datatrove']}")
    if t.get("stages"):
        print("\ntamis stages (CPU s of the tree / wall s):",
              ", ".join(f"{s['stage']} {s['cpu_s']}/{s['wall_s']}" for s in t["stages"]))
    p = res.get("profile")
    if p:
        print(f"\nprofile of the per-file work outside Spark: {p['docs']} docs, {p['cpu_s']} CPU s "
              f"({p['docs_per_cpu_s']} docs/s)")
        print_table(p["stages"], [("stage", "stage"), ("cpu_s", "CPU s"), ("ms_per_doc", "ms/doc"), ("share", "share")])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_tamis":
        ap = argparse.ArgumentParser()
        ap.add_argument("_cmd")
        ap.add_argument("--inputs", required=True)
        ap.add_argument("--work", required=True)
        ap.add_argument("--json", required=True)
        ap.add_argument("--master", default="local[1]")
        ap.add_argument("--extractor", default=DEFAULT_EXTRACTOR)
        ap.add_argument("--conf", action="append", help="extra Spark conf k=v (the spec's `spark:`)")
        ap.add_argument("--py-spy", action="store_true", help="sample Spark's Python workers with py-spy")
        tamis_child(ap.parse_args())
    else:
        main()
