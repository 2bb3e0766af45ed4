"""Another local user attacking a `tamis cluster up` cluster (used by tests/test_cluster.py).

The attacker is `nobody`: a plain pyspark driver, without the cluster's secret, submits a job whose one task
writes a marker file. On an unauthenticated cluster that task runs on the workers as the cluster's user
(root in CI) and the marker appears, holding that uid.
"""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ATTACK = """\
import os, sys
from pyspark.sql import SparkSession
master, marker, py = sys.argv[1:4]
spark = (SparkSession.builder.master(master).appName("attacker").config("spark.ui.enabled", "false")
         .config("spark.pyspark.python", py).getOrCreate())
def pwn(_):
    with open(marker, "w") as f:
        f.write(str(os.getuid()))
    return os.getuid()
print("RESULT", spark.sparkContext.parallelize([0], 1).map(pwn).collect(), flush=True)
"""


def cmdlines() -> list[str]:
    """Every process's command line, as any local user sees it in `ps`."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            out.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return out


def as_nobody():
    import pwd

    pw = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


@contextlib.contextmanager
def traversable_by_others(path: str):
    """Every folder above `path` that others may not enter (a checkout under `mktemp -d`, mode 0700) gets
    o+x (enter, not list) for the block, and its mode back after: the attacker stands for another user with
    a pyspark of their own, which on this machine is only the venv's."""
    changed = []
    p = Path(path).resolve()
    try:
        for d in reversed(p.parents):
            mode = d.stat().st_mode
            if not mode & stat.S_IXOTH:
                d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
                changed.append((d, stat.S_IMODE(mode)))
        yield
    finally:
        for d, mode in reversed(changed):
            d.chmod(mode)


def attacker_python(site: str, home: str) -> str:
    """A python `nobody` can run with the venv's pyspark: this one, or the system's of the same version
    (the venv's bin/python may link into a folder only its owner can enter, e.g. /root/.pyenv)."""
    v = f"{sys.version_info.major}.{sys.version_info.minor}"
    for py in (sys.executable, os.path.realpath(sys.executable), f"/usr/bin/python{v}", f"/usr/local/bin/python{v}"):
        try:
            r = subprocess.run([py, "-c", "import pyspark"], env={"PYTHONPATH": site, "HOME": home}, cwd=home,
                               preexec_fn=as_nobody, capture_output=True, timeout=60)
        except OSError:
            continue
        if r.returncode == 0:
            return py
    pytest.fail(f"no python that user nobody can run with pyspark from {site}")


def submit_as_nobody(master: str, refused_when: str, timeout: float = 300) -> dict:
    """Run the attack; stop early once `refused_when` shows in the driver's log (the master refuses every
    registration attempt at once, the driver only gives up after three 20 s rounds).
    Returns {"marker": the uid the task wrote, or None; "log": the driver's output}."""
    if os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the cluster attack test switches to user nobody: run it as root")
        pytest.skip("switching to user nobody needs root")
    import pyspark

    from engine.spark.session import java_home

    drop = Path(tempfile.mkdtemp(prefix="tamis-attacker-"))   # pytest's tmp folders are closed to nobody
    try:
        drop.chmod(0o777)
        (drop / "attack.py").write_text(ATTACK)
        site = str(Path(pyspark.__file__).resolve().parent.parent)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(drop), "JAVA_HOME": java_home(), "SPARK_LOCAL_IP": "127.0.0.1",
               "PYTHONPATH": site}
        marker, log = drop / "pwned", drop / "attack.log"
        with traversable_by_others(site):
            cmd = [attacker_python(site, str(drop)), str(drop / "attack.py"), master, str(marker), sys.executable]
            with open(log, "wb") as out:
                p = subprocess.Popen(cmd, cwd=drop, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     preexec_fn=as_nobody, start_new_session=True)
            return _await_attack(p, log, marker, refused_when, timeout)
    finally:
        subprocess.run(["rm", "-rf", str(drop)], timeout=60)


def _await_attack(p, log: Path, marker: Path, refused_when: str, timeout: float) -> dict:
    """Wait for the attacker's driver: until refused, done or `timeout`; then {"marker", "log"}."""
    try:
        deadline = time.time() + timeout
        while p.poll() is None and time.time() < deadline and refused_when not in log.read_text(errors="replace"):
            time.sleep(0.5)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    return {"marker": marker.read_text() if marker.exists() else None, "log": log.read_text(errors="replace")}
