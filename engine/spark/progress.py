"""Progress on long work: one line per stage when it ends (`✓ annotate  12,345 rows  3,210 rows/s  4.1 s`), read
from Spark's status store; in a terminal also a live line with rows done, rate and ETA, in a plain log a line
every `every` seconds while a stage runs longer than that (so a log shows progress without noise).

Rows: the records the stage's Spark jobs wrote (its Parquet checkpoint), else the records its largest Spark
step read (the mix and the shard writer write through Python, which Spark does not count). The ETA comes from
task counts (tasks done / total of the running Spark steps): Spark knows no rows still to come.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live

from engine.display import lit

PLAIN_EVERY = 30.0      # seconds between progress lines of one stage when the output is no terminal


@dataclass
class Snapshot:
    rows: int | None = None           # None: no Spark to ask
    done: int = 0                      # tasks done and in all, over the stage's Spark steps so far
    total: int = 0
    eta: float | None = None           # seconds, from the running Spark steps' task counts


@dataclass
class _StageRecords:
    """What the status store says of a stage's Spark jobs; finished Spark steps are read once."""
    jobs_before: set[int] = field(default_factory=set)
    finished: dict[int, tuple] = field(default_factory=dict)    # Spark stage id -> (written, read, tasks)
    first_seen: dict[int, float] = field(default_factory=dict)  # Spark stage id -> when it was first seen running


def _context():
    try:
        from pyspark import SparkContext
    except ImportError:
        return None
    return SparkContext._active_spark_context


def _job_ids(sc) -> set[int]:
    try:
        return set(sc.statusTracker().getJobIdsForGroup()) if sc is not None else set()
    except Exception:  # noqa: BLE001 - a stopped context: nothing to count
        return set()


def _step(store, sid: int, rec: _StageRecords, now: float):
    """(written, read, done, total, eta) of one Spark stage, or None when the store does not know it yet."""
    if sid in rec.finished:
        w, r, n = rec.finished[sid]
        return w, r, n, n, None
    try:
        d = store.lastStageAttempt(sid)
    except Exception:  # noqa: BLE001 - not submitted yet (or the JVM gone)
        return None
    status = d.status().toString()
    if status == "SKIPPED":         # its output was reused: no work, and its tasks never run
        return None
    w, r = d.outputRecords(), d.inputRecords() + d.shuffleReadRecords()
    done, total = d.numCompleteTasks(), d.numTasks()
    if status == "COMPLETE":
        rec.finished[sid] = (w, r, total)
        return w, r, total, total, None
    eta = None
    if status == "ACTIVE":
        t = rec.first_seen.setdefault(sid, now)
        eta = (now - t) * (total - done) / done if done else None
    return w, r, done, total, eta


def snapshot(rec: _StageRecords) -> Snapshot:
    sc = _context()
    if sc is None:
        return Snapshot()
    try:
        tracker, store = sc.statusTracker(), sc._jsc.sc().statusStore()
        written = read = done = total = 0
        etas, now = [], time.time()
        for jid in sorted(_job_ids(sc) - rec.jobs_before):
            job = tracker.getJobInfo(jid)
            for sid in job.stageIds if job else ():
                got = _step(store, sid, rec, now)
                if got is None:
                    continue
                written, read = written + got[0], max(read, got[1])
                done, total = done + got[2], total + got[3]
                etas += [got[4]] if got[4] is not None else []
        return Snapshot(written or read, done, total, max(etas) if etas else None)
    except Exception:  # noqa: BLE001 - progress is a display: never the reason a run fails
        return Snapshot()


def _secs(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {int(s % 60):02d} s"


def stage_line(name: str, snap: Snapshot, elapsed: float) -> str:
    """`annotate  12,345 rows  3,210 rows/s  4.1 s`"""
    parts = [name]
    if snap.rows is not None:
        parts += [f"{snap.rows:,} rows", f"{snap.rows / max(elapsed, 1e-3):,.0f} rows/s"]
    return "  ".join(parts + [_secs(elapsed)])


def running_line(name: str, detail: str, snap: Snapshot, elapsed: float) -> str:
    """`annotate: reading and filtering  5,000 rows  1,200 rows/s  tasks 3/10  ETA 12 s  4.1 s`"""
    parts = [f"{name}: {detail}" if detail else name]
    if snap.rows is not None:
        parts += [f"{snap.rows:,} rows", f"{snap.rows / max(elapsed, 1e-3):,.0f} rows/s"]
    if snap.total:
        parts.append(f"tasks {snap.done}/{snap.total}")
    if snap.eta is not None:
        parts.append(f"ETA {_secs(snap.eta)}")
    return "  ".join(parts + [_secs(elapsed)])


class StageProgress:
    """The CLI's progress display; `stage(name, detail)` is the engine's `say` callback.

    A new detail for the current stage is a step of it (its clock runs on: `write` covers shards, rejects and
    the manifest); a stage that already ended is not entered again (`plan` passes over the reused annotate
    stage a second time: that time goes to the stage running then). `stage("done")` ends the last stage.
    A stage that fails prints no line (the error says which stage it was, engine/cli/errors.py).
    """

    def __init__(self, console: Console, interval: float = 0.5, every: float = PLAIN_EVERY, ui: bool = False):
        self.console, self.interval, self.every, self.ui = console, interval, every, ui
        self.name, self.detail, self.t0 = "start", "starting Spark", time.time()
        self.ended: list[str] = []
        self._rec = _StageRecords()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._live = (Live(console=console, transient=True, refresh_per_second=4, redirect_stderr=False)
                      if console.is_terminal else None)
        self._thread: threading.Thread | None = None
        self._ui_shown = False

    def stage(self, name: str, detail: str = ""):
        with self._lock:
            if name == self.name:
                self.detail = detail
                return
            if name in self.ended:
                return
            if self.name != "start":
                self._end()
            self._show_ui()
            self.name, self.detail, self.t0 = name, detail, time.time()
            self._rec = _StageRecords(jobs_before=_job_ids(_context()))
            self._next_plain = self.t0 + self.every

    def _end(self):
        elapsed = time.time() - self.t0
        self.console.print(lit(("✓", "green"), " ", stage_line(self.name, snapshot(self._rec), elapsed)))
        self.ended.append(self.name)

    def _show_ui(self):
        """`Spark UI: http://127.0.0.1:4040`, once, as soon as Spark runs (`--ui`)."""
        sc = _context()
        if self.ui and not self._ui_shown and sc is not None:
            self._ui_shown = True
            url = sc.uiWebUrl
            self.console.print(lit("Spark UI: ", url or "off (this Spark was started without it)"))

    def _tick(self):
        with self._lock:
            if self.name in ("start", "done"):
                return
            now = time.time()
            if self._live is not None:
                line = running_line(self.name, self.detail, snapshot(self._rec), now - self.t0)
                self._live.update(lit(("⠿ ", "cyan"), line))
            elif self.every and now >= self._next_plain:
                self._next_plain = now + self.every
                self.console.print(lit("… ", running_line(self.name, self.detail, snapshot(self._rec),
                                                          now - self.t0)))

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._tick()

    def __enter__(self):
        if self._live is not None:
            self._live.start()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._live is not None:
            self._live.stop()
        return False
