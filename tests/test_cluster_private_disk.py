"""A standalone cluster (master + 2 workers) whose workers share no disk with the driver (tests/private_cluster.py:
each worker in its own mount namespace, a fresh tmpfs over /tmp and over every folder the driver uses).

- isolation: what the driver writes in its /tmp and in the test's folder is invisible to executors, each worker
  has its own /tmp, and executors run the code the driver ships (not this checkout's, hidden from them);
- mixes/web-code-qa.yaml with every input, its decontaminate filter's benchmark files and the output on S3 runs
  there (`tamis run --master spark://...`) and gives the same shard and rejects bytes as an embedded
  local-mode run of the same spec, and as the original spec on local disk.

Executors get the S3 credentials from their worker's environment (set explicitly when the workers start, as a
node's environment or a K8s secret would), never from the spec or Spark's conf.
Slow: one private cluster for the session, stopped after with no process and no mount left.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SHARED, shared_data
from tests.private_cluster import our_mounts, probe, start, stop, unshare_problem
from tests.test_cluster import TAMIS, run_cli

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MIX = ROOT / "mixes" / "web-code-qa.yaml"


@pytest.fixture(scope="session")
def private_cluster(tmp_path_factory, s3_server):
    problem = unshare_problem()
    if problem:
        pytest.skip(f"no private mount namespaces here: {problem}")
    state = tmp_path_factory.mktemp("private-cluster") / "state"
    # the workers' credentials: the S3 test server's AWS_* variables, passed explicitly in their environment
    # (the server's own, not this process's: those are whatever the test process started with)
    pc = start(str(state), aws_env=s3_server.env, extra_hidden=[str(tmp_path_factory.getbasetemp())])
    try:
        yield pc
    finally:
        left = stop(pc)
    assert not left, f"left behind after the cluster stopped: {left}"


def test_executors_see_no_path_of_the_driver(private_cluster, s3_server, tmp_path):
    fd, in_tmp = tempfile.mkstemp(prefix="tamis-driver-")     # the driver's /tmp
    os.close(fd)
    in_test = tmp_path / "driver-file.txt"                    # the test's folder
    in_test.write_text("only the driver sees this")
    driver_paths = [in_tmp, str(in_test), str(SHARED / "README.md"), str(ROOT / "engine" / "__init__.py"),
                    str(MIX)]
    try:
        assert all(os.path.exists(p) for p in driver_paths)
        t = time.time()
        res = probe(private_cluster, driver_paths)
        print(f"probe job: {time.time() - t:.0f}s")
    finally:
        os.unlink(in_tmp)
    tasks = res["tasks"]
    assert len(tasks) == 8
    for task in tasks:
        assert not any(task["exists"].values()), task           # no driver path, on either worker
        # the code is the driver's zip, fetched into the executor's (private) folder
        assert "tamis.zip" in task["engine"] and "tamis.zip" in task["filters"], task
        assert task["cwd"].startswith("/tmp/tamis-worker/work/app-"), task
        assert task["aws_key"] and task["endpoint"] == s3_server.endpoint
        assert task["native"] == "compiled", task       # the zipped extractor build, copied out and loaded
    tmps = {tuple(t["tmp"]) for t in tasks}
    assert len(tmps) == 2, f"tasks saw {len(tmps)} /tmp folders, expected one per worker: {tmps}"
    per_host = {(t["host"], tuple(t["tmp"])) for t in tasks}            # one /tmp per worker, its own
    assert {h for h, _ in per_host} == {"127.0.0.2", "127.0.0.3"} and len(per_host) == 2, per_host
    assert tuple(res["driver_tmp"]) not in tmps
    assert our_mounts() == []      # the workers' tmpfs mounts are theirs alone


# ---------------------------------------------------------------- web-code-qa on S3, on the private cluster


def _local_inputs(spec: dict) -> list[str]:
    """Every input path of the spec, resolved against the spec's folder (patterns kept)."""
    return [os.path.normpath(os.path.join(MIX.parent, p)) for s in spec["sources"] for p in s["paths"]]


def _rewrite_benchmarks(spec: dict, to_path) -> list[str]:
    """Every decontaminate filter's `benchmarks` replaced by `to_path(absolute local file)`; the local files."""
    files = []
    for s in spec["sources"]:
        for f in s.get("filters") or []:
            if f["kind"] == "decontaminate":
                local = [os.path.normpath(os.path.join(MIX.parent, b)) for b in f["benchmarks"]]
                assert not any(glob.has_magic(b) for b in local), local   # files: each gets its own key
                f["benchmarks"] = [to_path(b) for b in local]
                files += local
    return files


