"""WARC / ARC / WET readers on real Common Crawl files and on every defective file under shared/data/warc."""
from __future__ import annotations

import collections
import gzip
import io
import json
import os
import threading
import time
import zlib

import pytest

from engine.readers import BATCH_ROWS, read_file
from engine.readers.warc import read_warc, read_wet
from engine.readers.warc.http import dechunk, decode_content
from engine.readers.warc.web import clean_url, iso_date
from engine.schema import READ_SCHEMA, stable_id
from engine.spec import WarcSource, WetSource, parse_spec
from tests.conftest import shared_data


def warc_source(root, **kw) -> WarcSource:
    return WarcSource(name="web", kind="warc", paths=[f"{root}/*"], **kw)


def rows_of(batches) -> list[dict]:
    out = []
    for b in batches:
        assert b.schema.equals(READ_SCHEMA)
        assert b.num_rows <= BATCH_ROWS
        out.extend(b.to_pylist())
    return out


def read_all(fn, path, source) -> list[dict]:
    """Call the reader itself (not read_file, which would turn an escaping exception into a row)."""
    return rows_of(fn(str(path), source))


# ---------------------------------------------------------------- a real Common Crawl WARC


def test_warc_every_html_response_is_a_document():
    from warcio.archiveiterator import ArchiveIterator

    path = shared_data("warc", "resiliparse", "warcfile.warc.gz")
    expected = {}
    with open(path, "rb") as f:   # independent count: warcio, HTTP 2xx responses with an HTML type
        for rec in ArchiveIterator(f):
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            ctype = (rec.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
            if ctype in ("text/html", "application/xhtml+xml") and rec.http_headers.get_statuscode().startswith("2"):
                expected[rec.rec_headers.get_header("WARC-Record-ID")] = rec.rec_headers.get_header("WARC-Target-URI")
    assert len(expected) == 16

    src = warc_source(path.parent)
    rows = read_all(read_warc, path, src)
    assert len(rows) == len(expected)
    by_id = {r["id"]: r for r in rows}
    for rid, url in expected.items():
        row = by_id[stable_id("web", rid)]
        assert row["reason"] is None
        assert row["url"] == url and row["kind"] == "web" and row["source"] == "web"
        assert row["text"] and len(row["text"]) > 50
        meta = json.loads(row["meta"])
        assert meta["record_id"] == rid
        assert meta["warc_file"] == "warcfile.warc.gz"
        assert meta["crawl_date"].startswith("2020-08-08T") and meta["warc_date"]
        assert meta["extractor"] == "native" and meta["charset"] and "html" in meta["content_type"]
    # charsets: the windows-1251 page decodes to Cyrillic, not mojibake
    ru = next(r for r in rows if r["url"] == "http://01spb.ru/company/")
    assert json.loads(ru["meta"])["charset"] == "cp1251" and "пожарной безопасности" in ru["text"]
    # same ids on a second read, through read_file too
    assert [r["id"] for r in rows_of(read_file(str(path), src))] == [r["id"] for r in rows]


def test_warc_resiliparse_extractor_and_spec():
    path = shared_data("warc", "resiliparse", "warcfile.warc.gz")
    spec = parse_spec(f"""
name: t
output: {{path: out}}
sources:
  - {{name: cc, kind: warc, paths: ["{path}"], extractor: resiliparse, extract_timeout: 5}}
""", check_paths=False)
    rows = rows_of(read_file(str(path), spec.sources[0]))
    assert len(rows) == 16 and all(r["reason"] is None for r in rows)
    assert {json.loads(r["meta"])["extractor"] for r in rows} == {"resiliparse"}


def test_wet_conversion_record():
    from warcio.archiveiterator import ArchiveIterator

    path = shared_data("warc", "whirlwind_cc", "whirlwind.warc.wet.gz")
    with open(path, "rb") as f:
        conv = [(r.rec_headers, r.content_stream().read().decode()) for r in ArchiveIterator(f)
                if r.rec_type == "conversion"]
    assert len(conv) == 1
    headers, text = conv[0]
    rows = read_all(read_wet, path, WetSource(name="wet", kind="wet", paths=[str(path)]))
    assert len(rows) == 1
    row = rows[0]
    assert row["reason"] is None and row["kind"] == "web"
    assert row["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert row["text"] == text.strip()
    assert row["id"] == stable_id("wet", headers.get_header("WARC-Record-ID"))
    meta = json.loads(row["meta"])
    assert meta["refers_to"] == headers.get_header("WARC-Refers-To")
    assert meta["crawl_date"] == "2024-05-18T01:58:10Z" and meta["cc_lang"] == "spa"


# ---------------------------------------------------------------- every real defective file

# file (relative to shared/data/warc) -> (documents, {reason: count}) for kind warc, and the rows of kind wet.
# Everything not listed as a document is a non-HTML / non-response record and is not emitted.
EXPECTED_WARC = {
    "dolma/sample-0000.warc.gz": (22, {}),                 # <...> around WARC-Target-URI (wget)
    "dolma/sample-0001.warc.gz": (15, {}),
    "jwarc/cc.warc.gz": (1, {}),                           # chunked + gzip payload, WARC-Identified-Payload-Type
    "jwarc/gzip_extra_sl.warc.gz": (0, {}),                # gzip EXTRA field; a warcinfo record only
    "resiliparse/block-sized-records.warc.gz": (0, {}),    # records of WARC-Type "unknown"
    "resiliparse/clipped.warc.gz": (0, {"read:truncated": 1}),   # gzip stream cut inside the response
    "resiliparse/clueweb-quirk.warc.gz": (29, {}),         # WARC/0.18, EUC-JP, date "2008-10-294T..."
    "resiliparse/warcfile.warc.gz": (16, {}),
    "warcio/bad.arc": (0, {"read:malformed_header": 3}),   # ARC headers with length -1 / "abc"
    "warcio/example-bad-non-chunked.warc.gz": (1, {}),     # one gzip stream for the whole file
    "warcio/example-bad.warc.gz.bad": (1, {}),             # same, and an extension that says nothing
    "warcio/example-digest.warc": (0, {}),                 # request records only
    "warcio/example-iana.org-chunked.warc": (1, {}),       # chunked transfer encoding kept in the payload
    "warcio/example-resource.warc.gz": (0, {}),            # resource record
    "warcio/example-space-in-target-uri.warc.gz": (0, {}), # resource record, space in the URI
    "warcio/example-space-in-url.arc": (1, {}),            # ARC, spaces in the URL, length 12 bytes too long
    "warcio/example-trunc.warc": (0, {"read:truncated": 1, "read:malformed_header": 1}),
    "warcio/example-wget-bad-target-uri.warc.gz": (1, {}),
    "warcio/example-wrong-chunks.warc.gz": (1, {}),        # gzip members that split records mid-way
    "warcio/example.arc": (1, {}),
    "warcio/example.arc.gz": (1, {}),
    "warcio/example.warc": (1, {}),
    "warcio/example.warc.gz": (1, {}),
    "warcio/post-test.warc.gz": (0, {}),                   # JSON responses: not HTML
    "whirlwind_cc/whirlwind.warc.gz": (1, {}),
    "whirlwind_cc/whirlwind.warc.wat.gz": (0, {}),
    "whirlwind_cc/whirlwind.warc.wet.gz": (0, {}),
}
EXPECTED_WET = {
    "whirlwind_cc/whirlwind.warc.wet.gz": (1, {}),
    "resiliparse/clipped.warc.gz": (0, {"read:truncated": 1}),
    "warcio/bad.arc": (0, {"read:malformed_header": 3}),
    "warcio/example-space-in-url.arc": (0, {"read:truncated": 1}),   # not inspected in WET mode: just short
    "warcio/example-trunc.warc": (0, {"read:malformed_header": 1}),
}


def _all_warc_files():
    root = shared_data("warc")
    return root, sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
                        if not f.endswith(".md"))


def test_every_shared_warc_file_is_classified():
    _, files = _all_warc_files()
    assert sorted(files) == sorted(EXPECTED_WARC), "a new file under shared/data/warc: add it to EXPECTED_WARC"


@pytest.mark.parametrize("rel", sorted(EXPECTED_WARC))
def test_defective_warc_files(rel):
    root = shared_data("warc")
    src = warc_source(root)
    rows = read_all(read_warc, root / rel, src)            # must not raise
    docs = [r for r in rows if r["reason"] is None]
    reasons = collections.Counter(r["reason"] for r in rows if r["reason"])
    n_docs, expected = EXPECTED_WARC[rel]
    assert (len(docs), dict(reasons)) == (n_docs, expected)
    assert all(r["reason"].startswith("read:") for r in rows if r["reason"])
    assert len({r["id"] for r in rows}) == len(rows)
    for d in docs:
        assert d["text"] and d["url"] and " " not in d["url"] and not d["url"].startswith("<")
    wet_rows = read_all(read_wet, root / rel, WetSource(name="wet", kind="wet", paths=[f"{root}/*"]))
    n_wet, wet_expected = EXPECTED_WET.get(rel, (0, {}))
    assert (sum(r["reason"] is None for r in wet_rows),
            dict(collections.Counter(r["reason"] for r in wet_rows if r["reason"]))) == (n_wet, wet_expected)


def test_defect_details():
    root = shared_data("warc")
    src = warc_source(root)
    # <...> around the URI is stripped; spaces become %20
    dolma = read_all(read_warc, root / "dolma/sample-0000.warc.gz", src)
    assert dolma[0]["url"] == "https://www.semanticscholar.org/research/research-team"
    arc = read_all(read_warc, root / "warcio/example-space-in-url.arc", src)[0]
    assert arc["url"] == ("http://example.com/index.cfm?FuseAction=Email&EmailTitle=Examples%20From%20The%20Live%20Web"
                          "&IsPopUp=False")
    assert "illustrative examples" in arc["text"] and json.loads(arc["meta"])["crawl_date"] == "2014-02-16T05:02:21Z"
    # ClueWeb09: EUC-JP from the HTTP header, a date that is not one is kept raw
    cw = read_all(read_warc, root / "resiliparse/clueweb-quirk.warc.gz", src)
    meta = json.loads(cw[0]["meta"])
    assert meta["charset"] == "euc_jp" and meta["crawl_date"] is None and meta["warc_date"].startswith("2008-10-294")
    assert any("\u3000" <= ch <= "\u9fff" for ch in cw[0]["text"])
    # clipped: the truncated response keeps an excerpt of what was read
    clipped = read_all(read_warc, root / "resiliparse/clipped.warc.gz", src)[0]
    assert clipped["url"].startswith("http://www.houstonpress.com/") and 0 < len(clipped["text"]) <= 2000
    # chunked transfer encoding is undone
    iana = read_all(read_warc, root / "warcio/example-iana.org-chunked.warc", src)[0]
    assert "Management of the DNS Root Zone" in iana["text"] and "001c37" not in iana["text"]


# ---------------------------------------------------------------- synthetic defects


def _record(rtype: str, uri: str, block: bytes, rid: str, extra: str = "") -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\n"
            f"WARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-02T03:04:05Z\r\n{extra}"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


def _response(body: bytes, ctype="text/html; charset=utf-8", headers="") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n{headers}Content-Length: {len(body)}\r\n\r\n").encode() + body


PAGE = ("<html><head><title>T</title><script>var x=1;</script></head><body><nav>Home | About</nav>"
        "<article><h1>A page about rivers</h1>{}</article><footer>Impressum</footer></body></html>")


def _page(i: int) -> bytes:
    paras = "".join(f"<p>River number {i} flows through the valley, paragraph {k}, carrying water and sediment "
                    f"towards the sea for many kilometres.</p>" for k in range(4))
    return PAGE.format(paras).encode()


def _gz_members(records: list[bytes]) -> bytes:
    return b"".join(gzip.compress(r) for r in records)


def test_synthetic_defects(tmp_path):
    recs = [_record("response", f"http://example.org/{i}", _response(_page(i)), f"0000-{i:04d}") for i in range(6)]
    good = _gz_members(recs)
    src = warc_source(tmp_path)

    def read(name, data, **kw):
        p = tmp_path / name
        p.write_bytes(data)
        rows = read_all(read_warc, p, warc_source(tmp_path, **kw) if kw else src)
        return rows, collections.Counter(r["reason"] for r in rows)

    rows, c = read("good.warc.gz", good)
    assert c == {None: 6} and all("River number" in r["text"] and "Impressum" not in r["text"] for r in rows)

    assert read("empty.warc.gz", b"")[1] == {"read:empty_file": 1}
    assert read("text.warc.gz", b"just some text\nnot a warc\n")[1] == {"read:not_warc": 1}
    assert read("image.warc", b"\x89PNG\r\n\x1a\n" + os.urandom(2000))[1] == {"read:not_warc": 1}
    assert read("frame.warc.zst", b"\x28\xb5\x2f\xfd" + b"\x00" * 32)[1] == {"read:unsupported_compression": 1}
    # uncompressed content under a .gz name, and one gzip stream for all records
    assert read("plain.warc.gz", b"".join(recs))[1] == {None: 6}
    assert read("onestream.warc.gz", gzip.compress(b"".join(recs)))[1] == {None: 6}

    # a corrupt gzip member in the middle: that record is lost, the reader resyncs on the next member
    members = [gzip.compress(r) for r in recs]
    bad = bytearray(members[2])
    bad[20:60] = bytes(40)
    rows, c = read("corrupt.warc.gz", b"".join(members[:2]) + bytes(bad) + b"".join(members[3:]))
    assert c == {None: 5, "read:bad_gzip": 1}
    assert {r["url"] for r in rows if r["reason"] is None} == {f"http://example.org/{i}" for i in (0, 1, 3, 4, 5)}
    # garbage between members
    rows, c = read("garbage.warc.gz", b"".join(members[:3]) + b"JUNKJUNKJUNK" + b"".join(members[3:]))
    assert c == {None: 6, "read:bad_gzip": 1}
    # NUL padding at the end is harmless
    assert read("padded.warc.gz", good + bytes(512))[1] == {None: 6}
    # the file cut inside the 4th record: 3 documents, then one truncated record
    cut = b"".join(members[:3]) + members[3][: len(members[3]) // 2]
    rows, c = read("cut.warc.gz", cut)
    assert c == {None: 3, "read:truncated": 1}
    # uncompressed file cut inside a block, and inside a header
    plain = b"".join(recs)
    assert read("cut.warc", plain[: len(plain) - 300])[1] == {None: 5, "read:truncated": 1}
    assert read("cuthead.warc", b"".join(recs[:2]) + recs[2][:60])[1] == {None: 2, "read:truncated": 1}
    # a bad Content-Length, and garbage where a record should start: skipped up to the next record
    broken = recs[2].replace(b"Content-Length: ", b"Content-Length: x", 1)
    rows, c = read("badlen.warc", b"".join(recs[:2]) + broken + b"".join(recs[3:]))
    assert c == {None: 5, "read:malformed_header": 1}
    rows, c = read("junk.warc", recs[0] + b"this is not a header\r\nnor this\r\n" + recs[1])
    assert c == {None: 2, "read:malformed_header": 1}


def test_http_payload_variants(tmp_path):
    body = _page(7)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100)) + b"0\r\n\r\n"
    gz = gzip.compress(body)
    cases = {
        "chunked": _response(chunked, headers="Transfer-Encoding: chunked\r\n"),
        "chunked_stored_decoded": _response(body, headers="Transfer-Encoding: chunked\r\n"),
        "gzip": _response(gz, headers="Content-Encoding: gzip\r\n"),
        "gzip_stored_decoded": _response(body, headers="Content-Encoding: gzip\r\n"),
        "sniffed": _response(b"<!DOCTYPE html>" + body, ctype="application/octet-stream"),
        "latin1_declared_wrong": _response(body.replace(b"rivers", "Flüsse".encode()), ctype="text/html; charset=iso-8859-1"),
        "cp1252_undeclared": _response(body.replace(b"rivers", "Flüsse".encode("cp1252"))),
        "bad_chunking": _response(chunked[:400] + b"zz\r\n" + chunked[400:], headers="Transfer-Encoding: chunked\r\n"),
        "not_html": _response(b'{"a": 1}', ctype="application/json"),
        "error_status": _response(body).replace(b"200 OK", b"404 Not Found", 1),
        "no_text": _response(b"<html><body><nav>x</nav></body></html>"),
    }
    recs = [_record("response", f"http://example.org/{name}", block, f"1111-{i:04d}") for i, (name, block) in enumerate(cases.items())]
    recs.append(_record("request", "http://example.org/req", b"GET / HTTP/1.1\r\n\r\n", "2222-0000"))
    p = tmp_path / "variants.warc.gz"
    p.write_bytes(_gz_members(recs))
    rows = {r["url"].rsplit("/", 1)[1]: r for r in read_all(read_warc, p, warc_source(tmp_path))}
    assert set(rows) == set(cases) - {"not_html", "error_status"}
    for name in ("chunked", "chunked_stored_decoded", "gzip", "gzip_stored_decoded", "sniffed"):
        assert rows[name]["reason"] is None and "River number 7" in rows[name]["text"], name
    assert "Flüsse" in rows["latin1_declared_wrong"]["text"]
    assert json.loads(rows["latin1_declared_wrong"]["meta"])["charset_source"] == "utf8-valid"
    assert "Flüsse" in rows["cp1252_undeclared"]["text"]
    assert rows["bad_chunking"]["reason"] == "read:bad_chunking"
    assert rows["no_text"]["reason"] == "read:no_text"

    # max_html_bytes: the record is skipped, not read into memory, and counted
    big = _response(b"<html><body><p>" + b"word " * 50_000 + b"</p></body></html>")
    p2 = tmp_path / "big.warc"
    p2.write_bytes(_record("response", "http://example.org/big", big, "3333-0000") + recs[0])
    rows2 = read_all(read_warc, p2, warc_source(tmp_path, max_html_bytes=100_000))
    assert [r["reason"] for r in rows2] == ["read:html_too_large", None]


