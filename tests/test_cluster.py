"""The cluster path, as the README documents it: `tamis cluster up`, `tamis run --master spark://...`,
`tamis package` + `spark-submit --py-files tamis.zip jobs/run_mix.py`, a worker killed mid-job, `cluster down`,
and that only the cluster's owner (holder of its secret) can use it: another local user is refused.

Every run must give the same rows (and the same shard bytes) as embedded local mode.
Slow: one standalone cluster (master + 2 workers x 1 core) for the module, torn down even on failure.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT, shared_data

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TAMIS = [sys.executable, "-m", "engine.cli"]


# ---------------------------------------------------------------- helpers shared with test_faults.py


def make_inputs(folder: Path, n_files: int, docs_per_file: int = 6) -> Path:
    """`n_files` JSONL files of real web text (from the shared dolma sample), each record with its own id."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for f in sorted(shared_data("jsonl", "multiple_files").glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            docs += [json.loads(l)["text"] for l in fh if l.strip()]
    k = 0
    for i in range(n_files):
        with open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8") as fh:
            for j in range(docs_per_file):
                fh.write(json.dumps({"id": f"g{i}-{j}", "text": docs[k % len(docs)] + f" (copy {i}.{j})"}) + "\n")
                k += 1
    return folder


def write_spec(folder: Path, gen: Path, out: str, work: str, name: str = "mix.yaml") -> str:
    data = shared_data("jsonl")
    f = folder / name
    f.write_text(f"""\
name: cluster-e2e
seed: 11
output:
  path: {out}
  shard_mb: 0.05
  work_dir: {work}
sources:
  - name: cc
    kind: jsonl
    paths: ["{data}/multiple_files/*.jsonl.gz", "{data}/provided/documents/*.json.gz"]
    doc_kind: web
    filters:
      - {{kind: length, min_words: 100}}
  - name: gen
    kind: jsonl
    paths: ["{gen}/*.jsonl"]
    filters:
      - {{kind: length, min_words: 150}}
""")
    return str(f)


def rows(out: Path) -> list:
    return duckdb.sql(f"select id, text, source, n_tokens from '{out}/*.parquet' order by id").fetchall()


