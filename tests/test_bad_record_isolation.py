"""Every reader, with a bad record in the middle of good ones: the good records before and after it are all
read, and the bad one is quarantined alone, with its reason (WARC/WET: tests/test_warc_resync.py). Control
characters (NUL from an escaped `\\u0000`, ...) are stripped from text at the schema boundary, and counted."""
from __future__ import annotations

import collections
import gzip
import io
import json
import shutil
import tarfile
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.readers import read_file
from engine.schema import read_batch, stable_id
from engine.spec import CodeSource, JsonlSource, ParquetSource, StackExchangeSource, SyntheticSource
from tests.conftest import shared_data

DEEP = "[" * 200_000 + "]" * 200_000          # json raises RecursionError on it


def read(path, source) -> list[dict]:
    """Through read_file, the entry point Spark tasks call: an exception escaping a reader would be one row."""
    return [r for b in read_file(str(path), source) for r in b.to_pylist()]


def good_lines(lo, hi, **extra) -> list[str]:
    return [json.dumps({"id": f"g{i}", "text": f"good document number {i}", **extra}) for i in range(lo, hi)]


def check_goods(rows, lo, hi):
    good = [r for r in rows if r["reason"] is None]
    assert [r["text"] for r in good] == [f"good document number {i}" for i in range(lo, hi)]


# ---------------------------------------------------------------- jsonl, parquet, synthetic


def test_jsonl_deeply_nested_line_costs_that_line_only(tmp_path):
    f = tmp_path / "deep.jsonl"
    f.write_text("\n".join(good_lines(0, 30) + [DEEP] + good_lines(30, 60)) + "\n")
    rows = read(f, JsonlSource(name="s", kind="jsonl", paths=[str(f)]))
    assert len(rows) == 61
    check_goods(rows, 0, 60)
    [bad] = [r for r in rows if r["reason"]]
    assert bad["reason"] == "read:too_deep" and json.loads(bad["meta"])["row"] == 30
    assert "RecursionError" in json.loads(bad["meta"])["error"] and len(bad["text"]) <= 2000


def test_jsonl_every_kind_of_bad_line_in_the_middle(tmp_path):
    bad = {
        "read:too_deep": DEEP,
        "read:invalid_unicode": '{"id": "s", "text": "a lone surrogate \\ud800 here"}',   # Arrow cannot store it
        "read:bad_json": '{"id": "b", "text": broken',
        "read:text_not_string": '{"id": "n", "text": {"nested": [1, 2]}}',
        "read:no_text": '{"id": "m", "body": "no text field"}',
    }
    f = tmp_path / "mixed.jsonl.gz"
    lines = good_lines(0, 3)
    for k, line in enumerate(bad.values()):
        lines += [line] + good_lines(3 + 3 * k, 6 + 3 * k)
    f.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    rows = read(f, JsonlSource(name="s", kind="jsonl", paths=[str(f)]))
    check_goods(rows, 0, 3 + 3 * len(bad))
    assert [r["reason"] for r in rows if r["reason"]] == list(bad)
    sur = next(r for r in rows if r["reason"] == "read:invalid_unicode")
    assert sur["id"] == stable_id("s", "s") and "surrogates not allowed" in json.loads(sur["meta"])["error"]


def _parquet_with_bad_rows(path, n_good=20):
    """n_good good rows; after the 5th a row whose text is invalid UTF-8, after the 10th one whose text is null."""
    texts = [f"good document number {i}".encode() for i in range(n_good)]
    texts[5:5] = [b"bad \xff\xfe utf-8"]
    texts[11:11] = [None]
    ids = [f"r{i}" for i in range(len(texts))]
    col = pa.array(texts, pa.binary()).view(pa.string())     # a writer that did not validate UTF-8
    pq.write_table(pa.table({"id": ids, "text": col, "generator": ["m-1"] * len(ids)}), path)


def test_parquet_row_with_invalid_utf8_or_null_text(tmp_path):
    f = tmp_path / "rows.parquet"
    _parquet_with_bad_rows(f)
    rows = read(f, ParquetSource(name="p", kind="parquet", paths=[str(f)]))
    check_goods(rows, 0, 20)
    assert [(r["reason"], json.loads(r["meta"])["row"]) for r in rows if r["reason"]] == [
        ("read:invalid_utf8", 5), ("read:no_text", 11)]