def test_wet_defects(tmp_path):
    def conv(i, text: bytes):
        head = (f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://e.org/{i}\r\n"
                f"WARC-Record-ID: <urn:uuid:c-{i}>\r\nWARC-Refers-To: <urn:uuid:r-{i}>\r\n"
                f"WARC-Date: 2024-05-18T01:58:10Z\r\nContent-Type: text/plain\r\nContent-Length: {len(text)}\r\n\r\n")
        return head.encode() + text + b"\r\n\r\n"
    data = _gz_members([conv(0, "Grüße aus Köln".encode()), conv(1, b"caf\xe9 au lait"), conv(2, b"   "),
                        conv(3, b"last one")])
    p = tmp_path / "x.warc.wet.gz"
    p.write_bytes(data[: len(data) - 20])
    rows = read_all(read_wet, p, WetSource(name="wet", kind="wet", paths=[str(p)]))
    assert [r["reason"] for r in rows] == [None, "read:invalid_utf8", "read:no_text", "read:truncated"]
    assert rows[0]["text"] == "Grüße aus Köln" and rows[0]["id"] == stable_id("wet", "<urn:uuid:c-0>")
    assert json.loads(rows[0]["meta"])["refers_to"] == "<urn:uuid:r-0>"


def test_many_records_stream_in_batches(tmp_path):
    recs = [_record("response", f"http://example.org/{i}", _response(_page(i)), f"4444-{i:05d}") for i in range(2300)]
    p = tmp_path / "many.warc.gz"
    p.write_bytes(_gz_members(recs))
    batches = list(read_warc(str(p), warc_source(tmp_path, extractor="resiliparse")))
    assert [b.num_rows for b in batches] == [1000, 1000, 300]
    assert sum(r is None for b in batches for r in b.column("reason").to_pylist()) == 2300