def shard_hashes(out: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.parquet"))}


def run_cli(args: list[str], timeout: float = 900, env: dict | None = None, cwd=ROOT) -> subprocess.CompletedProcess:
    p = subprocess.Popen(args, cwd=cwd, env=env or os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)   # the driver and its JVM
        p.communicate()
        raise
    return subprocess.CompletedProcess(args, p.returncode, out, err)


def kill_strays(state_dir: Path):
    """SIGKILL every process still tied to this cluster's state folder (cwd or command line)."""
    me = os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            cwd = os.readlink(d / "cwd")
            cmd = (d / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(state_dir)) or str(state_dir) in cmd:
            try:
                os.kill(int(d.name), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`tamis cluster up` with 2 workers; `tamis cluster down` (and a sweep for strays) afterwards, always."""
    state = tmp_path_factory.mktemp("cluster-state")
    try:
        r = run_cli(TAMIS + ["cluster", "up", "--state-dir", str(state), "--workers", "2", "--cores", "1",
                             "--memory", "1g"], timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        url = r.stdout.strip().splitlines()[-1]
        assert url.startswith("spark://127.0.0.1:")
        st = run_cli(TAMIS + ["cluster", "status", "--state-dir", str(state)], timeout=60)
        assert st.returncode == 0 and "workers alive 2/2" in st.stdout, st.stdout + st.stderr
        # `tamis run --master` finds the cluster's secret through its state folder
        env = {**os.environ, "TAMIS_CLUSTER_DIR": str(state)}
        yield {"url": url, "state": state, "info": json.loads((state / "state.json").read_text()), "env": env}
    finally:
        subprocess.run(TAMIS + ["cluster", "down", "--state-dir", str(state)], cwd=ROOT, timeout=120,
                       capture_output=True)
        info = state / "state.json"
        if info.exists():
            for pid in json.loads(info.read_text()).get("worker_pids", []) + [json.loads(info.read_text())["master_pid"]]:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        kill_strays(state)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Inputs (several tasks' worth) and the embedded local-mode reference output, made once."""
    base = tmp_path_factory.mktemp("cluster-data")
    gen = make_inputs(base / "gen", n_files=24)
    return {"base": base, "gen": gen}


@pytest.fixture(scope="module")
def reference(data, spark):
    from engine.run import run
    from engine.spec import load_spec

    base = data["base"]
    m = run(load_spec(write_spec(base, data["gen"], str(base / "ref"), str(base / "ref.work"), "ref.yaml")))
    out = base / "ref"
    assert m["totals"]["shards"] >= 2 and m["sources"]["gen"]["docs_written"] > 50
    return {"rows": rows(out), "hashes": shard_hashes(out), "manifest": m}


# ---------------------------------------------------------------- tests


def test_cli_run_on_standalone_cluster_matches_local(cluster, data, reference):
    base = data["base"]
    spec = write_spec(base, data["gen"], str(base / "c1"), str(base / "c1.work"), "c1.yaml")
    t = time.time()
    r = run_cli(TAMIS + ["run", spec, "--master", cluster["url"]], env=cluster["env"])
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((base / "c1" / "manifest.json").read_text())
    assert m["master"] == cluster["url"]
    assert rows(base / "c1") == reference["rows"]
    assert shard_hashes(base / "c1") == reference["hashes"]          # byte-identical shards
    print(f"cluster run: {time.time() - t:.0f}s")


def test_spark_submit_with_packaged_zip(cluster, data, reference, tmp_path):
    """The README's spark-submit command: the code reaches driver and executors only through tamis.zip."""
    base = data["base"]
    dist = tmp_path / "dist"
    r = run_cli(TAMIS + ["package", "-o", str(dist)], timeout=120)
    assert r.returncode == 0, r.stderr
    zip_path = dist / "tamis.zip"
    assert zip_path.exists()
    # hide this checkout's editable install from driver and executors: `engine` must come from the zip
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARK_HOME")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(site))
    spec = write_spec(base, data["gen"], str(base / "c2"), str(base / "c2.work"), "c2.yaml")
    cmd = [str(bin_dir / "spark-submit"), "--master", cluster["url"],
           "--properties-file", str(cluster["state"] / "spark-auth.conf"),   # the cluster's secret
           "--py-files", str(zip_path),
           "--conf", f"spark.pyspark.python={sys.executable}",
           "--conf", f"spark.executorEnv.PYTHONPATH={site}",
           str(ROOT / "jobs" / "run_mix.py"), spec]
    r = run_cli(cmd, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((base / "c2" / "manifest.json").read_text())
    assert m["master"] == cluster["url"]          # spark-submit's master, not get_spark's default
    assert rows(base / "c2") == reference["rows"]
    assert shard_hashes(base / "c2") == reference["hashes"]
    # a second submit without --overwrite refuses (exit 2), with it reuses the stage and gives the same bytes
    r = run_cli(cmd, env=env, cwd=tmp_path)
    assert r.returncode == 2 and "output exists" in r.stdout + r.stderr   # spark-submit merges the two
    r = run_cli(cmd + ["--overwrite"], env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((base / "c2" / "manifest.json").read_text())
    assert m["stages"]["score"]["reused"] is True
    assert shard_hashes(base / "c2") == reference["hashes"]


def test_spark_submit_with_packed_dependencies_and_another_python(cluster, data, reference, tmp_path_factory):
    """The README's `--archives` command: executors and driver run another Python (/usr/bin/python3.11, which has
    no numpy of its own) with the dependencies of `tamis package --venv`; Spark unpacks the archive into each
    executor's folder (`./environment`), the driver uses an unpacked copy, pyspark comes from the Spark
    installation (its python/lib zips). Shards must equal the local reference's."""
    from tests.test_package import OTHER_PYTHON, shared_packed, spark_home_elsewhere

    base = data["base"]
    shared, pk = shared_packed(tmp_path_factory)
    home = spark_home_elsewhere(shared)                  # a Spark installation outside the venv
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH="/usr/bin:/bin", SPARK_HOME=str(home), PYTHONPATH=str(pk["site"]))   # the driver's dependencies
    spec = write_spec(base, data["gen"], str(base / "c4"), str(base / "c4.work"), "c4.yaml")
    cmd = [str(home / "bin" / "spark-submit"), "--master", cluster["url"],
           "--properties-file", str(cluster["state"] / "spark-auth.conf"),
           "--archives", f"{pk['archive']}#environment",
           "--py-files", str(pk["zip"]),
           "--conf", f"spark.pyspark.python={OTHER_PYTHON}",
           "--conf", f"spark.pyspark.driver.python={OTHER_PYTHON}",
           "--conf", "spark.executorEnv.PYTHONPATH=./environment/site-packages",
           str(ROOT / "jobs" / "run_mix.py"), spec]
    r = run_cli(cmd, env=env, cwd=tmp_path_factory.mktemp("c4-cwd"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert rows(base / "c4") == reference["rows"]
    assert shard_hashes(base / "c4") == reference["hashes"]
    # the executors unpacked the archive and ran the other Python
    work = cluster["state"] / "work"
    assert list(work.glob("app-*/*/environment/site-packages/numpy")), "no executor unpacked the archive"


def test_cluster_secret_is_private_and_rest_server_off(cluster):
    """The secret file is the owner's alone, and the master runs no (unauthenticated) REST submission server."""
    state, info = cluster["state"], cluster["info"]
    conf = state / "spark-auth.conf"
    assert info["auth_file"] == str(conf)
    assert (os.stat(state).st_mode & 0o777) == 0o700 and (os.stat(conf).st_mode & 0o777) == 0o600
    assert "spark.authenticate true" in conf.read_text()
    st = run_cli(TAMIS + ["cluster", "status", "--state-dir", str(state), "--json"], timeout=60)
    j = json.loads(st.stdout)
    assert j["auth"] is True and j["other_ports"] == [], j   # listens on its RPC and UI ports only
    from engine.spark.cluster_auth import listening_ports

    assert listening_ports(info["master_pid"]) == sorted([info["port"], info["webui_port"]])
    log = (state / "master.log").read_text(errors="replace")
    assert "authentication enabled" in log and "REST server" not in log


def test_other_local_user_cannot_run_code_on_the_cluster(cluster):
    """The attack: as `nobody`, a pyspark driver without the secret submits a job whose task writes a file.
    Without authentication it runs on the workers as the cluster's user (root in CI) and the file appears."""
    from tests.cluster_attack import submit_as_nobody

    res = submit_as_nobody(cluster["url"], refused_when="Expected SaslMessage")
    assert res["marker"] is None, f"the attacker's task ran as uid {res['marker']}"
    assert "RESULT" not in res["log"]
    # refused by the master's authentication (not a permission error on the attacker's side)
    assert "Failed to connect to master" in res["log"] and "Expected SaslMessage" in res["log"], res["log"][-3000:]
    from engine.spark.cluster import ClusterState, alive_workers

    assert alive_workers(ClusterState.load(str(cluster["state"]))) == 2   # the cluster is unharmed


def test_worker_killed_mid_job_still_completes_identically(cluster, data, reference):
    """SIGKILL one worker with its executor while the score stage runs: tasks are retried on the other."""
    base = data["base"]
    work = base / "c3.work"
    spec = write_spec(base, data["gen"], str(base / "c3"), str(work), "c3.yaml")
    # one task per input file (small files are otherwise packed together), so there are tasks left to lose
    p = subprocess.Popen(TAMIS + ["run", spec, "--master", cluster["url"]], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         env={**cluster["env"], "TAMIS_MAX_TASK_BYTES": "1"})
    from tests.cluster_attack import cmdlines

    secret = (cluster["state"] / "spark-auth.conf").read_text().split()[-1]
    victim = cluster["info"]["worker_pids"][0]
    killed_at = None
    try:
        deadline = time.time() + 600
        while time.time() < deadline and p.poll() is None:
            done = list(work.glob("score-*/part-*.parquet"))   # stage parts written so far
            if len(done) >= 3:
                # driver, master, workers and executors all run now: none shows the secret to `ps`
                assert not [c for c in cmdlines() if secret in c], "the cluster secret is on a command line"
                os.killpg(victim, signal.SIGKILL)   # the Worker JVM, its executor and its Python workers
                killed_at = len(done)
                break
            time.sleep(0.1)
        assert killed_at is not None, "the job ended before a worker could be killed mid-way"
        assert not list(work.glob("score-*/_SUCCESS")), "the stage was already complete at the kill"
        out, err = p.communicate(timeout=900)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    assert p.returncode == 0, err[-3000:]
    from engine.procs import alive

    assert not alive(victim), "the worker survived SIGKILL"
    got = rows(base / "c3")
    assert len(got) == len(reference["rows"]) and got == reference["rows"]
    assert shard_hashes(base / "c3") == reference["hashes"]
    assert not list((base / "c3").rglob("*.inprogress"))


def test_cluster_down_stops_everything(cluster):
    info = cluster["info"]
    r = run_cli(TAMIS + ["cluster", "down", "--state-dir", str(cluster["state"])], timeout=120)
    assert r.returncode == 0
    from engine.procs import alive

    pids = [info["master_pid"], *info["worker_pids"]]
    deadline = time.time() + 30
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if alive(p)]
    r = run_cli(TAMIS + ["cluster", "status", "--state-dir", str(cluster["state"])], timeout=60)
    assert r.returncode == 1 and "no cluster running" in r.stdout
