"""A Spark standalone cluster on this machine (loopback only), for tests and for trying the cluster path.

    tamis cluster up [--workers 2 --cores 1 --memory 2g]   # master + workers, waits until they registered
    tamis cluster status
    tamis cluster down

Master and workers are the pyspark installation's own JVMs, started with `spark-class` (the pip package
has no start-master.sh). Their pids, ports, the master URL and their logs live in a state folder
(`~/.tamis/cluster`, or `--state-dir` / `$TAMIS_CLUSTER_DIR`). Each daemon runs in its own process group,
so `down` (and a test killing one worker) also ends that worker's executors and their Python workers.
Executors run the interpreter the application names (`tamis run` names its own; spark-submit needs
`--conf spark.pyspark.python=...`) and import `engine`/`filters` from what the application ships:
`tamis run` ships them as a zip (`addPyFile`, engine/spark/session.py), spark-submit with `--py-files tamis.zip`.
Only holders of the cluster's secret may use it (engine/spark/cluster_auth.py): loopback alone does not keep
other local users from running code as the cluster's user.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.procs import alive  # noqa: F401 - re-exported: the cluster's callers use it
from engine.settings import settings
from engine.spark.cluster_auth import (AUTH_FILE, MASTER_OPTS, WORKER_OPTS, UnsafeStateDir, listening_ports,
                                 secure_state_dir, write_auth_conf)

HOST = "127.0.0.1"


class ClusterError(RuntimeError):
    pass


def default_state_dir() -> str:
    return settings().cluster_dir


@dataclass
class ClusterState:
    state_dir: str
    master_url: str
    port: int
    webui_port: int
    master_pid: int
    worker_pids: list[int] = field(default_factory=list)
    cores: int = 1
    memory: str = "2g"
    python: str = sys.executable
    auth_file: str = ""      # spark.authenticate secret (0600) for drivers: `--properties-file`

    @property
    def webui(self) -> str:
        return f"http://{HOST}:{self.webui_port}"

    def save(self):
        Path(self.state_dir, "state.json").write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: str | None = None) -> "ClusterState | None":
        f = Path(state_dir or default_state_dir(), "state.json")
        if not f.exists():
            return None
        return cls(**json.loads(f.read_text()))


def spark_home() -> str:
    import pyspark

    return os.path.dirname(os.path.realpath(pyspark.__file__))


def spark_class() -> str:
    return os.path.join(spark_home(), "bin", "spark-class")


def _free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise ClusterError("no free port")


def daemon_env(state_dir: str) -> dict:
    """Environment of master and workers (executors inherit it): this Python, this checkout, loopback."""
    from engine.spark.session import java_home

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # code reaches executors from the app
    env.update({
        "JAVA_HOME": os.environ.get("JAVA_HOME") or java_home(),
        "SPARK_HOME": spark_home(),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_LOG_DIR": state_dir,
        "SPARK_WORKER_DIR": os.path.join(state_dir, "work"),
        "PYSPARK_PYTHON": sys.executable,
        # a dead worker is noticed in half a minute, not the default minute (both sides must agree: workers
        # send heartbeats every timeout/4); old app folders are cleaned
        "SPARK_DAEMON_JAVA_OPTS": "-Dspark.worker.timeout=30",
        "SPARK_MASTER_OPTS": f"-Dspark.deploy.retainedApplications=20 {MASTER_OPTS}",
        "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=86400 "
                             + WORKER_OPTS,
        "SPARK_DAEMON_MEMORY": os.environ.get("SPARK_DAEMON_MEMORY", "512m"),
    })
    return env


def _start(cmd: list[str], log: str, env: dict) -> int:
    with open(log, "ab") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)   # own process group: `down` ends its executors too
    return p.pid


def master_json(webui_port: int, timeout: float = 3) -> dict:
    with urllib.request.urlopen(f"http://{HOST}:{webui_port}/json/", timeout=timeout) as r:
        return json.loads(r.read().decode())




def up(workers: int = 2, cores: int = 1, memory: str = "2g", state_dir: str | None = None,
       port: int | None = None, webui_port: int | None = None, timeout: float = 120) -> ClusterState:
    """Start a master and `workers` workers on 127.0.0.1; return when all workers registered."""
    state_dir = os.path.abspath(state_dir or default_state_dir())
    old = ClusterState.load(state_dir)
    if old and alive(old.master_pid):
        raise ClusterError(f"a cluster is already running at {old.master_url} (state in {state_dir}); "
                           "`tamis cluster down` first")
    try:
        secure_state_dir(state_dir)
    except (UnsafeStateDir, OSError) as e:
        raise ClusterError(str(e)) from None
    os.makedirs(os.path.join(state_dir, "work"), exist_ok=True)
    env = daemon_env(state_dir)
    port = _free_port(port or 7077)
    webui_port = _free_port(webui_port or 8080)
    url = f"spark://{HOST}:{port}"
    state = ClusterState(state_dir=state_dir, master_url=url, port=port, webui_port=webui_port, master_pid=0,
                         cores=cores, memory=memory, auth_file=write_auth_conf(state_dir))
    auth = ["--properties-file", state.auth_file]   # the file's path, never the secret, on the command line
    try:
        state.master_pid = _start([spark_class(), "org.apache.spark.deploy.master.Master", "--host", HOST,
                                   "--port", str(port), "--webui-port", str(webui_port), *auth],
                                  os.path.join(state_dir, "master.log"), env)
        state.save()
        _wait(lambda: master_json(webui_port).get("status") == "ALIVE", timeout, "the master to start",
              state, os.path.join(state_dir, "master.log"))
        for i in range(workers):
            state.worker_pids.append(_start(
                [spark_class(), "org.apache.spark.deploy.worker.Worker", url, "--host", HOST,
                 "--cores", str(cores), "--memory", memory, "--webui-port", "0",
                 "--work-dir", os.path.join(state_dir, "work"), *auth],
                os.path.join(state_dir, f"worker-{i + 1}.log"), env))
            state.save()
        _wait(lambda: alive_workers(state) >= workers, timeout, f"{workers} workers to register", state,
              os.path.join(state_dir, "worker-1.log"))
    except BaseException:
        down(state_dir)
        raise
    return state


def alive_workers(state: ClusterState) -> int:
    try:
        return sum(1 for w in master_json(state.webui_port).get("workers", []) if w.get("state") == "ALIVE")
    except OSError:
        return 0


def _wait(cond, timeout: float, what: str, state: ClusterState, log: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return
        except (OSError, ValueError):
            pass
        if not alive(state.master_pid):
            break
        time.sleep(0.3)
    tail = Path(log).read_text(errors="replace").splitlines()[-5:] if os.path.exists(log) else []
    raise ClusterError(f"timed out waiting for {what} (log {log}): " + " | ".join(tail))


def kill_tree(pid: int, sig: int = signal.SIGKILL):
    """Signal the process group a daemon leads (the daemon, its executors and their Python workers)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def down(state_dir: str | None = None, grace: float = 10) -> bool:
    """Stop the workers (with their executors) and the master. False when no cluster was recorded."""
    state_dir = os.path.abspath(state_dir or default_state_dir())
    state = ClusterState.load(state_dir)
    if state is None:
        return False
    pids = [p for p in state.worker_pids + [state.master_pid] if p]
    for pid in pids:
        kill_tree(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        kill_tree(pid, signal.SIGKILL)   # the groups too: an executor may outlive its worker
    deadline = time.time() + grace
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)   # reap if it was our child
        except ChildProcessError:
            pass
    Path(state_dir, "state.json").unlink(missing_ok=True)
    Path(state_dir, AUTH_FILE).unlink(missing_ok=True)   # the secret dies with the cluster
    return True


def status(state_dir: str | None = None) -> dict:
    state = ClusterState.load(state_dir)
    if state is None:
        return {"running": False, "state_dir": os.path.abspath(state_dir or default_state_dir())}
    info = {"running": alive(state.master_pid), "master_url": state.master_url, "webui": state.webui,
            "state_dir": state.state_dir, "master_pid": state.master_pid,
            "worker_pids": {p: alive(p) for p in state.worker_pids},
            "auth": bool(state.auth_file) and os.path.isfile(state.auth_file),
            # what the master really listens on besides its RPC and UI ports (a REST server would show here)
            "other_ports": [p for p in listening_ports(state.master_pid) if p not in (state.port, state.webui_port)]}
    try:
        j = master_json(state.webui_port)
        info["workers"] = [{"id": w["id"], "state": w["state"], "cores": w["cores"], "memory": w["memory"]}
                           for w in j.get("workers", [])]
        info["active_apps"] = [a.get("name") for a in j.get("activeapps", [])]
    except (OSError, ValueError):
        info["workers"] = []
    return info
