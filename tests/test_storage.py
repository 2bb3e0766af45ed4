"""The storage layer against a real S3 server (SeaweedFS on 127.0.0.1) and the local disk: one behaviour."""
from __future__ import annotations

import gzip

import pytest

from engine import storage
from engine.settings import settings
from engine.storage.listing import _segment_regex


@pytest.mark.parametrize("pattern,path,match", [
    ("*.warc.gz", "a.warc.gz", True), ("*.warc.gz", "x/a.warc.gz", False), ("**/*.gz", "x/y/a.gz", True),
    ("**/*.gz", "a.gz", True), ("d?/p?.xml", "d1/p1.xml", True), ("d?/p?.xml", "d/1/p1.xml", False),
    ("[ab]*.txt", "b1.txt", True), ("[!ab]*.txt", "b1.txt", False), ("x/**", "x/a/b", True),
])
def test_remote_glob_matches_like_local_glob(pattern, path, match):
    assert bool(_segment_regex(pattern).match(path)) is match


def test_uris():
    assert storage.normalize("s3a://b/k/x.gz") == "s3://b/k/x.gz" and storage.scheme("S3N://b") == "s3"
    assert storage.dirname("s3://b/k/x.gz") == "s3://b/k" and storage.dirname("s3://b/x") == "s3://b"
    assert storage.basename("s3://b/k/x.gz") == "x.gz" and storage.join("s3://b/k/", "m", "x") == "s3://b/k/m/x"
    assert storage.is_within("s3a://b/k/x", "s3://b/k") and not storage.is_within("s3://b/kk", "s3://b/k")
    assert storage.is_bucket_root("s3://b/") and not storage.is_bucket_root("s3://b/o")
    assert not storage.is_remote("file:///x") and storage.local_path("file:///x/y") == "/x/y"
    assert storage.fixed_prefix("s3://b/k/*/x.gz") == "s3://b/k" and storage.fixed_prefix("s3://b/k/x") == "s3://b/k/x"


def _round_trip(base: str):
    payload = gzip.compress(b"line\n" * 100_000)
    meta = storage.write_bytes(storage.join(base, "d", "a.jsonl.gz"), payload)
    storage.write_bytes(storage.join(base, "d", "sub", "b.jsonl.gz"), b"x")
    storage.write_bytes(storage.join(base, "e.txt"), b"e")
    assert meta["bytes"] == len(payload) and meta["sha256"] == storage.sha256(storage.join(base, "d", "a.jsonl.gz"))
    assert storage.read_bytes(storage.join(base, "d", "a.jsonl.gz")) == payload
    with storage.open_input_stream(storage.join(base, "d", "a.jsonl.gz")) as f:
        assert f.peek(2)[:2] == b"\x1f\x8b" and gzip.GzipFile(fileobj=f).read() == b"line\n" * 100_000
    storage.write_bytes(storage.join(base, "r.bin"), payload)
    with storage.open_input_file(storage.join(base, "r.bin")) as f:   # ranged reads
        f.seek(len(payload) - 4)
        assert f.read() == payload[-4:]
    storage.delete_file(storage.join(base, "r.bin"))
    assert [storage.basename(p) for p in storage.glob(storage.join(base, "d", "*.gz"))] == ["a.jsonl.gz"]
    assert [storage.basename(p) for p in storage.glob(storage.join(base, "**", "*.gz"))] == ["a.jsonl.gz", "b.jsonl.gz"]
    assert [i.path for i in storage.walk_files(storage.join(base, "d"))] == [
        storage.join(base, "d", "a.jsonl.gz"), storage.join(base, "d", "sub", "b.jsonl.gz")]
    assert storage.listdir(base) == ["d", "e.txt"] and storage.isdir(storage.join(base, "d"))
    assert storage.info(storage.join(base, "e.txt")).size == 1 and storage.info(storage.join(base, "nope")) is None
    with pytest.raises(RuntimeError):   # a failed write leaves nothing behind
        with storage.open_output(storage.join(base, "f.bin")) as w:
            w.write(b"half")
            raise RuntimeError("boom")
    assert not storage.exists(storage.join(base, "f.bin"))
    storage.delete_file(storage.join(base, "e.txt"))
    storage.delete_tree(storage.join(base, "d"))
    assert storage.listdir(base) == []


def test_local_files(tmp_path):
    _round_trip(str(tmp_path))


def test_s3_files(s3_env):
    _round_trip(s3_env.bucket("storage-test") + "/prefix")


def test_s3_errors_are_one_line(s3_env, monkeypatch):
    assert storage.reachable_problem("s3://no-such-bucket/x", "output") == "output s3://no-such-bucket/x: no such bucket 'no-such-bucket'"
    bucket = s3_env.bucket("errs")
    assert storage.reachable_problem(bucket + "/x", "output") is None
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    storage.filesystems._filesystem.cache_clear()
    msg = storage.reachable_problem(bucket + "/x", "input")
    assert msg.startswith("input s3://errs/x: ") and ("secret" in msg or "denied" in msg) and "\n" not in msg
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    settings.cache_clear()
    storage.filesystems._filesystem.cache_clear()
    msg = storage.reachable_problem(bucket + "/x", "input")
    assert msg == "input s3://errs/x: cannot connect to the storage endpoint (http://127.0.0.1:9)"


def test_anonymous_reads_a_public_bucket_only(s3_env):
    pub = s3_env.bucket("commoncrawl")
    storage.write_bytes(pub + "/crawl-data/x.txt", b"public")
    private = s3_env.bucket("private-data")
    storage.write_bytes(private + "/y.txt", b"secret")
    storage.configure({"anonymous": True})
    storage.filesystems._filesystem.cache_clear()
    assert storage.read_bytes(pub + "/crawl-data/x.txt") == b"public"
    assert storage.glob(pub + "/crawl-data/*.txt") == [pub + "/crawl-data/x.txt"]
    with pytest.raises(OSError):
        storage.read_bytes(private + "/y.txt")


def test_anonymous_for_named_buckets_only(s3_env):
    """Common Crawl read anonymously while the output goes to a private bucket with credentials."""
    pub = s3_env.bucket("commoncrawl")
    storage.write_bytes(pub + "/crawl-data/y.txt", b"public")
    private = s3_env.bucket("private-out")
    storage.configure({"anonymous": ["commoncrawl"]})
    assert storage.current().anonymous == ("commoncrawl",)
    assert storage.read_bytes(pub + "/crawl-data/y.txt") == b"public"
    storage.write_bytes(private + "/out/z.txt", b"mine")            # credentials still used here
    assert storage.read_bytes(private + "/out/z.txt") == b"mine"
    with pytest.raises(OSError):                                  # and not for the anonymous bucket
        storage.write_bytes(pub + "/crawl-data/w.txt", b"no")
