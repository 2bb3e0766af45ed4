"""A standalone cluster whose workers share no disk with the driver: the test harness.

The master runs as `tamis cluster up` starts it (engine/spark/cluster.py, with the cluster's secret). Each of the
workers runs on its own loopback address (a node's own host: see `worker_host`), in its own mount namespace (`unshare --mount --propagation private`) with a fresh tmpfs over /tmp
and over every folder the driver's runs use (the test's folders, the shared test data, every folder of this
checkout but its virtualenv). So a worker, its executors and their Python workers see:
- their own /tmp (the worker's work dir lives there: each executor's folder and shuffle files are private);
- the Python and Java installations (a cluster node's image has its software) but not tamis: the checkout's
  `engine/` and `filters/` are empty there, so the editable install finds nothing and executors run the code
  the driver ships (engine/spark/session.py `_ship_code`);
- none of the driver's inputs, specs, outputs or work folders.

Credentials reach executors through the worker's environment (as a node's environment or a K8s secret would):
the workers get the S3 test server's AWS_* variables explicitly, and nothing else of this process's AWS_*.
The secret file of the cluster is read before /tmp is hidden and copied into the worker's private /tmp.

The namespaces die with their last process: stopping the workers (cluster.down) leaves no mount behind.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT, SHARED

PRIVATE = "/tmp/tamis-worker"          # inside the worker's own /tmp tmpfs
TMPFS_TAG = "tamis-private"            # the tmpfs source name: finds leftover mounts in /proc/mounts


def unshare_problem() -> str | None:
    """Why a private mount namespace with a tmpfs cannot be made here (not root, no unshare), or None."""
    try:
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"mount -t tmpfs {TMPFS_TAG} /tmp && touch /tmp/x"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare: {e}"
    return None if r.returncode == 0 else f"unshare --mount: {r.stderr.strip()}"


def hidden_folders(extra: list[str] = ()) -> list[str]:
    """Folders each worker gets an empty tmpfs over: /tmp, the shared data, every top folder of this checkout
    but the virtualenv (its interpreter and dependencies are the node's installation), the driver's
    SPARK_LOCAL_DIRS and `extra`. A folder inside another one is hidden with it."""
    venv = Path(sys.prefix).resolve()
    cands = ["/tmp", str(SHARED)]
    cands += [str(d) for d in ROOT.iterdir() if d.is_dir() and d.resolve() != venv and not d.is_symlink()]
    cands += [d for d in os.environ.get("SPARK_LOCAL_DIRS", "").split(",") if d]
    cands += list(extra)
    real = sorted({os.path.realpath(c) for c in cands if os.path.isdir(c)})
    if any(Path(r) == venv for r in real):
        raise ValueError(f"a hidden folder is the interpreter's {venv}")
    return [r for r in real if not any(r != o and r.startswith(o.rstrip("/") + "/") for o in real)]


def _keep_visible(folder: str, hidden: list[str]) -> tuple[str, str]:
    """Shell lines around the tmpfs mounts that keep `folder` (the virtualenv: the node's installation) visible
    when a hidden folder holds it (a checkout under /tmp): bound aside first, bound back into the empty tmpfs
    after, the aside folder removed. ("", "") when nothing hidden holds it."""
    if not any(folder.startswith(h.rstrip("/") + "/") for h in hidden):
        return "", ""
    q = shlex.quote
    aside = q(f"{'/dev/shm' if os.path.isdir('/dev/shm') else '/run'}/tamis-keep-{uuid.uuid4().hex[:8]}")
    before = f"mkdir -p {aside}\nmount --bind {q(folder)} {aside}"
    after = f"mkdir -p {q(folder)}\nmount --bind {aside} {q(folder)}\numount -l {aside}\nrmdir {aside}"
    return before, after


def _worker_script(auth_file: str, hidden: list[str], worker_cmd: list[str]) -> str:
    """The shell a worker starts in, inside its namespace: secret read first, folders hidden, then the worker."""
    q = shlex.quote
    mounts = "\n".join(f"mount -t tmpfs -o mode=1777 {TMPFS_TAG} {q(d)}" for d in hidden)
    before, after = _keep_visible(str(Path(sys.prefix).resolve()), hidden)
    return f"""set -e
exec 3< {q(auth_file)}
{before}
{mounts}
{after}
mkdir -p {PRIVATE}/work
umask 077
cat <&3 > {PRIVATE}/spark-auth.conf
exec 3<&-
exec {' '.join(q(c) for c in worker_cmd)}
"""


def worker_host(i: int) -> str:
    """Worker i's own loopback address (127.0.0.2, .3, ...), as each node of a cluster has its own: Spark reads
    the shuffle files of another executor on the same host straight from its disk, which a private disk hides."""
    return f"127.0.0.{i + 2}"


def worker_env(state_dir: str, aws_env: dict) -> dict:
    """The worker's environment: tamis' daemon environment with no AWS_* of this process, `aws_env` added."""
    from engine.spark.cluster import daemon_env

    env = {k: v for k, v in daemon_env(state_dir).items() if not k.startswith("AWS_")}
    env.update(aws_env)
    env.update(SPARK_WORKER_DIR=f"{PRIVATE}/work", SPARK_LOG_DIR=PRIVATE, TMPDIR="/tmp")
    return env


@dataclass
class PrivateCluster:
    state_dir: str
    url: str
    hidden: list[str]
    worker_pids: list[int] = field(default_factory=list)

    @property
    def env(self) -> dict:
        """A driver's environment: finds the cluster's secret through its state folder."""
        return {**os.environ, "TAMIS_CLUSTER_DIR": self.state_dir}


def start(state_dir: str, aws_env: dict, workers: int = 2, memory: str = "1g", extra_hidden: list[str] = (),
          timeout: float = 180) -> PrivateCluster:
    """The master (tamis' own, with its secret) and `workers` private-disk workers; returns when all registered."""
    from engine.spark import cluster

    state = cluster.up(workers=0, cores=1, memory=memory, state_dir=state_dir, timeout=timeout)
    hidden = hidden_folders([state_dir, *extra_hidden])
    try:
        for i in range(workers):
            host = worker_host(i)
            env = {**worker_env(state.state_dir, aws_env), "SPARK_LOCAL_IP": host}
            cmd = [cluster.spark_class(), "org.apache.spark.deploy.worker.Worker", state.master_url,
                   "--host", host, "--cores", "1", "--memory", memory, "--webui-port", "0",
                   "--work-dir", f"{PRIVATE}/work", "--properties-file", f"{PRIVATE}/spark-auth.conf"]
            script = _worker_script(state.auth_file, hidden, cmd)
            state.worker_pids.append(cluster._start(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                os.path.join(state.state_dir, f"worker-{i + 1}.log"), env))
            state.save()
        cluster._wait(lambda: cluster.alive_workers(state) >= workers, timeout, f"{workers} workers to register",
                      state, os.path.join(state.state_dir, "worker-1.log"))
    except BaseException:
        cluster.down(state.state_dir)
        raise
    return PrivateCluster(state.state_dir, state.master_url, hidden, list(state.worker_pids))


def stop(pc: PrivateCluster, timeout: float = 30) -> list[str]:
    """Stop workers (their executors, Python workers and namespaces) and master; what is still left (empty:
    nothing): live pids, tmpfs mounts of ours visible here."""
    from engine.procs import alive
    from engine.spark import cluster

    state = cluster.ClusterState.load(pc.state_dir)
    pids = [*pc.worker_pids, *([state.master_pid] if state else [])]
    cluster.down(pc.state_dir)
    deadline = time.time() + timeout
    while time.time() < deadline and (any(alive(p) for p in pids) or _group_members(pids)):
        time.sleep(0.2)
    left = [f"pid {p}" for p in pids if alive(p)] + [f"pid {p} (in a cluster group)" for p in _group_members(pids)]
    left += [f"mount {m}" for m in our_mounts()]
    return left


def _group_members(groups: list[int]) -> list[int]:
    """Live processes in the process groups the daemons led (executors, Python workers)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(d.name))
    return found


def our_mounts() -> list[str]:
    """Our tmpfs mounts seen from this (the driver's) namespace: must be none, even while workers run."""
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[0] == TMPFS_TAG]


# ---------------------------------------------------------------- a driver that probes what executors see

PROBE = """
import json, os, sys, time
from engine.spark.session import get_spark

master, paths = sys.argv[1], json.loads(sys.argv[2])
spark = get_spark(master, app_name="tamis-private-probe")
sc = spark.sparkContext
deadline = time.time() + 120      # both executors up, so tasks land on both workers
while sc._jsc.sc().getExecutorMemoryStatus().size() < 3 and time.time() < deadline:
    time.sleep(0.5)

def probe(part):
    import os, time
    import engine, filters
    import engine.native
    st = os.stat("/tmp")
    time.sleep(1.0)
    yield {"exists": {p: os.path.exists(p) for p in paths}, "tmp": [st.st_dev, st.st_ino],
           "cwd": os.getcwd(), "engine": engine.__file__, "filters": filters.__file__,
           "aws_key": bool(os.environ.get("AWS_ACCESS_KEY_ID")), "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
           "host": os.environ.get("SPARK_LOCAL_IP"), "native": engine.native.IMPLEMENTATION}

rows = sc.parallelize(range(8), 8).mapPartitions(probe).collect()
st = os.stat("/tmp")
print("PROBE " + json.dumps({"driver_tmp": [st.st_dev, st.st_ino], "tasks": rows}))
spark.stop()
"""


def probe(pc: PrivateCluster, paths: list[str], timeout: float = 300) -> dict:
    """Run a small job on the cluster from a driver subprocess: what each task saw (see PROBE)."""
    import json

    r = subprocess.run([sys.executable, "-c", PROBE, pc.url, json.dumps(paths)], cwd=ROOT, env=pc.env,
                       capture_output=True, text=True, timeout=timeout)
    line = [l for l in r.stdout.splitlines() if l.startswith("PROBE ")]
    if r.returncode != 0 or not line:
        raise AssertionError(f"probe failed ({r.returncode}): {r.stderr[-3000:]}")
    return json.loads(line[-1][len("PROBE "):])
