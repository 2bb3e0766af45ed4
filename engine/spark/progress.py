"""Progress on long work: the current stage and Spark's task counts, polled from the status tracker."""
from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text


class StageProgress:
    def __init__(self, console: Console, interval: float = 0.5):
        self.console, self.interval = console, interval
        self.name, self.detail, self.t0 = "start", "starting Spark", time.time()
        self._stop = threading.Event()
        self._live = Live(console=console, transient=True, refresh_per_second=4, redirect_stderr=False)

    def stage(self, name: str, detail: str = ""):
        if name != self.name and self.name != "start":
            self.console.print(f"[green]✓[/green] {self.name} ({time.time() - self.t0:.1f}s)", highlight=False)
        self.name, self.detail, self.t0 = name, detail, time.time()

    def _tasks(self) -> str:
        try:
            from pyspark import SparkContext

            sc = SparkContext._active_spark_context
            if sc is None:
                return ""
            tracker = sc.statusTracker()
            done = total = 0
            for sid in tracker.getActiveStageIds():
                info = tracker.getStageInfo(sid)
                if info:
                    done += info.numCompletedTasks
                    total += info.numTasks
            return f" tasks {done}/{total}" if total else ""
        except Exception:
            return ""

    def _loop(self):
        while not self._stop.wait(self.interval):
            if self.name != "done":
                self._live.update(Text(f"⠿ {self.name}: {self.detail}{self._tasks()} "
                                       f"[{time.time() - self.t0:.0f}s]"))

    def __enter__(self):
        if self.console.is_terminal:
            self._live.start()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.console.is_terminal:
            self._live.stop()
        return False
