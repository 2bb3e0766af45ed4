"""Faults: a killed driver leaves nothing visible and the rerun resumes from the files that finished; a stage
folder half-written by a killed run is never taken for complete; commits survive a kill between renames."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.hooks import pause_env
from tests.test_cluster import TAMIS, make_inputs, rows, run_cli, shard_hashes, write_spec


def _start(spec: str, pause: float | None = None, env: dict | None = None, args=()) -> subprocess.Popen:
    """`tamis run SPEC` as a subprocess; `pause`: seconds it sleeps right before the commit; `env`: more
    variables (pauses of tests/hooks among them)."""
    env = pause_env(**({"TAMIS_TEST_PAUSE_BEFORE_COMMIT": str(pause)} if pause else {}), **(env or {}))
    return subprocess.Popen(TAMIS + ["run", spec, "--master", "local[1]", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(cond, p: subprocess.Popen, timeout: float = 600, what: str = ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if p.poll() is not None:
            pytest.fail(f"the run ended (exit {p.returncode}) before {what}: {p.stderr.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _kill(p: subprocess.Popen):
    try:
        os.killpg(p.pid, signal.SIGKILL)   # the driver, its JVM and the Python workers
    except ProcessLookupError:
        pass
    p.wait()


def _finished_parts(work: Path) -> dict[str, int]:
    """{sidecar name: its inode} of the score stage's parts whose file and record are complete."""
    out = {}
    for side in work.glob("score-*/part-*.json"):
        meta = json.loads(side.read_text())
        if meta["rows"] == 0 or (side.parent / meta["file"]).stat().st_size == meta["bytes"]:
            out[side.name] = side.stat().st_ino
    return out


@pytest.mark.spark
@pytest.mark.slow
def test_driver_killed_mid_stage_resumes_per_file_and_at_commit_keeps_the_output(spark, tmp_path):
    from engine.run import run
    from engine.spec import load_spec

    gen = make_inputs(tmp_path / "gen", n_files=30)
    ref = run(load_spec(write_spec(tmp_path, gen, str(tmp_path / "ref"), str(tmp_path / "ref.work"), "ref.yaml")))
    out, work = tmp_path / "out", tmp_path / "out.work"
    spec = write_spec(tmp_path, gen, str(out), str(work))

    # 1. killed in the middle of the score stage, after some input files finished: no committed stage, no output
    p = _start(spec, env={"TAMIS_TEST_PAUSE_BEFORE_PART": "0.5", "TAMIS_MAX_TASK_BYTES": "1"})
    try:
        _wait_for(lambda: len(_finished_parts(work)) >= 3, p, what="three finished files")
    finally:
        _kill(p)
    finished = _finished_parts(work)
    total = ref["stages"]["score"]["sources"]["cc"]["files_computed"] + 30
    assert 3 <= len(finished) < total and not list(work.glob("score-*/_SUCCESS"))
    assert not out.exists()

    # 2. rerun: only the files that had not finished are computed; same rows and bytes as an undisturbed run
    r = run_cli(TAMIS + ["run", spec, "--master", "local[1]"])
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    counts = m["stages"]["score"]["sources"]
    assert sum(c["files_reused"] for c in counts.values()) == len(finished)
    assert sum(c["files_computed"] for c in counts.values()) == total - len(finished)
    assert all(_finished_parts(work)[name] == ino for name, ino in finished.items()), "a finished part was redone"
    assert rows(out) == rows(tmp_path / "ref")
    assert shard_hashes(out) == shard_hashes(tmp_path / "ref")
    assert m["totals"] == ref["totals"]

    # 3. rerun with --overwrite, killed at the worst moment (new output complete in its build folder, not
    #    committed): the committed output stays as it was, every stage is reused
    before = shard_hashes(out)
    p = _start(spec, pause=600, args=["--overwrite"])
    try:
        _wait_for(lambda: [d for d in tmp_path.glob(".out.tmp-*") if (d / "_SUCCESS").exists()], p,
                  what="the commit")
    finally:
        _kill(p)
    assert (out / "_SUCCESS").exists() and shard_hashes(out) == before
    committed = list(work.glob("score-*/_SUCCESS"))
    assert len(committed) == 2                   # one per source
    for c in committed:
        listed = {f["file"] for f in json.loads((c.parent / "manifest.json").read_text())["files"]}
        assert {q.name for q in c.parent.glob("part-*")} == listed, "the killed run's parts were not removed"
    # 4. a rerun without --overwrite refuses
    r = run_cli(TAMIS + ["run", spec, "--master", "local[1]"])
    assert r.returncode == 2 and "output exists" in r.stderr


