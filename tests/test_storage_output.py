"""The output on an object store (a real S3 server, tests/s3server.py): shards written in place by the
executors, `manifest.json`, leftovers removed, `_SUCCESS` last; `tamis audit s3://...` reads only a committed
output whose files match its manifest.

Inputs stay local here (inputs on S3 have their own tests); every run is the real CLI in a subprocess.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.test_cluster import TAMIS, make_inputs, run_cli, write_spec


def _cli(args: list[str], s3) -> object:
    return run_cli(TAMIS + args, env=os.environ | s3.env)


def _spec(folder: Path, gen: Path, out: str, shard_mb: float = 0.05) -> str:
    spec = write_spec(folder, gen, out, str(folder / "work"), name=f"mix-{uuid.uuid4().hex[:6]}.yaml")
    text = Path(spec).read_text().replace("shard_mb: 0.05", f"shard_mb: {shard_mb}\n  keep_rejects: true")
    Path(spec).write_text(text)
    return spec


def _names(fs, uri: str) -> set[str]:
    from pyarrow.fs import FileSelector, FileType

    key = uri.split("://", 1)[1]
    return {i.path[len(key) + 1:] for i in fs.get_file_info(FileSelector(key, recursive=True, allow_not_found=True))
            if i.type == FileType.File}


def _sha(fs, uri: str) -> str:
    with fs.open_input_stream(uri.split("://", 1)[1]) as f:
        return hashlib.sha256(f.read()).hexdigest()


def _put(fs, uri: str, data: bytes):
    with fs.open_output_stream(uri.split("://", 1)[1]) as f:
        f.write(data)


def _audit(path: str, *flags: str):
    from engine.cli import main

    return CliRunner().invoke(main, ["audit", path, "--sample", "1", *flags], terminal_width=200)


def _one_line(r) -> str:
    lines = [l for l in r.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1, r.output
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, s3_server):
    """The same spec with a local output and with an s3:// output."""
    base = tmp_path_factory.mktemp("s3out")
    gen = make_inputs(base / "gen", 4)
    local = base / "local-out"
    r = _cli(["run", _spec(base, gen, str(local)), "--overwrite"], s3_server)
    assert r.returncode == 0, r.stderr
    out = s3_server.bucket(f"out-{uuid.uuid4().hex[:8]}") + "/mix/out"
    r = _cli(["run", _spec(base, gen, out)], s3_server)
    assert r.returncode == 0, r.stderr
    return {"base": base, "gen": gen, "local": local, "out": out}


def test_s3_output_is_byte_identical_and_committed(runs, s3_server):
    fs, local, out = s3_server.filesystem(), runs["local"], runs["out"]
    want = {str(p.relative_to(local)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(local.rglob("*.parquet"))}
    assert len([k for k in want if "/" not in k]) >= 2 and any(k.startswith("rejects/") for k in want)
    m = json.loads(fs.open_input_stream(out.split("://", 1)[1] + "/manifest.json").read())
    listed = {e["file"] for e in m["shards"]} | {f"rejects/{e['file']}" for e in m["rejects"]}
    assert _names(fs, out) == listed | {"manifest.json", "datasheet.md", "_SUCCESS"}
    assert {k: _sha(fs, f"{out}/{k}") for k in sorted(listed)} == want
    local_m = json.loads((local / "manifest.json").read_text())
    assert m["shards"] == local_m["shards"] and m["rejects"] == local_m["rejects"]
    assert _names(fs, out.rsplit("/", 1)[0]) == {f"out/{n}" for n in listed | {"manifest.json", "datasheet.md", "_SUCCESS"}}, \
        "the lock object is gone after the run"
    bucket = out.split("://", 1)[1].split("/")[0]
    assert not Path("s3:", bucket).exists() and not (runs["base"] / "s3:").exists(), "no local ./s3:/ folder"


def test_audit_reads_a_committed_s3_output(runs, s3_server, s3_env):
    r = _audit(runs["out"])
    assert r.exit_code == 0 and runs["out"] in r.output, r.output
    assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in r.output
    assert _audit(runs["out"], "--verify-checksums").exit_code == 0


def test_open_output_over_the_manifest_files(runs, s3_env):
    import engine.audit as audit

    con = audit.open_output(runs["out"])
    assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] > 0
    remote, local = audit.collect(con, sample=2, seed=1), audit.collect(audit.open_output(runs["local"]), 2, 1)
    for k in ("mix", "by_source", "drops", "source_totals", "reason_counts", "lang_samples", "quantiles"):
        assert _rounded(remote[k]) == _rounded(local[k]), k


def _rounded(v):
    """Floats to 12 significant digits: DuckDB's parallel `avg` may sum the same values in another order."""
    if isinstance(v, float):
        return float(f"{v:.12g}")
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_rounded(x) for x in v]
    return v


def _copy_output(s3, src: str, name: str) -> str:
    """A copy of the committed output `src` in a new bucket."""
    fs = s3.filesystem()
    dst = s3.bucket(f"{name}-{uuid.uuid4().hex[:8]}") + "/out"
    for rel in _names(fs, src):
        with fs.open_input_stream(f"{src.split('://', 1)[1]}/{rel}") as f:
            _put(fs, f"{dst}/{rel}", f.read())
    return dst


