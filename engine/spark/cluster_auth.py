"""Who may use a `tamis cluster up` cluster: only whoever can read its secret (the user who started it).

Binding to 127.0.0.1 keeps other machines out, not other users of this one: without authentication any
local user can register an application and have the workers run its code as the cluster's user. So `up`
writes a fresh shared secret to `<state>/spark-auth.conf` (mode 0600, state folder 0700) and starts master
and workers with `spark.authenticate=true` from that file (`--properties-file`): Spark's RPC then refuses
every peer that lacks the secret. Drivers pass the same file (`tamis run --master` finds it through the
state folder; spark-submit users give `--properties-file`). The secret is never put on a command line,
which every local user can read in `ps`; executors get it from their worker through the environment.
The REST submission server (unauthenticated) is off, and the web UIs cannot kill apps or workers.
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
import stat
from pathlib import Path

AUTH_FILE = "spark-auth.conf"

# Daemon settings without secrets (so -D options are fine): no REST submission server, read-only web UIs.
MASTER_OPTS = ("-Dspark.master.rest.enabled=false -Dspark.ui.killEnabled=false "
               "-Dspark.master.ui.decommission.allow.mode=DENY")
WORKER_OPTS = "-Dspark.ui.killEnabled=false"


class UnsafeStateDir(RuntimeError):
    pass


def secure_state_dir(state_dir: str):
    """Create the state folder (or take an existing one) as ours alone: 0700, owned by us, not a link.
    It holds the secret, the logs and the executors' work folders; a folder another user owns or can write
    would let them swap the secret or point our log files elsewhere."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    st = os.lstat(state_dir)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise UnsafeStateDir(f"cluster state dir {state_dir} must be a folder owned by this user "
                             "(not a symlink); choose another --state-dir")
    os.chmod(state_dir, 0o700)


def write_auth_conf(state_dir: str) -> str:
    """A new random secret in `<state>/spark-auth.conf`, created 0600 (never readable by others, not
    even briefly); an old file is replaced, not followed if it is a link."""
    path = os.path.join(state_dir, AUTH_FILE)
    Path(path).unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"spark.authenticate true\nspark.authenticate.secret {secrets.token_hex(32)}\n")
    return path


def auth_conf_for(master: str, state_dir: str | None = None) -> str | None:
    """The secret file of the recorded cluster whose master URL is `master`, else None."""
    from engine.settings import settings

    f = Path(state_dir or settings().cluster_dir, "state.json")
    try:
        state = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    path = state.get("auth_file") or ""
    return path if state.get("master_url") == master.rstrip("/") and os.path.isfile(path) else None


def use_auth_conf(master: str) -> str | None:
    """Before the driver JVM starts: hand it the cluster's secret file through PYSPARK_SUBMIT_ARGS
    (`--properties-file`), not as `--conf` (pyspark puts builder settings on the JVM's command line)."""
    path = auth_conf_for(master) if master.startswith("spark://") else None
    if path:
        args = os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell")
        if "--properties-file" not in args:
            os.environ["PYSPARK_SUBMIT_ARGS"] = f"--properties-file {shlex.quote(path)} {args}"
    return path


def listening_ports(pid: int) -> list[int]:
    """TCP ports process `pid` listens on (from /proc: no tool needed); [] when it cannot be read."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:   # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:      # 0A = LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return sorted(ports)
