"""One output, one run at a time; a commit only of files that match the manifest; an audit only of such outputs.

The race: run A builds its output, run B on the same output starts meanwhile. Before the output lock, B's
stale-build cleanup deleted A's build folder and A committed a manifest listing shards that did not exist
(and `tamis audit` accepted it). Now B is refused (exit 2, naming A), A commits a complete output, a run
whose build folder loses files before the commit fails (exit 1) and commits nothing, and `tamis audit`
refuses an output whose files differ from its manifest.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.hooks import pause_env
from tests.test_cluster import TAMIS, make_inputs, run_cli, shard_hashes, write_spec


def _start(args: list[str], **env) -> subprocess.Popen:
    """A real `tamis run` in the background; its stderr goes to a file (a full pipe would stall it)."""
    import tempfile

    err = tempfile.TemporaryFile("w+")
    p = subprocess.Popen(TAMIS + args, cwd=ROOT, env=pause_env(**env), stdout=subprocess.DEVNULL,
                         stderr=err, text=True, start_new_session=True)
    p.err_file = err
    return p


def _stderr(p: subprocess.Popen) -> str:
    p.err_file.seek(0)
    return p.err_file.read()


def _wait_for(cond, p: subprocess.Popen, what: str, timeout: float = 600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if p.poll() is not None:
            pytest.fail(f"the run ended (exit {p.returncode}) before {what}: {_stderr(p)[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _finish(p: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    try:
        p.wait(timeout=timeout)
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    return p.returncode, _stderr(p)


def _audit(path: Path, *flags: str):
    from engine.cli import main

    return CliRunner().invoke(main, ["audit", str(path), "--sample", "1", *flags], terminal_width=200)


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


@pytest.fixture(scope="module")
def race(tmp_path_factory):
    """Run A (paused before its commit), and run B on the same output started while A's build folder is
    being written. Returns the folder, the spec, A's (exit, stderr, pid) and B's (exit, stderr)."""
    base = tmp_path_factory.mktemp("race")
    gen = make_inputs(base / "gen", n_files=6)
    out = base / "out"
    spec = write_spec(base, gen, str(out), str(base / "out.work"))
    a = _start(["run", spec, "--master", "local[1]"], TAMIS_TEST_PAUSE_BEFORE_COMMIT="20")
    try:
        _wait_for(lambda: list(base.glob(".out.tmp-*")), a, "A's build folder")
        b = run_cli(TAMIS + ["run", spec, "--master", "local[1]", "--overwrite"], timeout=300)
        a_build_survived = bool(list(base.glob(".out.tmp-*")))
        code, err = _finish(a)
    finally:
        if a.poll() is None:
            os.killpg(a.pid, signal.SIGKILL)
    return {"base": base, "out": out, "spec": spec, "a": (code, err, a.pid), "b": (b.returncode, b.stderr),
            "a_build_survived": a_build_survived}


@pytest.mark.spark
@pytest.mark.slow
def test_concurrent_run_is_refused_and_first_run_commits_a_complete_output(race):
    code, err = race["b"]
    a_code, a_err, a_pid = race["a"]
    assert code == 2, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert "output is locked by another tamis run" in line and f"pid {a_pid}" in line and socket.gethostname() in line
    assert race["a_build_survived"], "B removed A's build folder"
    assert a_code == 0, a_err[-3000:]
    out = race["out"]
    m = json.loads((out / "manifest.json").read_text())
    assert (out / "_SUCCESS").exists() and m["shards"] and m["rejects"]
    for sub, key in (("", "shards"), ("rejects", "rejects")):
        for s in m[key]:
            f = out / sub / s["file"]
            assert f.stat().st_size == s["bytes"] and shard_hashes(f.parent)[f.name] == s["sha256"]
    assert not (race["base"] / ".out.lock").exists(), "the lock is released after the run"
    r = _audit(out)
    assert r.exit_code == 0, r.output


@pytest.mark.spark
@pytest.mark.slow
def test_commit_verifies_files_and_keeps_previous_output(race):
    """A build folder that loses its shards between the manifest and the commit (what B's cleanup did to A):
    the run fails with one line, commits nothing, and the previous output stays as it was."""
    base, out = race["base"], race["out"]
    assert race["a"][0] == 0
    before = shard_hashes(out)
    p = _start(["run", race["spec"], "--master", "local[1]", "--overwrite"], TAMIS_TEST_PAUSE_BEFORE_VERIFY="15")
    built = lambda: [d for d in base.glob(".out.tmp-*") if (d / "manifest.json").exists()]   # noqa: E731
    _wait_for(built, p, "the manifest in the build folder")
    removed = [f.name for f in built()[0].glob("shard-*.parquet")]
    for f in built()[0].glob("shard-*.parquet"):
        f.unlink()
    code, err = _finish(p)
    assert code == 1, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert "files do not match manifest.json" in line and f"{sorted(removed)[0]} is listed in manifest.json but missing" in line
    assert shard_hashes(out) == before and (out / "_SUCCESS").exists()
    assert not list(base.glob(".out.tmp-*")) and not (base / ".out.lock").exists()
    assert _audit(out).exit_code == 0


def _copy(out: Path, dest: Path) -> Path:
    shutil.copytree(out, dest)
    return dest


@pytest.mark.spark
@pytest.mark.slow
def test_audit_refuses_files_that_do_not_match_the_manifest(race, tmp_path):
    out = race["out"]
    assert race["a"][0] == 0
    m = json.loads((out / "manifest.json").read_text())
    shard, rej = m["shards"][0]["file"], m["rejects"][0]["file"]

    cases = {}
    o = _copy(out, tmp_path / "missing")
    (o / shard).unlink()
    cases[o] = f"{shard} is listed in manifest.json but missing"
    o = _copy(out, tmp_path / "size")
    with open(o / "rejects" / rej, "ab") as f:
        f.write(b"x")
    cases[o] = f"rejects/{rej} has {m['rejects'][0]['bytes'] + 1} bytes, manifest.json says {m['rejects'][0]['bytes']}"
    o = _copy(out, tmp_path / "extra")
    shutil.copy(o / shard, o / "shard-99999.parquet")
    cases[o] = "shard-99999.parquet is not listed in manifest.json"
    o = _copy(out, tmp_path / "flipped")   # same size, other bytes: only the sha256 sees it
    data = bytearray((o / shard).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (o / shard).write_bytes(bytes(data))
    cases[o] = f"{shard} has sha256"
    o = _copy(out, tmp_path / "nomanifest")
    (o / "manifest.json").unlink()
    cases[o] = "has _SUCCESS but no manifest.json"
    for o, msg in cases.items():
        r = _audit(o)
        assert r.exit_code == 2, (o.name, r.output)
        assert "refusing to audit" in r.output and msg in r.output, (o.name, r.output)
        assert len(r.output.strip().splitlines()) == 1, r.output
    # sizes only: a same-size change passes, a size change does not
    assert _audit(tmp_path / "flipped", "--no-checksums").exit_code == 0
    assert _audit(tmp_path / "size", "--no-checksums").exit_code == 2
    import engine.audit as audit

    with pytest.raises(audit.AuditError, match="is not listed in manifest.json"):
        audit.open_output(tmp_path / "extra")
    from engine.cli import main

    r = CliRunner().invoke(main, ["audit", "--compare", str(out), str(tmp_path / "missing")])
    assert r.exit_code == 2 and "but missing" in r.output


# ---------------------------------------------------------------- the lock and build folders, without Spark


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    from engine.output import OutputLocked, acquire, lock_path

    out = str(tmp_path / "o")
    lock = acquire(out)
    with pytest.raises(OutputLocked, match=f"pid {os.getpid()}"):
        acquire(out)                                  # same process, second run: refused too
    lock.check()
    lock.release()
    assert not os.path.exists(lock_path(out))

    path = lock_path(out)
    for holder, age, taken in (
            ({"host": socket.gethostname(), "pid": _dead_pid()}, 0, True),            # owner dead
            ({"host": socket.gethostname(), "pid": os.getppid(), "pid_start": "1"}, 0, True),   # pid reused
            ({"host": "elsewhere", "pid": 1}, 0, False),                                # another host: honoured
            ({"host": "elsewhere", "pid": 1}, 8 * 86400, True),                         # ... unless very old
            (None, 0, False), (None, 3600, True)):                                      # being written / killed
        Path(path).write_text(json.dumps({**holder, "token": "t", "started": "x"}) if holder else "")
        os.utime(path, (time.time() - age, time.time() - age))
        if taken:
            acquire(out).release()
        else:
            with pytest.raises(OutputLocked):
                acquire(out)
        Path(path).unlink(missing_ok=True)


def test_lock_lost_to_another_run_blocks_the_commit(tmp_path):
    from engine.output import LockLost, acquire, lock_path

    out = str(tmp_path / "o")
    lock = acquire(out)
    Path(lock_path(out)).write_text(json.dumps({"host": "h", "pid": 1, "token": "other"}))
    with pytest.raises(LockLost):
        lock.check()
    lock.release()                                    # never removes another run's lock
    assert os.path.exists(lock_path(out))


def test_stale_build_folders_removed_only_when_their_owner_is_gone(tmp_path):
    from engine.output import clean_stale_builds

    host = socket.gethostname()
    dead = tmp_path / f".o.tmp-{host}-{_dead_pid()}-aaaa"
    live = tmp_path / f".o.tmp-{host}-{os.getpid()}-bbbb"
    other = tmp_path / ".o.tmp-elsewhere-12-cccc"
    old_other = tmp_path / ".o.tmp-elsewhere-13-dddd"
    for d in (dead, live, other, old_other):
        d.mkdir()
    os.utime(old_other, (time.time() - 8 * 86400,) * 2)
    clean_stale_builds(str(tmp_path / "o"))
    assert not dead.exists() and live.exists() and other.exists() and not old_other.exists()