def test_audit_refuses_uncommitted_or_mismatched_outputs(runs, s3_server, s3_env):
    fs = s3_server.filesystem()
    killed = _copy_output(s3_server, runs["out"], "killed")
    fs.delete_file(f"{killed.split('://', 1)[1]}/_SUCCESS")
    r = _audit(killed)
    assert r.exit_code == 2 and "not a committed output: no _SUCCESS" in _one_line(r), r.output

    missing = _copy_output(s3_server, runs["out"], "missing")
    fs.delete_file(f"{missing.split('://', 1)[1]}/shard-00001.parquet")
    r = _audit(missing)
    assert r.exit_code == 2 and "shard-00001.parquet is listed in manifest.json but missing" in _one_line(r)

    resized = _copy_output(s3_server, runs["out"], "resized")
    _put(fs, f"{resized}/shard-00000.parquet", b"PAR1 not the shard")
    r = _audit(resized)
    assert r.exit_code == 2 and "shard-00000.parquet has 18 bytes" in _one_line(r), r.output

    r = _audit(s3_server.bucket(f"empty-{uuid.uuid4().hex[:8]}") + "/nothing")
    assert r.exit_code == 2 and "not a tamis output" in _one_line(r)


def test_rerun_removes_leftovers_and_old_shards(runs, s3_server, s3_env):
    """A committed output with more shards, then a killed run (no `_SUCCESS`, a stray shard and rejects
    file): `--overwrite` with one shard leaves exactly the new files."""
    fs = s3_server.filesystem()
    out = _copy_output(s3_server, runs["out"], "rerun")
    before = _names(fs, out)
    assert len([n for n in before if n.startswith("shard-")]) >= 2
    fs.delete_file(f"{out.split('://', 1)[1]}/_SUCCESS")
    _put(fs, f"{out}/shard-00042.parquet", b"PAR1 half a shard of a killed run")
    _put(fs, f"{out}/rejects/rejects-00007.parquet", b"PAR1 half")
    _put(fs, f"{out}/notes/stray.txt", b"x")
    assert _cli(["run", _spec(runs["base"], runs["gen"], out)], s3_server).returncode == 2, \
        "an existing output needs --overwrite"
    r = _cli(["run", _spec(runs["base"], runs["gen"], out, shard_mb=50), "--overwrite"], s3_server)
    assert r.returncode == 0, r.stderr
    m = json.loads(fs.open_input_stream(out.split("://", 1)[1] + "/manifest.json").read())
    assert [e["file"] for e in m["shards"]] == ["shard-00000.parquet"]
    listed = {e["file"] for e in m["shards"]} | {f"rejects/{e['file']}" for e in m["rejects"]}
    assert _names(fs, out) == listed | {"manifest.json", "datasheet.md", "_SUCCESS"}
    assert _audit(out).exit_code == 0


def test_live_lock_and_missing_bucket_are_refused(runs, s3_server):
    fs = s3_server.filesystem()
    out = s3_server.bucket(f"locked-{uuid.uuid4().hex[:8]}") + "/out"
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": "now", "token": "t"}
    _put(fs, out.rsplit("/", 1)[0] + "/.out.lock", json.dumps(holder).encode())
    r = _cli(["run", _spec(runs["base"], runs["gen"], out)], s3_server)
    assert r.returncode == 2 and "output is locked by another tamis run" in r.stderr, r.stderr
    assert not _names(fs, out), "a refused run writes nothing"

    nobucket = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/out"
    r = _cli(["run", _spec(runs["base"], runs["gen"], nobucket)], s3_server)
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1 and nobucket in lines[0], r.stderr


@pytest.mark.spark
@pytest.mark.slow
def test_driver_killed_mid_write_to_s3_then_rerun(runs, s3_server, s3_env):
    """The driver killed after its shards and manifest.json are on S3 but before `_SUCCESS`: the audit refuses
    the output in one line; a rerun gives the same shards as the local run, and nothing of the killed run
    remains under the prefix."""
    import signal
    import subprocess
    import time

    from tests.hooks import pause_env

    fs = s3_server.filesystem()
    out = s3_server.bucket(f"killed-{uuid.uuid4().hex[:8]}") + "/mix/out"
    spec = _spec(runs["base"], runs["gen"], out)
    p = subprocess.Popen(TAMIS + ["run", spec], env=pause_env(os.environ | s3_server.env,
                                                              TAMIS_TEST_PAUSE_BEFORE_VERIFY="120"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 600
        while "manifest.json" not in _names(fs, out):
            assert p.poll() is None, p.stderr.read()[-2000:]
            assert time.time() < deadline, "the run never wrote its manifest"
            time.sleep(0.2)
    finally:
        os.killpg(p.pid, signal.SIGKILL)   # the driver, its JVM and the Python workers
        p.wait()
    killed = _names(fs, out)
    assert "_SUCCESS" not in killed and any(n.startswith("shard-") for n in killed)
    r = _audit(out)
    assert r.exit_code == 2 and "_SUCCESS" in _one_line(r)
    r = _cli(["run", spec, "--overwrite"], s3_server)   # the killed run's lock: its pid is gone, taken over
    assert r.returncode == 0, r.stderr
    local = runs["local"]
    want = {str(q.relative_to(local)): hashlib.sha256(q.read_bytes()).hexdigest()
            for q in sorted(local.rglob("*.parquet"))}
    assert {n: _sha(fs, f"{out}/{n}") for n in _names(fs, out) if n.endswith(".parquet")} == want
    assert _names(fs, out) == set(want) | {"manifest.json", "datasheet.md", "_SUCCESS"}
    assert _audit(out).exit_code == 0