# ---------------------------------------------------------------- helpers and the time budget


def test_helpers():
    assert clean_url(" <http://a.b/c d> ") == "http://a.b/c%20d"
    assert clean_url("http://x.y/\tz\n") == "http://x.y/z"
    assert iso_date("2020-08-08T17:27:41Z") == "2020-08-08T17:27:41Z"
    assert iso_date("2017-03-06T04:03:53.123456Z") == "2017-03-06T04:03:53Z"
    assert iso_date("2019-12-10T12:00:00+02:00") == "2019-12-10T10:00:00Z"
    assert iso_date("20140216050221") == "2014-02-16T05:02:21Z"
    assert iso_date("2008-10-294T05:21:46-0700") is None and iso_date("null") is None
    assert dechunk(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n") == (b"Wikipedia", True)
    assert dechunk(b"<html>already decoded") == (b"<html>already decoded", True)
    assert dechunk(b"4\r\nWiki\r\nzz\r\npedia") == (b"Wiki", False)
    assert decode_content(gzip.compress(b"<p>x</p>"), "gzip", 100) == (b"<p>x</p>", None)
    assert decode_content(b"<p>x</p>", "gzip", 100) == (b"<p>x</p>", None)
    assert decode_content(zlib.compress(b"<p>y</p>"), "deflate", 100) == (b"<p>y</p>", None)
    assert decode_content(gzip.compress(b"<p>x</p>" * 100)[:30], "gzip", 10_000)[1] == "truncated"


def test_extraction_time_budget():
    import engine.extract as extract_mod
    from engine.extract import extract_detailed

    html = "<html><body>" + "".join(f"<div class='c{i}'><p>paragraph {i} with some words in it.</p></div>"
                                    for i in range(20000)) + "</body></html>"
    r = extract_detailed(html, "trafilatura", timeout=0.01)
    assert (r.extractor, r.note) == ("resiliparse", "timeout->resiliparse") and "paragraph 5 with" in r.text
    import signal
    # our timer is gone; an outer one (pytest-timeout's, when it runs) is back with its handler
    timer = extract_mod.EXTRACTOR.timer
    assert signal.getsignal(signal.SIGALRM) != timer.on_alarm and not timer.armed
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0 or signal.getitimer(signal.ITIMER_REAL)[0] > 10
    out = {}
    t = threading.Thread(target=lambda: out.update(r=extract_detailed(html, "trafilatura", timeout=0.01)))
    t.start()
    t.join()
    assert (out["r"].extractor, out["r"].note) == ("resiliparse", "large->resiliparse")   # no signal in a thread
    small = extract_detailed("<html><body><article><p>" + "Short page text here. " * 20 + "</p></article></body></html>",
                             "trafilatura", timeout=5)
    assert small.extractor == "trafilatura" and small.note is None and "Short page text" in small.text


def test_extractor_set_up_runs_outside_the_page_timer(monkeypatch):
    """An alarm inside an import leaves a half-initialised module for the rest of the worker's life (it once
    turned a slow worker's first page into `error:ImportError`): set-up and lazy imports run untimed."""
    import engine.extract as extract_mod
    extractor = extract_mod.Extractor()
    armed_during_set_up = []
    real_extract = extract_mod._Trafilatura.extract
    monkeypatch.setattr(extract_mod._Trafilatura, "extract",
                        lambda self, html: armed_during_set_up.append(extractor.timer.armed) or real_extract(self, html))
    r = extractor.extract_detailed("<html><body><p>" + "Some words here. " * 30 + "</p></body></html>", "trafilatura", 5)
    assert r.note is None and armed_during_set_up == [False, True]   # warm-up page untimed, the page timed


def test_interrupt_turned_into_another_error_is_still_a_timeout():
    """A library that catches the page's interrupt and raises something else must not make a timeout look
    like a parser error."""
    import engine.extract as extract_mod

    def swallows_the_interrupt(html):
        try:
            while True:
                time.sleep(0.001)
        except extract_mod.ExtractTimeout:
            raise ImportError("cannot import name 'x' from partially initialized module") from None

    extractor = extract_mod.Extractor()
    with pytest.raises(extract_mod.ExtractTimeout):
        extractor.timer.call(swallows_the_interrupt, "<html/>", 0.01)
    assert not extractor.timer.armed
    with pytest.raises(ImportError):   # the same error without an alarm is the extractor's own
        extractor.timer.call(lambda html: __import__("no_such_module_here"), "<html/>", 5)


def test_time_budget_without_outer_timer():
    """In a plain process (as a Spark Python worker: no pytest-timeout), the alarm is ours alone."""
    import subprocess
    import sys
    code = ("import json, signal; from engine.extract import extract_detailed as x\n"
            "h = '<html><body>' + ''.join(f'<div class=c{i}><p>paragraph {i} of the page.</p></div>' for i in range(20000)) + '</body></html>'\n"
            "r = x(h, 'trafilatura', 0.01); s = x('<html><body><p>' + 'Some words. ' * 30 + '</p></body></html>', 'trafilatura', 5)\n"
            "print(json.dumps([r.note, s.note, signal.getitimer(signal.ITIMER_REAL)[0], signal.getsignal(signal.SIGALRM) == signal.SIG_DFL]))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["timeout->resiliparse", None, 0.0, True], out.stderr[-2000:]
