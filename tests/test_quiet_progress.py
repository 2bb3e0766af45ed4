"""Issue 21: a `tamis run` with its output in files prints no line from the JVM, one line per stage and the
summary (80 columns, nothing cut); `--ui` prints the Spark UI's URL and the UI answers on loopback."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console

from engine.cli.summary import print_summary
from engine.spark.progress import Snapshot, StageProgress, running_line, stage_line
from tests.conftest import ROOT
from tests.hooks import pause_env
from tests.test_run_spark import write_spec

JVM_NOISE = re.compile(r"WARNING:|WARN |INFO |ERROR |log4j|Setting default log level|SLF4J|Exception|"
                       r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d")
STAGE = re.compile(r"^✓ (\w+)  [\d,]+ rows  [\d,]+ rows/s  (?:(\d+\.\d) s|(\d+) min (\d+) s)$")


def _seconds(m: re.Match) -> float:
    return float(m.group(2)) if m.group(2) else 60 * int(m.group(3)) + int(m.group(4))


def _check_stage_lines(err_lines: list[str], stages: list[str]):
    """First what the run will reuse and compute (one `stages:` line), then exactly one ✓ line per stage, in
    order; a `…` progress line only for a stage that ran ≥ 30 s."""
    assert err_lines and err_lines[0].startswith("stages: score "), err_lines
    err_lines = err_lines[1:]
    done = [STAGE.match(l) for l in err_lines if l.startswith("✓")]
    assert all(done) and [m.group(1) for m in done] == stages, err_lines
    long_ones = {m.group(1) for m in done if _seconds(m) >= 30}
    for l in err_lines:
        assert l.startswith(("✓", "… ")), f"unexpected line: {l!r}"
        if l.startswith("… "):
            assert l[2:].split(":")[0] in long_ones, l


def _run(tmp_path: Path, *args: str, env=None, out="quiet"):
    f = write_spec(tmp_path, out=out, work=str(tmp_path / "work"))
    so, se = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(so, "w") as o, open(se, "w") as e:
        p = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", f, "--master", "local[2]", *args],
                             cwd=ROOT, stdout=o, stderr=e, env=env)
    return p, so, se


@pytest.mark.spark
def test_run_in_a_log_prints_one_line_per_stage_and_an_80_column_summary(tmp_path):
    p, so, se = _run(tmp_path, env={**os.environ, "COLUMNS": "200"})   # a wide COLUMNS: still 80
    assert p.wait(timeout=600) == 0, se.read_text()[-2000:]
    stdout, stderr = so.read_text(), se.read_text()
    for line in (stdout + stderr).splitlines():
        assert not JVM_NOISE.search(line), f"a JVM line reached the output: {line!r}"
    _check_stage_lines([l for l in stderr.splitlines() if l.strip()], ["score", "decide", "mix", "write"])
    # stdout is the summary and nothing else: exactly what print_summary renders from the manifest at 80 columns
    manifest = json.loads((tmp_path / "quiet" / "manifest.json").read_text())
    buf = io.StringIO()
    print_summary(Console(file=buf, width=80, markup=False, emoji=False, highlight=False), manifest,
                  str(tmp_path / "quiet"))
    assert stdout == buf.getvalue()
    assert all(len(l) <= 80 for l in stdout.splitlines()) and "…" not in stdout
    # the JVM did print: into the work dir's driver log
    log = (tmp_path / "work" / "spark-driver.log").read_text()
    assert "--- tamis" in log and "WARNING: Using incubator modules" in log


@pytest.mark.spark
def test_ui_prints_a_url_that_answers_on_loopback_while_the_run_runs(tmp_path):
    env = pause_env(TAMIS_TEST_PAUSE_BEFORE_COMMIT="30")   # the run holds still before its commit
    p, so, se = _run(tmp_path, "--ui", env=env, out="ui")
    try:
        deadline, url = time.time() + 300, None
        while url is None and time.time() < deadline and p.poll() is None:
            m = re.search(r"^Spark UI: (http://\S+)$", se.read_text(), re.M)
            url = m and m.group(1)
            time.sleep(0.5)
        assert url, se.read_text()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        while not (tmp_path / "work").exists() or "write" not in se.read_text():
            time.sleep(0.5)     # the UI runs from Spark's start; ask it once the run is under way
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs/", timeout=20) as r:
            assert r.status == 200 and b"Spark" in r.read()
        assert p.wait(timeout=600) == 0, se.read_text()[-2000:]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    lines = [l for l in se.read_text().splitlines() if l.strip()]
    assert sum(l.startswith("Spark UI: ") for l in lines) == 1
    _check_stage_lines([l for l in lines if not l.startswith("Spark UI: ")], ["score", "decide", "mix", "write"])


@pytest.mark.spark
def test_plan_prints_each_stage_once(tmp_path):
    """plan with dedup: the estimate comes between scoring and dedup, each stage once."""
    f = write_spec(tmp_path, out="planned", work=str(tmp_path / "work"), extra_source="dedup: {exact: true}\n")
    r = subprocess.run([sys.executable, "-m", "engine.cli", "plan", f, "--master", "local[2]"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not any(JVM_NOISE.search(l) for l in (r.stdout + r.stderr).splitlines()), r.stderr
    _check_stage_lines([l for l in r.stderr.splitlines() if l.strip()], ["score", "estimate", "dedup", "decide", "plan"])


# ------------------------------------------------------------------------------------ the display alone


class FakeConsole(Console):
    def __init__(self, terminal: bool):
        super().__init__(file=io.StringIO(), width=120, force_terminal=terminal, markup=False)


def test_stage_lines_one_per_stage_and_the_write_clock_covers_every_step(monkeypatch):
    import engine.spark.progress as progress

    clock = iter([0.0, 100.0, 101.0, 101.0, 103.0, 103.0])   # init, starts and ends
    monkeypatch.setattr(progress.time, "time", lambda: next(clock))
    monkeypatch.setattr(progress, "snapshot", lambda rec: Snapshot(rows=4000))
    c = FakeConsole(terminal=False)
    p = StageProgress(c)
    p.stage("annotate", "reading")        # t=100
    p.stage("write", "writing shards")    # t=101: annotate ends (1 s)
    p.stage("write", "writing rejects")   # a step of write: its clock runs on
    p.stage("annotate", "again")          # plan's second pass over the reused stage: no new stage
    p.stage("done")                        # t=103: write ends (2 s)
    lines = c.file.getvalue().splitlines()
    assert lines == ["✓ annotate  4,000 rows  4,000 rows/s  1.0 s", "✓ write  4,000 rows  2,000 rows/s  2.0 s"]


def test_a_plain_log_gets_a_line_every_30_s_only_while_a_stage_runs_long(monkeypatch):
    import engine.spark.progress as progress

    now = [0.0]
    monkeypatch.setattr(progress.time, "time", lambda: now[0])
    monkeypatch.setattr(progress, "snapshot", lambda rec: Snapshot(rows=600, done=3, total=10, eta=70.0))
    c = FakeConsole(terminal=False)
    p = StageProgress(c)
    p.stage("annotate", "reading and filtering")
    for t in (1, 10, 29.9):
        now[0] = t
        p._tick()
    assert c.file.getvalue() == ""
    now[0] = 30.0
    p._tick()
    now[0] = 31.0
    p._tick()                         # the next one is due at 60 s
    assert c.file.getvalue().splitlines() == [
        "… annotate: reading and filtering  600 rows  20 rows/s  tasks 3/10  ETA 1 min 10 s  30.0 s"]


def test_failed_stage_prints_no_tick():
    c = FakeConsole(terminal=False)
    with pytest.raises(RuntimeError):
        with StageProgress(c) as p:
            p.stage("annotate", "reading")
            raise RuntimeError("boom")
    assert c.file.getvalue() == ""


def test_line_formats():
    assert stage_line("mix", Snapshot(rows=None), 2.04) == "mix  2.0 s"
    assert stage_line("annotate", Snapshot(rows=12_345), 4.1) == "annotate  12,345 rows  3,011 rows/s  4.1 s"
    assert running_line("dedup", "", Snapshot(rows=0, done=0, total=4), 125) == "dedup  0 rows  0 rows/s  tasks 0/4  2 min 05 s"