@pytest.mark.spark
def test_half_written_stage_is_rebuilt_and_stale_builds_cleaned(spark, tmp_path):
    from engine.stages import stage as _stage

    path = tmp_path / "work" / "dedup-abc"
    path.mkdir(parents=True)
    (path / "part-00000.parquet").write_bytes(b"PAR1 half a file")   # killed writer, no _SUCCESS
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / "work" / f".dedup-abc.tmp-{socket.gethostname()}-{dead}-0123abcd"
    stale.mkdir()
    alive = tmp_path / "work" / f".dedup-abc.tmp-{socket.gethostname()}-{os.getpid()}-0123abcd"
    alive.mkdir()   # a concurrent live run's build: left alone
    reused: dict = {}
    df = _stage(spark, str(path), lambda: spark.range(5).toDF("x"), reused, "annotate")
    assert reused == {"annotate": False} and df.count() == 5
    assert (path / "_SUCCESS").exists() and not (path / "part-00000.parquet").exists()
    assert not stale.exists() and alive.exists()
    df = _stage(spark, str(path), lambda: pytest.fail("a complete stage must be reused"), reused, "annotate")
    assert reused == {"annotate": True} and df.count() == 5


def test_stage_build_failure_leaves_no_stage(tmp_path):
    from engine.stages import stage as _stage

    def boom():
        raise RuntimeError("executor lost")

    path = tmp_path / "annotate-x"
    with pytest.raises(RuntimeError):
        _stage(None, str(path), boom, {}, "annotate")
    assert not path.exists() and not list(tmp_path.glob(".annotate-x.tmp-*"))


def test_kill_between_commit_renames_restores_previous_output(tmp_path):
    from engine.output import clean_stale_builds as _clean_stale_tmp

    out = tmp_path / "mix"
    old = tmp_path / ".mix.old-aaaa"
    old.mkdir()
    (old / "_SUCCESS").write_text("")
    (old / "shard-00000.parquet").write_bytes(b"previous")
    tmp = tmp_path / ".mix.tmp-bbbb"
    tmp.mkdir()
    (tmp / "_SUCCESS").write_text("")
    _clean_stale_tmp(str(out))
    assert (out / "shard-00000.parquet").read_bytes() == b"previous"
    assert not tmp.exists() and not old.exists()


def test_commit_drops_killed_attempt_files_and_refuses_roots(tmp_path):
    from engine.output import UnsafePath, commit as _commit

    tmp = tmp_path / ".o.tmp-1"
    (tmp / "rejects").mkdir(parents=True)
    (tmp / "shard-00000.parquet").write_bytes(b"x")
    (tmp / "shard-00001.parquet.inprogress").write_bytes(b"half")
    (tmp / "rejects" / "rejects-00000.parquet.inprogress").write_bytes(b"half")
    _commit(str(tmp), str(tmp_path / "o"), overwrite=False)
    assert sorted(p.name for p in (tmp_path / "o").rglob("*") if p.is_file()) == ["shard-00000.parquet"]
    with pytest.raises(UnsafePath):
        _commit(str(tmp_path / "o"), "/", overwrite=True)
    with pytest.raises(UnsafePath):
        _commit(str(tmp_path / "o"), str(Path.home()), overwrite=True)