def test_synthetic_jsonl_and_parquet(tmp_path):
    src = SyntheticSource(name="syn", kind="synthetic", paths=[f"{tmp_path}/*"])
    f = tmp_path / "gen.jsonl"
    f.write_text("\n".join(good_lines(0, 4, generator="m-1") + [DEEP] + good_lines(4, 8, generator="m-1")) + "\n")
    rows = read(f, src)
    check_goods(rows, 0, 8)
    assert [r["reason"] for r in rows if r["reason"]] == ["read:too_deep"]
    assert {json.loads(r["meta"])["generator"] for r in rows if r["reason"] is None} == {"m-1"}
    p = tmp_path / "gen.parquet"
    _parquet_with_bad_rows(p)
    rows = read(p, src)
    check_goods(rows, 0, 20)
    assert [r["reason"] for r in rows if r["reason"]] == ["read:invalid_utf8", "read:no_text"]
    assert all(r["kind"] == "synthetic" for r in rows)


# ---------------------------------------------------------------- code: dumps, folders, archives


@pytest.fixture(scope="module")
def stack():
    path = shared_data("code", "stack_style_code_sample.parquet")
    src = CodeSource(name="code", kind="code", paths=[f"{path.parent}/*"])
    return pq.read_table(path), read(path, src)


def test_code_parquet_dump_row_that_is_not_utf8(stack, tmp_path):
    table, expected = stack
    content = pa.array([c.encode() for c in table.column("content").to_pylist()], pa.binary()).to_pylist()
    content[100] = b"caf\xe9 " + content[100]
    t = table.set_column(table.schema.get_field_index("content"), "content",
                         pa.array(content, pa.binary()).view(pa.string()))
    pq.write_table(t, tmp_path / "dump.parquet")
    rows = read(tmp_path / "dump.parquet", CodeSource(name="code", kind="code", paths=[f"{tmp_path}/*"]))
    assert len(rows) == len(expected)
    same = lambda r: {**r, "meta": {**json.loads(r["meta"]), "file": None}}   # noqa: E731  (another file name)
    assert [same(r) for r in rows[:100] + rows[101:]] == [same(r) for r in expected[:100] + expected[101:]]
    assert rows[100]["reason"] == "read:invalid_utf8" and json.loads(rows[100]["meta"])["row"] == 100


def test_code_jsonl_dump_deep_line(stack, tmp_path):
    table, expected = stack
    lines = [json.dumps(r) for r in table.slice(0, 60).to_pylist()]
    (tmp_path / "dump.jsonl").write_text("\n".join(lines[:30] + [DEEP] + lines[30:]) + "\n")
    rows = read(tmp_path / "dump.jsonl", CodeSource(name="code", kind="code", paths=[f"{tmp_path}/*"]))
    assert [r["id"] for r in rows[:30] + rows[31:]] == [r["id"] for r in expected[:60]]
    assert [r["reason"] for r in rows[:30] + rows[31:]] == [r["reason"] for r in expected[:60]]
    assert rows[30]["reason"] == "read:too_deep"


CODE = {f"src/m{i}.py": f"def f{i}():\n    return {i}\n".encode() * 20 for i in range(6)}
CODE["src/m3.py"] = "# caf\xe9\nx = 1\n".encode("latin-1")     # fails UTF-8 decoding: code:binary


