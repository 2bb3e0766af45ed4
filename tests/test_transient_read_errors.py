"""A read error of the file's surroundings (moved away, no permission, ...) is not cached with the stage.

Input files moved away while a run reads them used to become `read:error:FileNotFoundError` rows, and the
source was written without them. Since issue 15 an input the driver listed that an executor cannot open
fails the run with one line naming the file and the host (engine.readers.InputUnreadable); moved back, a
rerun reads everything. An error of the surroundings *after* a file was opened is still a row, and a stage
holding one is written but marked not reusable (`_TRANSIENT`, `transient_error` below).
"""
from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_cluster import TAMIS, make_inputs


def _spec(folder: Path, gen: Path) -> str:
    f = folder / "mix.yaml"
    f.write_text(f"""\
name: transient
seed: 5
output:
  path: {folder / "out"}
  work_dir: {folder / "work"}
  shard_mb: 0.05
sources:
  - name: gen
    kind: jsonl
    paths: ["{gen}/*.jsonl"]
    filters:
      - {{kind: length, min_words: 20}}
dedup: {{exact: true}}
""")
    return str(f)


def _errors(m: dict) -> dict:
    return {k: v for k, v in m["sources"]["gen"]["docs_dropped"].items() if k.startswith("read:error:")}


@pytest.mark.spark
@pytest.mark.slow
def test_files_moved_away_mid_run_fail_the_run_naming_file_and_host(spark, tmp_path):
    from engine.run import run
    from engine.spec import load_spec

    gen = make_inputs(tmp_path / "gen", n_files=40)
    spec = _spec(tmp_path, gen)
    away = tmp_path / "gen-away"
    env = {**os.environ, "TAMIS_MAX_TASK_BYTES": "1"}   # a task per file: most are read after the move
    log = tmp_path / "run1.err"
    with open(log, "w") as err:   # a file, not a pipe: a full pipe would stall the run
        p = subprocess.Popen(TAMIS + ["run", spec, "--master", "local[1]"], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.time() + 600
        while not [f for f in (tmp_path / "work").rglob("part-*") if "score-" in str(f)]:   # a task wrote
            assert p.poll() is None, log.read_text()[-2000:]
            assert time.time() < deadline, "timed out waiting for the first score task"
            time.sleep(0.02)
        os.rename(gen, away)                              # moved away mid-run
        p.wait(timeout=900)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    err = log.read_text()
    assert p.returncode == 2, err[-3000:]
    assert "cannot read input " in err and f"on host {socket.gethostname()}" in err, err[-3000:]
    assert not (tmp_path / "out" / "manifest.json").exists()

    os.rename(away, gen)                                  # moved back, unchanged: the rerun reads everything
    second = run(load_spec(spec), overwrite=True)
    assert _errors(second) == {}
    assert second["sources"]["gen"]["docs_read"] == 40 * 6


def test_only_errors_of_the_surroundings_count_as_transient(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.readers import transient_error

    def error_of(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            return e
        raise AssertionError("no error")

    assert transient_error(error_of(lambda: open(tmp_path / "gone.jsonl", "rb")))
    d = tmp_path / "dir.jsonl"
    d.mkdir()
    assert transient_error(error_of(lambda: open(d, "rb")))
    assert transient_error(TimeoutError()) and transient_error(ConnectionResetError())
    # content errors that libraries raise as OSError (no errno): a rerun would fail the same way
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), bad)
    raw = bytearray(bad.read_bytes())
    raw[-20:-8] = b"\xff" * 12
    bad.write_bytes(bytes(raw))
    e = error_of(lambda: pq.read_table(bad))
    assert isinstance(e, OSError) and not transient_error(e)
    notgz = tmp_path / "x.gz"
    notgz.write_bytes(b"plain text")
    e = error_of(lambda: gzip.open(notgz).read())
    assert isinstance(e, OSError) and not transient_error(e)
    assert not transient_error(ValueError("bad json"))
