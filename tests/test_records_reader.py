"""JSONL (plain, gz, zst) and Parquet readers on real files; bad records are quarantined, never fatal."""
from __future__ import annotations

import gzip
import json
import re

import pyarrow as pa
import pyarrow.parquet as pq

from engine.readers import read_file
from engine.schema import READ_SCHEMA
from engine.spec import parse_spec
from tests.conftest import shared_data


def source(paths, **kw):
    extra = "".join(f", {k}: {v}" for k, v in kw.items())
    spec = parse_spec(f"name: t\noutput: {{path: /tmp/o}}\nsources:\n  - {{name: s, kind: {kw.pop('kind', 'jsonl') if False else 'jsonl'}, paths: {json.dumps(paths)}{extra}}}\n",
                      check_paths=False)
    return spec.sources[0]


def read(path, src) -> pa.Table:
    return pa.Table.from_batches(list(read_file(str(path), src)), schema=READ_SCHEMA)


def test_jsonl_plain_gz_zst_read_the_same_record():
    d = shared_data("jsonl", "formats")
    src = source([str(d / "*")], text_field="message")
    tables = {ext: read(d / f"test.jsonl{ext}", src) for ext in ("", ".gz", ".zst")}
    for ext, t in tables.items():
        assert t.num_rows == 1, ext
        row = t.to_pylist()[0]
        assert row["text"] == "this is a test" and row["reason"] is None and row["source"] == "s"
    # no id field: the id falls back to file + line, so each file's record has its own stable id
    assert len({t.column("id")[0].as_py() for t in tables.values()}) == 3


def test_real_jsonl_gz_every_line_is_a_document_with_its_own_id():
    f = shared_data("jsonl", "multiple_files", "cc_en_head-0091.jsonl.gz")
    lines = [json.loads(l) for l in gzip.open(f, "rt")]
    t = read(f, source([str(f)]))
    assert t.num_rows == len(lines)
    # C0 control characters (one page here has two DLE bytes) are stripped at the schema boundary, and counted
    controls = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
    assert t.column("text").to_pylist() == [controls.sub("", l["text"]) for l in lines]
    stripped = [json.loads(m).get("stripped_controls") for m in t.column("meta").to_pylist()]
    assert stripped == [len(controls.findall(l["text"])) or None for l in lines] and sum(filter(None, stripped)) == 2
    assert t.column("reason").null_count == t.num_rows
    ids = t.column("id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert read(f, source([str(f)])).column("id").to_pylist() == ids   # stable across reads


def test_bad_lines_are_quarantined_and_reading_goes_on(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(b'{"id": "a", "text": "good one"}\n'
                  b'{"id": "b", "text": broken json}\n'
                  b'{"id": "c", "text": "bad utf8 \xff\xfe here"}\n'
                  b'[1, 2, 3]\n'
                  b'{"id": "e"}\n'
                  b'{"id": "f", "text": "good two"}\n')
    t = read(f, source([str(f)]))
    reasons = dict(zip(t.column("meta").to_pylist(), t.column("reason").to_pylist()))
    got = t.column("reason").to_pylist()
    assert got == [None, "read:bad_json", "read:invalid_utf8", "read:bad_json", "read:no_text", None]
    assert t.column("text").to_pylist()[-1] == "good two"
    assert reasons


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    good = b"".join(json.dumps({"id": str(i), "text": f"document number {i} " * 20}).encode() + b"\n" for i in range(200))
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(gzip.compress(good)[:-200])
    t = read(f, source([str(f)]))
    reasons = t.column("reason").to_pylist()
    assert reasons[-1] == "read:truncated"
    assert 0 < reasons.count(None) < 200


def test_empty_and_mislabelled_files(tmp_path):
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(b"")
    assert read(empty, source([str(empty)])).num_rows == 0
    plain = tmp_path / "actually-plain.jsonl.gz"        # extension says gzip, bytes say plain
    plain.write_text('{"text": "hello"}\n')
    assert read(plain, source([str(plain)])).column("text").to_pylist() == ["hello"]


def test_parquet_reader_maps_fields(tmp_path):
    f = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"body": ["one", "two", None], "doc_id": [10, 11, 12], "link": ["u1", None, "u3"]}), f)
    spec = parse_spec(f"name: t\noutput: {{path: /tmp/o}}\nsources:\n  - {{name: p, kind: parquet, paths: ['{f}'], "
                      "text_field: body, id_field: doc_id, url_field: link, doc_kind: web}\n")
    t = read(f, spec.sources[0])
    rows = t.to_pylist()
    assert [r["text"] for r in rows] == ["one", "two", None]
    assert [r["url"] for r in rows] == ["u1", None, "u3"]
    assert [r["kind"] for r in rows] == ["web"] * 3
    assert [r["reason"] for r in rows] == [None, None, "read:no_text"]
    assert json.loads(rows[0]["meta"])["key"] == "10"


def test_ids_do_not_depend_on_where_the_data_lives(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.jsonl").write_text('{"text": "same"}\n')
    ids = [read(tmp_path / d / "x.jsonl", source([str(tmp_path / d / "*.jsonl")])).column("id")[0].as_py() for d in "ab"]
    assert ids[0] == ids[1]