def _tar(path, mode):
    with tarfile.open(path, mode, format=tarfile.USTAR_FORMAT) as tf:
        for rel, data in CODE.items():
            info = tarfile.TarInfo(f"repo-main/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("form", ["folder", "zip", "tar.gz", "tar"])
def test_code_file_that_fails_decoding(tmp_path, form):
    (tmp_path / "in").mkdir()
    if form == "folder":
        path = tmp_path / "in" / "repo-main"
        for rel, data in CODE.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_bytes(data)
    elif form == "zip":
        path = tmp_path / "in" / "repo.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel, data in CODE.items():
                zf.writestr(f"repo-main/{rel}", data)
    else:
        path = tmp_path / "in" / f"repo.{form}"
        _tar(path, "w:gz" if form == "tar.gz" else "w")
    rows = read(path, CodeSource(name="code", kind="code", paths=[f"{tmp_path}/in/*"]))
    by_path = {json.loads(r["meta"])["path"]: r for r in rows}
    assert set(by_path) == set(CODE)
    for rel, data in CODE.items():
        want = "code:binary" if rel == "src/m3.py" else None
        assert by_path[rel]["reason"] == want and (want or by_path[rel]["text"] == data.decode()), rel


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_code_tar_member_with_a_damaged_header(tmp_path, mode):
    """tarfile stops at a bad header checksum without a word: the reader goes on and counts the damage."""
    buf = tmp_path / "x.tar"
    _tar(buf, "w")
    raw = bytearray(buf.read_bytes())
    at = raw.find(b"repo-main/src/m2.py")
    raw[at + 148:at + 156] = b"0000000\x00"                 # the header's checksum field
    path = tmp_path / ("repo.tar.gz" if mode == "w:gz" else "repo.tar")
    path.write_bytes(gzip.compress(bytes(raw)) if mode == "w:gz" else bytes(raw))
    rows = read(path, CodeSource(name="code", kind="code", paths=[f"{tmp_path}/*"]))
    got = {json.loads(r["meta"]).get("path"): r["reason"] for r in rows}
    assert got == {None: "read:bad_archive", "src/m0.py": None, "src/m1.py": None, "src/m3.py": "code:binary",
                   "src/m4.py": None, "src/m5.py": None}
    assert json.loads(rows[0]["meta"])["offset"] == at


def test_code_zip_entry_with_corrupt_data(tmp_path):
    path = tmp_path / "repo.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for rel, data in CODE.items():
            zf.writestr(f"repo-main/{rel}", data)
    raw = bytearray(path.read_bytes())
    at = raw.find(CODE["src/m2.py"][:20])
    raw[at:at + 20] = b"X" * 20                              # the stored bytes no longer match their CRC
    path.write_bytes(bytes(raw))
    rows = read(path, CodeSource(name="code", kind="code", paths=[f"{tmp_path}/*"]))
    got = {json.loads(r["meta"])["path"]: r["reason"] for r in rows}
    assert got == {"src/m0.py": None, "src/m1.py": None, "src/m2.py": "read:bad_archive", "src/m3.py": "code:binary",
                   "src/m4.py": None, "src/m5.py": None}


# ---------------------------------------------------------------- stackexchange


def test_stackexchange_broken_row_and_bad_id_in_a_real_dump(tmp_path):
    site = shared_data("stackexchange", "conlang.meta.stackexchange.com")
    copy = tmp_path / site.name
    copy.mkdir()
    for name in ("Posts.xml", "Comments.xml", "PostLinks.xml"):
        shutil.copy(site / name, copy / name)
    src = StackExchangeSource(name="se", kind="stackexchange", paths=[f"{tmp_path}/*"], include_comments=True)
    expected = read(site, src)
    lines = (copy / "Posts.xml").read_text(encoding="utf-8").split("\n")
    mid = len(lines) // 2
    lines[mid:mid] = [
        '  <row Id="900001" PostTypeId="1" Title="unescaped < in an attribute" Body="x" />',   # broken XML
        '  <row Id="99999999999999999999999" PostTypeId="1" Title="an Id past 64 bits" Body="&lt;p&gt;x&lt;/p&gt;" />',
    ]
    (copy / "Posts.xml").write_text("\n".join(lines), encoding="utf-8")
    rows = read(copy, src)
    docs = [r for r in rows if r["reason"] is None]
    assert len(expected) > 40 and all(r["reason"] is None for r in expected)
    assert [(r["id"], r["text"]) for r in docs] == [(r["id"], r["text"]) for r in expected]
    bad = {r["reason"]: json.loads(r["meta"]) for r in rows if r["reason"]}
    assert set(bad) == {"read:xml_error", "read:bad_post_id"} and len(rows) == len(docs) + 2
    assert bad["read:xml_error"]["line"] == mid + 1 and "Unescaped '<'" in bad["read:xml_error"]["error"]
    assert bad["read:bad_post_id"]["line"] == mid + 2


def test_stackexchange_post_whose_conversion_raises(tmp_path, monkeypatch):
    """A stand-in for an HTML-conversion bug on one odd body: that post is quarantined, the others are read."""
    from engine.readers import stackexchange

    site = shared_data("stackexchange", "beer.stackexchange.com")
    src = StackExchangeSource(name="se", kind="stackexchange", paths=[f"{site.parent}/*"])
    expected = {r["id"]: r for r in read(site, src)}
    real = stackexchange.html_to_text
    body = "What are citra hops? Why should I care"    # the body of question 1

    def flaky(html):
        if html and body in html:
            raise RecursionError("maximum recursion depth exceeded")
        return real(html)

    monkeypatch.setattr(stackexchange, "html_to_text", flaky)
    rows = read(site, src)
    assert {r["id"] for r in rows if r["reason"] is None} == set(expected) - {stable_id("se", f"{site.name}/1")}
    [bad] = [r for r in rows if r["reason"]]
    assert bad["reason"] == "read:too_deep" and json.loads(bad["meta"])["post_id"] == "1"


# ---------------------------------------------------------------- control characters, at the schema boundary


def test_control_characters_are_stripped_and_counted(tmp_path):
    f = tmp_path / "ctl.jsonl"
    f.write_text(json.dumps({"id": "a", "text": "nul\u0000 here\tand\r\nthere \u001b[31mred\u0007"}) + "\n"
                 + good_lines(0, 1)[0] + "\n")
    rows = read(f, JsonlSource(name="s", kind="jsonl", paths=[str(f)]))
    assert rows[0]["reason"] is None and rows[0]["text"] == "nul here\tand\r\nthere [31mred"
    assert json.loads(rows[0]["meta"])["stripped_controls"] == 3
    assert "stripped_controls" not in json.loads(rows[1]["meta"])
    # the same boundary for every reader: read_batch is what each of them yields through
    b = read_batch([{"id": "x", "source": "s", "text": "a\x00b\x0cc\x1fd", "meta": None}]).to_pylist()[0]
    assert b["text"] == "abcd" and json.loads(b["meta"]) == {"stripped_controls": 3}


# ---------------------------------------------------------------- end to end: tamis run


@pytest.mark.spark
def test_run_quarantines_the_deep_line_and_writes_the_rest(spark, tmp_path):
    import duckdb
    from click.testing import CliRunner

    from engine.cli import main

    words = "with enough words to be a real document about rivers and valleys"
    data = tmp_path / "data"
    data.mkdir()
    good = [json.dumps({"id": f"g{i}", "text": f"good document {i} {words}"}) for i in range(60)]
    (data / "deep.jsonl").write_text("\n".join(good[:30] + [DEEP] + good[30:]) + "\n")
    (data / "nul.jsonl").write_text(json.dumps({"id": "z", "text": f"a NUL\u0000 in the middle {words}"}) + "\n")
    spec = tmp_path / "mix.yaml"
    spec.write_text(f"name: deep\nseed: 1\noutput: {{path: out}}\nsources:\n"
                    f"  - {{name: web, kind: jsonl, paths: ['{data}/deep.jsonl']}}\n"
                    f"  - {{name: nul, kind: jsonl, paths: ['{data}/nul.jsonl']}}\n")
    r = CliRunner().invoke(main, ["run", str(spec)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    m = json.loads((out / "manifest.json").read_text())["sources"]
    assert m["web"]["docs_read"] == 61 and m["web"]["docs_unreadable"] == 1
    assert m["web"]["docs_dropped"] == {"read:too_deep": 1} and m["web"]["docs_written"] == 60
    rej = duckdb.sql(f"select reason, meta from '{out}/rejects/*.parquet'").fetchall()
    assert [x[0] for x in rej] == ["read:too_deep"] and json.loads(rej[0][1])["row"] == 30
    texts = dict(duckdb.sql(f"select source, list(text) from '{out}/*.parquet' group by 1").fetchall())
    assert sorted(texts["web"]) == sorted(json.loads(g)["text"] for g in good)
    assert texts["nul"] == [f"a NUL in the middle {words}"]
    [(meta,)] = duckdb.sql(f"select meta from '{out}/*.parquet' where source = 'nul'").fetchall()
    assert json.loads(meta)["stripped_controls"] == 1
    assert collections.Counter(x for t in texts.values() for x in t if "\x00" in x) == {}
