"""WARC/WET records whose header lies or breaks, in the middle of a real Common Crawl file: that record is
quarantined, the reader resynchronises on the next `WARC/1.x` header, and every other page is read; records
that cannot be recovered are counted, one row each. Multi-member gzip, one gzip stream and plain alike."""
from __future__ import annotations

import collections
import gzip
import json
import re
import zlib

import pytest

from engine.readers.warc import read_warc, read_wet
from engine.schema import stable_id
from engine.spec import WarcSource, WetSource
from tests.conftest import shared_data

PACKINGS = {
    "multi_member_gzip": lambda recs: b"".join(gzip.compress(r) for r in recs),   # Common Crawl: a member a record
    "single_gzip": lambda recs: gzip.compress(b"".join(recs)),
    "plain": lambda recs: b"".join(recs),
}


def members(path) -> list[bytes]:
    """The decompressed gzip members of a Common Crawl file: one WARC record each."""
    raw, out = path.read_bytes(), []
    while raw:
        d = zlib.decompressobj(31)
        out.append(d.decompress(raw))
        raw = d.unused_data
    return out


def with_length(rec: bytes, length) -> bytes:
    old = re.search(rb"Content-Length: (\d+)\r\n", rec).group(0)
    return rec.replace(old, b"Content-Length: %s\r\n" % str(length).encode(), 1)


def declared(rec: bytes) -> int:
    return int(re.search(rb"Content-Length: (\d+)\r\n", rec).group(1))


def record_id(rec: bytes) -> str:
    return re.search(rb"WARC-Record-ID: (<[^>]+>)", rec).group(1).decode()


def wtype(rec: bytes) -> str:
    return re.search(rb"WARC-Type: (\w+)", rec).group(1).decode()


def read(fn, path, kind="warc") -> list[dict]:
    src = (WarcSource if kind == "warc" else WetSource)(name="web", kind=kind, paths=[f"{path.parent}/*"])
    return [r for b in fn(str(path), src) for r in b.to_pylist()]


@pytest.fixture(scope="module")
def cc():
    path = shared_data("warc", "resiliparse", "warcfile.warc.gz")
    recs = members(path)
    assert len(recs) == 50 and all(r.startswith(b"WARC/1.0\r\n") and r.endswith(b"\r\n\r\n") for r in recs)
    docs = {r["id"]: r for r in read(read_warc, path)}
    assert len(docs) == 16 and all(r["reason"] is None for r in docs.values())
    return recs, docs


def _damage(recs: list[bytes], how: str) -> tuple[int, list[bytes]]:
    """(index of the damaged record, the records with it damaged)."""
    responses = [i for i, r in enumerate(recs) if wtype(r) == "response"]
    i = responses[2] if how != "request_too_long" else responses[2] - 1
    if how == "broken_header":
        bad = recs[i].replace(b"Content-Length: ", b"Content-Length: 12x", 1)
    elif how == "to_eof":
        bad = with_length(recs[i], 10**12)
    else:   # swallows the next two pages and stops 100 bytes into the header of the record after them
        nxt = [j for j in responses if j > i][:2]
        assert len(nxt) == 2 and wtype(recs[nxt[1] + 1]) != "response"
        bad = with_length(recs[i], declared(recs[i]) + sum(map(len, recs[i + 1:nxt[1] + 1])) + 100)
    return i, recs[:i] + [bad] + recs[i + 1:]


@pytest.mark.parametrize("packing", sorted(PACKINGS))
@pytest.mark.parametrize("how", ["response_too_long", "request_too_long", "to_eof", "broken_header"])
def test_a_damaged_record_costs_that_record_only(cc, tmp_path, packing, how):
    recs, docs = cc
    i, damaged = _damage(recs, how)
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(PACKINGS[packing](damaged))
    rows = read(read_warc, path)
    reasons = collections.Counter(r["reason"] for r in rows if r["reason"])
    lost_page = stable_id("web", record_id(recs[i])) if wtype(recs[i]) == "response" else None
    # every page before and after the damaged record is read, with the same id and text as in the intact file
    got = {r["id"]: r for r in rows if r["reason"] is None}
    assert set(got) == set(docs) - {lost_page}
    assert all(got[k]["text"] == docs[k]["text"] and got[k]["url"] == docs[k]["url"] for k in got)
    # ... and the damaged record is one counted reject, with its reason
    want = "read:malformed_header" if how == "broken_header" else "read:bad_content_length"
    assert reasons == {want: 1}
    if how != "broken_header":
        bad = next(r for r in rows if r["reason"])
        assert bad["id"] == stable_id("web", f"{record_id(recs[i])}:bad_content_length")
        assert "resynchronised" in bad["meta"]


