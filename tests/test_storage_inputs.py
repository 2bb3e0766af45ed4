"""Inputs on object storage (issue 15): every reader gives the same rows from S3 as from local disk, `validate`
refuses what `run` would (one line naming the path), Common Crawl path lists with anonymous access, and an
input an executor cannot open fails the run naming the file and the host."""
from __future__ import annotations

import gzip
import os
import random
import socket
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

# Not `from tests.conftest import ...`: that imports conftest a second time, and its import-time set-up
# would point AWS_ENDPOINT_URL at another port than the running test server's.
SHARED = Path(os.environ.get("TAMIS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WARC = SHARED / "warc" / "whirlwind_cc" / "whirlwind.warc.gz"
CODE = SHARED / "code" / "stack_style_code_sample.parquet"
SITE = SHARED / "stackexchange" / "conlang.meta.stackexchange.com"
JSONL = SHARED / "jsonl" / "multiple_files"
pytestmark = pytest.mark.skipif(not WARC.exists(), reason=f"shared test data not found: {SHARED}")


def _bucket(s3, stem: str) -> str:
    return s3.bucket(f"{stem}-{uuid.uuid4().hex[:8]}")


def _rows(source, path_or_paths) -> list[dict]:
    from engine.readers import read_file
    from engine.spec.paths import source_files

    out = []
    for p in source_files(source):
        for b in read_file(p, source):
            out += b.to_pylist()
    return out


def _source(kind: str, pattern: str, **kw):
    from engine.spec.models import CodeSource, JsonlSource, StackExchangeSource, WarcSource

    cls = {"warc": WarcSource, "code": CodeSource, "stackexchange": StackExchangeSource, "jsonl": JsonlSource}[kind]
    return cls(name="s", kind=kind, paths=[pattern], **kw)


CASES = {   # kind: (local file or folder, how it is named in the pattern, extra source fields)
    "warc": (WARC, "*.warc.gz", {"extractor": "resiliparse"}),
    "code": (CODE, "*.parquet", {}),
    "stackexchange": (SITE, "conlang.meta.*", {"include_comments": True}),
    "jsonl": (JSONL, "*.jsonl.gz", {}),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_reader_gives_the_same_rows_from_s3_as_from_local_disk(s3_env, kind):
    local, glob_name, extra = CASES[kind]
    bucket = _bucket(s3_env, f"in-{kind}")
    folder = f"{bucket}/x/data"
    if local.is_dir() and kind != "stackexchange":   # a folder of files: each file under the prefix
        s3_env.upload(local, folder)
        local_pattern = f"{local}/{glob_name}"
    else:
        s3_env.upload(local, f"{folder}/{local.name}")
        local_pattern = f"{local.parent}/{glob_name}"
    here = _rows(_source(kind, local_pattern, **extra), None)
    there = _rows(_source(kind, f"{folder}/{glob_name}", **extra), None)
    assert here and len(here) == len(there)
    assert here == there   # ids (from the relative key), text, meta, reasons
    if kind == "jsonl":   # Hadoop's name for S3 is the same store
        assert _rows(_source(kind, f"{folder.replace('s3://', 's3a://')}/{glob_name}", **extra), None) == here


def test_relative_keys_are_the_same_on_s3_and_on_local_disk():
    from engine.readers import relative_key

    local = _source("warc", "/d/x/data/*.warc.gz")
    remote = _source("warc", "s3a://b/x/data/*.warc.gz")
    assert relative_key("/d/x/data/sub/f.warc.gz", local) == "sub/f.warc.gz"
    assert relative_key("s3://b/x/data/sub/f.warc.gz", remote) == "sub/f.warc.gz"
    assert relative_key("s3://b/x/data/f.warc.gz", _source("warc", "s3://b/x/data/f.warc.gz")) == "f.warc.gz"


# ---------------------------------------------------------------- validate


def _spec(tmp_path, inputs: str, output: str, storage: str = "", kind: str = "jsonl", listing: str = "") -> str:
    f = tmp_path / "mix.yaml"
    paths = listing or f"paths: [\"{inputs}\"]"
    f.write_text(f"name: s3test\noutput: {{path: \"{output}\"}}\n{storage}"
                 f"sources:\n  - name: a\n    kind: {kind}\n    {paths}\n")
    return str(f)


def _validate(spec: str):
    from engine.cli import main

    return CliRunner().invoke(main, ["validate", spec])


def _one_line(r, *words):
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert r.exit_code == 2, r.output
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.output


def test_validate_accepts_s3_inputs_and_output(s3_env, tmp_path):
    b = _bucket(s3_env, "ok")
    s3_env.upload(JSONL, f"{b}/in")
    r = _validate(_spec(tmp_path, f"{b.replace('s3://', 's3a://')}/in/*.jsonl.gz", f"{b}/out"))
    assert r.exit_code == 0, r.output


def test_validate_refuses_missing_bucket_wrong_keys_dead_endpoint_in_one_line(s3_env, tmp_path, monkeypatch):
    from engine.settings import settings
    from engine.storage.filesystems import _filesystem

    b = _bucket(s3_env, "bad")
    s3_env.upload(JSONL, f"{b}/in")
    good_in = f"{b}/in/*.jsonl.gz"
    _one_line(_validate(_spec(tmp_path, good_in, "s3://no-such-bucket-tamis/out")), "s3://no-such-bucket-tamis/out",
              "no such bucket")
    _one_line(_validate(_spec(tmp_path, "s3://no-such-bucket-tamis/in/*.jsonl", f"{b}/out")),
              "s3://no-such-bucket-tamis/in/*.jsonl", "no such bucket")
    _one_line(_validate(_spec(tmp_path, f"{b}/in/nothing-*.jsonl", f"{b}/out")), f"no such file: {b}/in/nothing-*")
    _one_line(_validate(_spec(tmp_path, good_in, b + "/")), "whole bucket")
    _one_line(_validate(_spec(tmp_path, good_in, f"{b}/in")), "refusing output path", "contains the input")
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    r = _validate(_spec(tmp_path, good_in, f"{b}/out", storage=f"storage: {{endpoint: http://127.0.0.1:{dead}}}\n"))
    lines = r.output.strip().splitlines()   # one line per path: the input's and the output's
    assert r.exit_code == 2 and len(lines) == 2, r.output
    assert good_in in lines[0] and f"{b}/out" in lines[1], r.output
    assert all("cannot connect" in line and f"127.0.0.1:{dead}" in line for line in lines), r.output
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    settings.cache_clear()
    _filesystem.cache_clear()
    r = _validate(_spec(tmp_path, good_in, f"{b}/out"))
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and good_in in lines[0], r.output
    assert all("secret" in line or "denied" in line for line in lines), r.output


def test_unsupported_scheme_and_remote_filter_files_are_refused(tmp_path):
    _one_line(_validate(_spec(tmp_path, "nosuchscheme://x/y.jsonl", str(tmp_path / "out"))), "nosuchscheme")


# ---------------------------------------------------------------- Common Crawl path lists


def test_paths_file_with_prefix_reads_commoncrawl_anonymously(s3_env, tmp_path):
    from engine import storage
    from engine.spec import load_spec

    s3_env.bucket("commoncrawl")
    key = f"crawl-data/CC-TEST-{uuid.uuid4().hex[:6]}/segments/1/warc/whirlwind.warc.gz"
    s3_env.upload(WARC, f"s3://commoncrawl/{key}")
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(f"{key}\n".encode()))
    # anonymous access is for the whole process (the spec's storage block): the output is local here
    spec = _spec(tmp_path, "", str(tmp_path / "out"), kind="warc", storage="storage: {anonymous: true}\n",
                 listing=f"paths_file: {listing}\n    prefix: s3://commoncrawl/\n    extractor: resiliparse")
    s = load_spec(spec)
    assert s.sources[0].paths == [f"s3://commoncrawl/{key}"]
    assert storage.current().anonymous
    rows = _rows(s.sources[0], None)
    local = _rows(_source("warc", str(WARC), extractor="resiliparse").model_copy(update={"name": "a"}), None)
    assert [r["id"] for r in rows] == [r["id"] for r in local] and rows
    assert [r["text"] for r in rows] == [r["text"] for r in local]


def test_paths_file_and_paths_are_exclusive(tmp_path):
    r = _validate(_spec(tmp_path, str(WARC), str(tmp_path / "out"), kind="warc",
                        listing=f"paths: [\"{WARC}\"]\n    paths_file: {tmp_path}/warc.paths"))
    assert r.exit_code == 2 and "paths_file" in r.output, r.output


def test_sample_files_is_a_stable_subset():
    from engine.spec.path_lists import sample_keys

    keys = [f"crawl-data/CC/segments/{i}/warc/f{i}.warc.gz" for i in range(200)]
    first = sample_keys(keys, 10)
    shuffled = keys[:]
    random.Random(3).shuffle(shuffled)
    assert sample_keys(shuffled, 10) == first and len(first) == 10
    assert set(first) <= set(sample_keys(keys, 20))
    assert sample_keys(keys, None) == sorted(keys)


# ---------------------------------------------------------------- executors


@pytest.mark.spark
def test_an_input_the_executor_cannot_open_fails_naming_file_and_host(spark, s3_server, tmp_path):
    from engine.cli.errors import failure_line, unreadable_input
    from engine.spark.score import score_sources
    from engine.spec import parse_spec
    from engine.stages import StageLog
    from engine.spec.paths import resolve_source

    b = s3_server.bucket(f"gone-{uuid.uuid4().hex[:8]}")
    s3_server.upload(JSONL, f"{b}/in")
    # the endpoint through the spec: executors get it from the task's closure, not from their environment
    _spec(tmp_path, f"{b}/in/*.jsonl.gz", f"{b}/out", storage=f"storage: {{endpoint: {s3_server.endpoint}}}\n")
    spec = parse_spec((tmp_path / "mix.yaml").read_text(), check_paths=False)
    resolved = resolve_source(spec.sources[0])
    gone = resolved.paths[0]
    s3_server.filesystem().delete_file(gone.split("://", 1)[1])   # listed by the driver, then deleted
    with pytest.raises(Exception) as e:
        score_sources(spark, spec, {resolved.source.name: resolved}, str(tmp_path / "work"), StageLog())
    line = unreadable_input(e.value)
    assert line == f"cannot read input {gone} on host {socket.gethostname()}: no such file or folder", line
    assert failure_line(e.value).startswith(line)


def test_a_remote_warc_seeks_back_after_damage_as_a_local_file_does(s3_env, tmp_path):
    """The WARC reader's resync seeks back: a remote WARC is read with ranged reads, seekable anywhere."""
    from engine.readers.warc import stream

    data = bytes(range(256)) * 40_000   # ~10 MB: more than the window
    local = tmp_path / "blob.bin"
    local.write_bytes(data)
    b = _bucket(s3_env, "seek")
    s3_env.upload(local, f"{b}/blob.bin")
    with stream._open(f"{b}/blob.bin") as f:
        assert f.read(9_000_000) == data[:9_000_000]
        for pos, n in ((8_000_000, 5000), (10, 100), (9_500_000, 300_000), (3, -1)):
            f.seek(pos)
            assert f.tell() == pos and (f.read() if n < 0 else f.read(n)) == (data[pos:] if n < 0 else data[pos:pos + n])
