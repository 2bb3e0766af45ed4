"""Nothing touches the network at run time: a whole `tamis run` (WARC extraction, every web filter, NSFW URL
lists, decontamination, dedup, writing) succeeds inside a fresh network namespace that has only loopback.

`unshare --net` (root) gives the process tree an empty network stack: any download, DNS lookup or
connection to another host fails there. Skips outside Linux-as-root, but never under CI (CI runs as root).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from tests.conftest import ROOT, shared_data

pytestmark = pytest.mark.spark


def can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


def test_full_run_in_a_network_namespace_without_network(tmp_path):
    if not can_unshare():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI runs as root: unshare --net must work here")
        pytest.skip("needs root and unshare to build a network namespace")
    warc = shared_data("warc", "resiliparse", "warcfile.warc.gz")
    bench = shared_data("benchmarks")
    jsonl = shared_data("jsonl", "multiple_files")
    spec = tmp_path / "offline.yaml"
    spec.write_text(f"""\
name: offline
seed: 3
output: {{path: out, shard_mb: 1}}
sources:
  - name: web
    kind: warc
    paths: ["{warc}"]
    filters:
      - {{kind: language, mode: tag}}
      - {{kind: gopher_quality, mode: tag}}
      - {{kind: gopher_repetition, mode: tag}}
      - {{kind: c4_quality, mode: tag}}
      - {{kind: fineweb_quality, mode: tag}}
      - {{kind: nsfw}}
      - {{kind: decontaminate, benchmarks: ["{bench}/gsm8k/test.jsonl"]}}
  - name: cc
    kind: jsonl
    paths: ["{jsonl}/*.jsonl.gz"]
    filters:
      - {{kind: language}}
      - {{kind: nsfw}}
dedup: {{exact: true, minhash: {{threshold: 0.8}}}}
""")
    env = {**os.environ, "TAMIS_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "0"}
    cmd = f"ip link set lo up && exec {sys.executable} -m engine.cli run {spec} --master 'local[2]'"
    r = subprocess.run(["unshare", "--net", "sh", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    # the namespace really had no network: resolving a public name fails there
    probe = subprocess.run(["unshare", "--net", sys.executable, "-c",
                            "import socket; socket.getaddrinfo('pypi.org', 443)"], capture_output=True, text=True)
    assert probe.returncode != 0
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["sources"]["web"]["docs_read"] > 0 and m["totals"]["docs_written"] > 0
    cols = {c[0] for c in duckdb.sql(f"describe select * from '{tmp_path}/out/*.parquet'").fetchall()}
    assert {"lang", "script", "gopher_n_words", "nsfw_word_ratio", "decontam_match", "dup_cluster_size"} <= cols