def test_memory_bound_counts_every_record_it_drops(cc, tmp_path, monkeypatch):
    """Past RESYNC_KEEP the swallowed bytes are not kept: each record header dropped is one counted row."""
    import engine.readers.warc.resync as resync

    recs, docs = cc
    monkeypatch.setattr(resync, "RESYNC_KEEP", 20_000)
    i = next(j for j, r in enumerate(recs) if wtype(r) == "request" and j > 3)
    damaged = recs[:i] + [with_length(recs[i], 10**12)] + recs[i + 1:]
    path = tmp_path / "x.warc.gz"
    path.write_bytes(PACKINGS["multi_member_gzip"](damaged))
    rows = read(read_warc, path)
    starts = {sum(map(len, damaged[:j])): j for j in range(len(damaged))}   # record offsets in the WARC stream
    lost = [starts[json.loads(r["meta"])["offset"]] for r in rows if r["reason"] == "read:lost_in_overrun"]
    read_ids = {r["id"] for r in rows if r["reason"] is None}
    assert len(lost) > 10 and min(lost) == i + 1 and len(set(lost)) == len(lost)
    # each record after the damaged one is either read again or counted lost, never both, never neither
    for j in range(i + 1, len(recs)):
        if wtype(recs[j]) == "response":
            assert (stable_id("web", record_id(recs[j])) in read_ids) != (j in lost), j
    assert collections.Counter(r["reason"] for r in rows)["read:bad_content_length"] == 1
    assert all(r["reason"] in (None, "read:bad_content_length", "read:lost_in_overrun") for r in rows)
    assert {k for k in docs if k in read_ids} == read_ids


def test_wet_lying_content_length(tmp_path):
    path = shared_data("warc", "whirlwind_cc", "whirlwind.warc.wet.gz")
    info, conv = members(path)
    copies = [conv.replace(record_id(conv).encode(), f"<urn:uuid:copy-{k}>".encode()) for k in range(5)]
    copies = [c.replace(b"WARC-Target-URI: ", b"WARC-Target-URI: http://copy%d." % k, 1) for k, c in enumerate(copies)]
    damaged = [info, *copies[:2], with_length(copies[2], declared(copies[2]) + len(copies[3]) + 40), *copies[3:]]
    for packing, pack in PACKINGS.items():
        p = tmp_path / f"{packing}.warc.wet.gz"
        p.write_bytes(pack(damaged))
        rows = read(read_wet, p, kind="wet")
        assert [r["id"] for r in rows if r["reason"] is None] == [
            stable_id("web", f"<urn:uuid:copy-{k}>") for k in (0, 1, 3, 4)], packing
        assert [r["reason"] for r in rows if r["reason"]] == ["read:bad_content_length"], packing
        assert all(r["text"] == rows[0]["text"] for r in rows if r["reason"] is None)


def test_a_record_whose_conversion_raises_costs_that_record_only(cc, monkeypatch):
    """A stand-in for an extractor bug on one odd page (as test_robustness's Boom filter): that page is
    quarantined with the exception's name, the pages before and after it are read."""
    import engine.extract

    recs, docs = cc
    victim = next(r for r in docs.values() if r["url"] == "http://01spb.ru/company/")
    real = engine.extract.extract_detailed

    def flaky(html, *a, **kw):
        if "пожарной безопасности" in html:
            raise RuntimeError("extractor bug on this page")
        return real(html, *a, **kw)

    monkeypatch.setattr(engine.extract, "extract_detailed", flaky)
    rows = read(read_warc, shared_data("warc", "resiliparse", "warcfile.warc.gz"))
    assert {r["id"] for r in rows if r["reason"] is None} == set(docs) - {victim["id"]}
    [bad] = [r for r in rows if r["reason"]]
    assert bad["reason"] == "read:error:RuntimeError" and "extractor bug" in json.loads(bad["meta"])["error"]
    assert json.loads(bad["meta"])["record_id"] == json.loads(victim["meta"])["record_id"]
