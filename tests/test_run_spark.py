"""End to end on embedded Spark: a spec over real JSONL lands as shards DuckDB reads; reruns are identical;
a failed or killed run leaves nothing at the output path."""
from __future__ import annotations

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

from engine.schema import DOC_SCHEMA
from engine.spec import load_spec
from tests.conftest import ROOT, shared_data
from tests.hooks import pause_env

pytestmark = pytest.mark.spark


def write_spec(tmp_path: Path, out="out/mix", work=None, extra_source="") -> str:
    data = shared_data("jsonl")
    bad = tmp_path / "bad.jsonl"
    if not bad.exists():   # rewriting it would change its mtime, and so the stage keys
        bad.write_bytes(b'{"text": "fine document with enough words to pass the filter here"}\n{broken\n')
    f = tmp_path / "mix.yaml"
    f.write_text(f"""\
name: e2e
seed: 5
output:
  path: {out}
  shard_mb: 0.05
  {"work_dir: " + work if work else ""}
sources:
  - name: cc
    kind: jsonl
    paths: ["{data}/multiple_files/*.jsonl.gz", "{data}/provided/documents/*.json.gz"]
    doc_kind: web
    filters:
      - {{kind: length, min_words: 100}}
  - name: small
    kind: jsonl
    paths: ["{bad}"]
{extra_source}""")
    return str(f)


def shard_hashes(out: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.parquet"))}


def test_run_writes_shards_manifest_rejects(spark, tmp_path):
    from engine.run import run

    spec = load_spec(write_spec(tmp_path))
    m = run(spec)
    out = tmp_path / "out" / "mix"
    assert (out / "_SUCCESS").exists() and (out / "manifest.json").exists()
    con = duckdb.connect()
    rows = con.sql(f"select source, count(*), sum(n_tokens) from '{out}/*.parquet' group by 1 order by 1").fetchall()
    by_source = {r[0]: (r[1], r[2]) for r in rows}
    assert by_source["cc"][0] == m["sources"]["cc"]["docs_written"] > 15
    assert by_source["cc"][1] == m["sources"]["cc"]["tokens_written"]
    assert by_source["small"][0] == 1
    cols = con.sql(f"describe select * from '{out}/*.parquet'").fetchall()
    names = [c[0] for c in cols]
    assert set(DOC_SCHEMA.names) <= set(names)
    assert con.sql(f"select count(*) from '{out}/*.parquet' where n_tokens is null or n_tokens <= 0").fetchall() == [(0,)]
    # rejects: every drop with its reason, and counts that match the manifest
    rej = dict(con.sql(f"select reason, count(*) from '{out}/rejects/*.parquet' group by 1").fetchall())
    assert rej["read:bad_json"] == 1 == m["sources"]["small"]["docs_unreadable"]
    assert rej["length:too_few_words"] == m["sources"]["cc"]["docs_dropped"]["length:too_few_words"] > 0
    # shards are globally shuffled: both sources' rows interleave and shard sizes are near the target
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["shards"] == len(list(out.glob("shard-*.parquet"))) >= 2
    for sh in manifest["shards"]:
        assert hashlib.sha256((out / sh["file"]).read_bytes()).hexdigest() == sh["sha256"]
    ids = con.sql(f"select id from '{out}/*.parquet'").fetchall()
    assert len(ids) == len(set(ids))


def test_same_spec_twice_gives_byte_identical_shards(spark, tmp_path):
    from engine.run import run

    run(load_spec(write_spec(tmp_path, out="a", work=str(tmp_path / "wa"))))
    run(load_spec(write_spec(tmp_path, out="b", work=str(tmp_path / "wb"))))
    a, b = shard_hashes(tmp_path / "a"), shard_hashes(tmp_path / "b")
    assert a and a == b
    # a second run over the same work dir reuses the score stage and still gives the same bytes
    m = run(load_spec(write_spec(tmp_path, out="a", work=str(tmp_path / "wa"))), overwrite=True)
    assert m["stages"]["score"]["reused"] is True
    assert shard_hashes(tmp_path / "a") == b


def test_local1_cli_run_gives_same_rows_as_local2(spark, tmp_path):
    from engine.run import run

    run(load_spec(write_spec(tmp_path, out="l2", work=str(tmp_path / "w2"))))
    f = write_spec(tmp_path, out="l1", work=str(tmp_path / "w1"))
    r = subprocess.run([sys.executable, "-m", "engine.cli", "run", f, "--master", "local[1]"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    q = "select id, text, n_tokens, lang from '{}/*.parquet' order by id"
    assert duckdb.sql(q.format(tmp_path / "l1")).fetchall() == duckdb.sql(q.format(tmp_path / "l2")).fetchall()
    assert shard_hashes(tmp_path / "l1") == shard_hashes(tmp_path / "l2")


def test_failure_mid_write_leaves_nothing_and_keeps_old_output(spark, tmp_path, monkeypatch):
    import engine.spark.write
    from engine.run import run

    spec_path = write_spec(tmp_path)
    run(load_spec(spec_path))
    out = tmp_path / "out" / "mix"
    before = shard_hashes(out)
    real = engine.spark.write.write_shards
    calls = []

    def failing(df, out_dir, *a, **kw):
        res = real(df, out_dir, *a, **kw)        # shards really written into the build folder...
        calls.append(out_dir)
        raise RuntimeError("disk full")          # ...then the run dies before commit

    monkeypatch.setattr(engine.spark.write, "write_shards", failing)
    with pytest.raises(RuntimeError):
        run(load_spec(spec_path), overwrite=True)
    assert calls and not os.path.exists(calls[0])          # build folder removed
    assert shard_hashes(out) == before                      # the previous output is untouched
    assert not list(tmp_path.joinpath("out").glob(".mix.tmp-*"))


def test_killed_run_leaves_no_success_and_no_shards(tmp_path):
    f = write_spec(tmp_path, out="killed")
    env = pause_env(TAMIS_TEST_PAUSE_BEFORE_COMMIT="120")
    p = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", f, "--master", "local[1]"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        built = []
        while time.time() < deadline and not built:   # wait until the build folder holds finished shards
            built = [d for d in tmp_path.glob(".killed.tmp-*") if (d / "_SUCCESS").exists()]
            time.sleep(0.5)
        assert built, "the run never reached its commit"
        assert list(built[0].glob("shard-*.parquet"))
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    out = tmp_path / "killed"
    assert not (out / "_SUCCESS").exists()
    assert not list(out.glob("*.parquet")) if out.exists() else True
