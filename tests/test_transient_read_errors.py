"""A read error of the file's surroundings (moved away, no permission, ...) is not cached with the stage.

Input files moved away while a run reads them become `read:error:FileNotFoundError` rows; moved back
unchanged (same names, sizes, mtimes: the same stage key) and rerun with `--overwrite`, the stages used to
be reused and the errors stayed forever. Now a stage holding such errors is written but marked not
reusable (`_TRANSIENT`), and the rerun recomputes it (and every stage after it) and says why.
"""
from __future__ import annotations

import gzip
import json
import os
import signal
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
def test_files_moved_away_mid_run_are_read_again_after_they_come_back(spark, tmp_path):
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
        while not list((tmp_path / "work").glob(".annotate-*.tmp-*/_temporary/0/task_*")):
            assert p.poll() is None, log.read_text()[-2000:]
            assert time.time() < deadline, "timed out waiting for the first annotate task"
            time.sleep(0.02)
        os.rename(gen, away)                              # moved away mid-run
        p.wait(timeout=900)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, log.read_text()[-3000:]
    first = json.loads((tmp_path / "out" / "manifest.json").read_text())
    lost = _errors(first).get("read:error:FileNotFoundError", 0)
    assert lost > 0, f"every file was read before the move; nothing to test: {first['sources']['gen']}"
    st = first["stages"]["annotate"]
    assert st["reused"] is False and st["reusable"] is False
    assert st["transient_read_errors"]["read:error:FileNotFoundError"]["docs"] == lost
    assert first["stages"]["dedup"]["reusable"] is False

    os.rename(away, gen)                                  # moved back, unchanged
    second = run(load_spec(spec), overwrite=True)
    assert len(list((tmp_path / "work").glob("annotate-*"))) == 1, "same stage key: replaced in place"
    assert _errors(second) == {}
    assert second["sources"]["gen"]["docs_read"] == 40 * 6
    for stage in ("annotate", "dedup"):
        st = second["stages"][stage]
        assert st["reused"] is False and "reusable" not in st, st
        assert "transient read errors: read:error:FileNotFoundError" in st["recomputed"], st

    third = run(load_spec(spec), overwrite=True)         # a clean stage is reused again
    assert third["stages"]["annotate"] == {"reused": True} and third["stages"]["dedup"] == {"reused": True}
    assert third["shards"] == second["shards"]


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