def s3_copy_of_mix(server, bucket: str, folder: Path) -> dict:
    """Upload web-code-qa's inputs under s3://bucket/in/ (their layout relative to the common folder of all of
    them, so relative keys and ids match the local run's); return `make(out) -> spec file` for that copy."""
    spec = yaml.safe_load(MIX.read_text())
    inputs = _local_inputs(spec)
    base = os.path.commonpath([p.split("*", 1)[0] for p in inputs])
    to_uri = {p: f"{bucket}/in/{os.path.relpath(p, base)}" for p in inputs}
    for p in inputs:
        hits = sorted(glob.glob(p))
        assert hits, f"missing input {p}"
        for h in hits:
            server.upload(h, f"{bucket}/in/{os.path.relpath(h, base)}")
    for s in spec["sources"]:
        s["paths"] = [to_uri[os.path.normpath(os.path.join(MIX.parent, p))] for p in s["paths"]]
    # benchmark files under <bucket>/bench/<their folder>/: the folder is part of a benchmark's name (gsm8k_test)
    bench = {}
    benchmarks = _rewrite_benchmarks(spec, lambda b: bench.setdefault(
        b, f"{bucket}/bench/{os.path.basename(os.path.dirname(b))}/{os.path.basename(b)}"))
    assert benchmarks, "web-code-qa has a decontaminate filter: its benchmark files go to the bucket too"
    for b in benchmarks:
        server.upload(b, bench[b])

    def make(out: str, name: str) -> str:
        copy = json.loads(json.dumps(spec))
        copy["output"]["path"] = f"{bucket}/{out}"
        copy["output"]["work_dir"] = f"{bucket}/{out}.work"
        f = folder / name
        f.write_text(yaml.safe_dump(copy, sort_keys=False))
        return str(f)

    return make


def output_hashes(server, uri: str) -> dict:
    """sha256 of every parquet file (shards, rejects) under a committed S3 output, by key relative to it."""
    from pyarrow import fs as pafs

    fs = server.filesystem()
    root = uri.split("://", 1)[1].rstrip("/")
    assert fs.get_file_info(f"{root}/_SUCCESS").type == pafs.FileType.File, f"{uri} is not committed"
    found = {}
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type == pafs.FileType.File and info.path.endswith(".parquet"):
            with fs.open_input_stream(info.path) as f:
                found[info.path[len(root) + 1:]] = hashlib.sha256(f.read()).hexdigest()
    return found


def read_manifest(server, uri: str) -> dict:
    with server.filesystem().open_input_stream(uri.split("://", 1)[1] + "/manifest.json") as f:
        return json.loads(f.read())


@pytest.fixture(scope="module")
def s3_mix(s3_server, tmp_path_factory):
    shared_data("warc")
    synthetic = ROOT / "mixes" / "sample" / "data" / "synthetic_markov.jsonl.gz"
    if not synthetic.exists():
        r = run_cli([sys.executable, "mixes/sample/prepare.py"], timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    bucket = s3_server.bucket(f"private-mix-{uuid.uuid4().hex[:8]}")
    folder = tmp_path_factory.mktemp("private-mix")
    return {"bucket": bucket, "make": s3_copy_of_mix(s3_server, bucket, folder), "folder": folder}


@pytest.fixture(scope="module")
def reference(s3_mix, s3_server):
    """The same S3 spec in embedded local mode: the bytes every other run must give."""
    t = time.time()
    env = {**os.environ, **s3_server.env}        # the driver reaches the store like the executors do
    r = run_cli(TAMIS + ["run", s3_mix["make"]("ref", "ref.yaml")], timeout=1500, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    uri = f"{s3_mix['bucket']}/ref"
    hashes = output_hashes(s3_server, uri)
    assert any(k.startswith("rejects/") for k in hashes), sorted(hashes)   # keep_rejects: both kinds compared
    assert any(not k.startswith("rejects/") for k in hashes), sorted(hashes)
    print(f"local mode on S3: {time.time() - t:.0f}s, {len(hashes)} parquet files")
    return {"hashes": hashes, "manifest": read_manifest(s3_server, uri)}


def test_web_code_qa_on_s3_on_private_cluster_matches_local_mode(private_cluster, s3_mix, s3_server, reference):
    t = time.time()
    spec = s3_mix["make"]("cluster", "cluster.yaml")
    r = run_cli(TAMIS + ["run", spec, "--master", private_cluster.url], env={**private_cluster.env, **s3_server.env},
                timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    uri = f"{s3_mix['bucket']}/cluster"
    m = read_manifest(s3_server, uri)
    assert m["master"] == private_cluster.url
    assert output_hashes(s3_server, uri) == reference["hashes"]          # byte-identical shards and rejects
    assert m["totals"] == reference["manifest"]["totals"]
    print(f"private cluster: {time.time() - t:.0f}s, {len(reference['hashes'])} parquet files identical")


def test_s3_copy_matches_the_mix_on_local_disk(s3_mix, reference, tmp_path):
    """The original spec (inputs and benchmark files on local disk, absolute paths) written locally: the same
    bytes as on S3."""
    spec = yaml.safe_load(MIX.read_text())
    for s in spec["sources"]:
        s["paths"] = [os.path.normpath(os.path.join(MIX.parent, p)) for p in s["paths"]]
    assert _rewrite_benchmarks(spec, lambda b: b)
    spec["output"].update(path=str(tmp_path / "out"), work_dir=str(tmp_path / "work"))
    f = tmp_path / "local.yaml"
    f.write_text(yaml.safe_dump(spec, sort_keys=False))
    t = time.time()
    r = run_cli(TAMIS + ["run", str(f)], timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "out"
    got = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.parquet"))}
    assert got == reference["hashes"]
    print(f"local disk: {time.time() - t:.0f}s")
