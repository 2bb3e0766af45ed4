"""Bad inputs at scale are counted and quarantined with a reason, and the job finishes: a 100 MB document,
a 0-byte file, files that are not what their extension says, invalid UTF-8, a reader and a filter that raise.
Spec safety: YAML loaded safely, outputs that would delete what they must not are refused, unreadable inputs
and unwritable outputs are one clear line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar, Literal

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from engine.schema import read_batch
from filters.base import Filter

# ---------------------------------------------------------------- a filter that raises on one record


class Boom(Filter):
    """Raises on any document containing BOOM (a stand-in for a filter bug on one odd record)."""
    kind: Literal["boom"] = "boom"
    signal_types: ClassVar[dict] = {"boom_len": pa.int64()}

    def score(self, docs):
        texts = docs.column("text").to_pylist()
        if any(t and "BOOM" in t for t in texts):
            raise ValueError("cannot score this")
        return {"boom_len": pa.array([len(t or "") for t in texts], pa.int64())}

    def decide(self, table):
        return pa.nulls(table.num_rows, pa.string())


def _docs(texts):
    return read_batch([{"id": f"d{i}", "source": "s", "text": t, "meta": json.dumps({"row": i})}
                       for i, t in enumerate(texts)])


def test_filter_error_isolates_the_bad_record():
    from engine.annotate import annotate_batch
    from filters.chain import apply_chain, chain_schema
    from filters.length import Length

    texts = [f"document number {i} with several words in it" for i in range(9)]
    texts[6] = "this one says BOOM and breaks the filter"
    filters = [Length(kind="length", min_words=5), Boom()]
    schema = chain_schema(filters)
    got = annotate_batch(_docs(texts), filters, schema, "cl100k_base")
    assert got.num_rows == 9 and got.schema == schema
    reasons = got.column("reason").to_pylist()
    assert reasons[6] == "filter_error:boom:ValueError"
    assert got.column("reasons").to_pylist()[6] == ["filter_error:boom:ValueError"]
    assert "cannot score this" in json.loads(got.column("meta")[6].as_py())["filter_error"]
    assert got.column("n_tokens")[6].as_py() is None
    # the rest of the batch: exactly what the chain gives without the bad record
    good = apply_chain(filters, pa.Table.from_batches([_docs(texts)]).filter(
        pa.array([i != 6 for i in range(9)])), schema)
    keep = [i for i in range(9) if i != 6]
    assert [reasons[i] for i in keep] == good.column("reason").to_pylist()
    assert [got.column("boom_len")[i].as_py() for i in keep] == good.column("boom_len").to_pylist()
    assert all(got.column("n_tokens")[i].as_py() > 0 for i in keep)


def test_output_batches_stay_under_the_byte_limit():
    from engine.annotate import bounded_batches

    t = pa.table({"id": [str(i) for i in range(100)], "text": ["x" * 10_000] * 100})
    batches = list(bounded_batches(t, 100_000))
    assert sum(b.num_rows for b in batches) == 100 and len(batches) >= 10
    assert all(b.nbytes <= 100_000 for b in batches)
    assert pa.Table.from_batches(batches).equals(t.combine_chunks())


def test_jsonl_reader_streams_past_a_too_large_document(tmp_path, monkeypatch):
    from engine.readers import read_file
    from engine.spec import JsonlSource

    monkeypatch.setenv("TAMIS_MAX_DOC_BYTES", "1000")   # settings are re-read per test (conftest)
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"id": "a", "text": "small"}) + "\n" + json.dumps({"id": "b", "text": "y" * 5000}) + "\n"
                 + json.dumps({"id": "c", "text": "small too"}) + "\n")
    src = JsonlSource(name="s", kind="jsonl", paths=[str(f)])
    t = pa.Table.from_batches(list(read_file(str(f), src)))
    assert t.column("reason").to_pylist() == [None, "read:too_large", None]
    assert json.loads(t.column("meta")[1].as_py())["bytes"] > 5000
    assert len(t.column("text")[1].as_py()) <= 2000


def test_reader_exception_becomes_a_quarantined_row(tmp_path):
    from engine import readers

    def flaky(path, source):
        yield read_batch([{"id": "ok", "source": "s", "text": "fine"}])
        raise RuntimeError("reader bug on record 2")

    readers.READERS["flaky-test"] = flaky
    try:
        src = SimpleNamespace(kind="flaky-test", name="s", paths=[str(tmp_path / "*.x")])
        t = pa.Table.from_batches(list(readers.read_file(str(tmp_path / "a.x"), src)))
    finally:
        del readers.READERS["flaky-test"]
    assert t.column("reason").to_pylist() == [None, "read:error:RuntimeError"]


# ---------------------------------------------------------------- end to end on Spark, through the CLI


def _bad_inputs(d: Path) -> dict:
    d.mkdir()
    words = " ".join(f"word{i}" for i in range(40))
    good = [json.dumps({"id": f"ok{i}", "text": f"a perfectly fine document {i} {words}"}) for i in range(5)]
    (d / "ok.jsonl").write_text("\n".join(good) + "\n")
    with open(d / "big.jsonl", "w") as f:            # one 100 MB document between two good ones
        f.write(json.dumps({"id": "before", "text": f"before the big one {words}"}) + "\n")
        f.write('{"id": "huge", "text": "')
        chunk = ("lorem ipsum dolor sit amet " * 40000)[:1_000_000]
        for _ in range(100):
            f.write(chunk)
        f.write('"}\n')
        f.write(json.dumps({"id": "after", "text": f"after the big one {words}"}) + "\n")
    (d / "empty.jsonl").write_bytes(b"")
    (d / "latin1.jsonl").write_bytes(json.dumps({"id": "u", "text": "x"}).encode().replace(b'"x"', b'"caf\xe9 au lait"')
                                     + b"\n" + good[0].replace("ok0", "u2").encode() + b"\n")
    (d / "image.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)     # not JSONL at all
    import gzip

    (d / "plain.jsonl.gz").write_text(good[1].replace("ok1", "p1") + "\n")       # not gzip: read by content
    (d / "text.parquet").write_text(good[2] + "\n")                              # JSONL named .parquet
    with gzip.open(d / "boomy.jsonl.gz", "wt") as f:
        for i in range(6):
            f.write(json.dumps({"id": f"b{i}", "text": f"boomy doc {i} {'BOOM ' if i == 3 else ''}{words}"}) + "\n")
    return {"big": d / "big.jsonl"}


def test_bad_inputs_are_counted_and_quarantined(spark, tmp_path, monkeypatch):
    import importlib

    import engine.annotate
    from engine.cli import main

    d = tmp_path / "data"
    _bad_inputs(d)
    spec = tmp_path / "mix.yaml"
    spec.write_text(f"""\
name: robust
seed: 3
output: {{path: out, work_dir: work}}
sources:
  - name: web
    kind: jsonl
    paths: ["{d}/*.jsonl", "{d}/*.jsonl.gz"]
    filters: [{{kind: length, min_words: 5}}]
  - name: pq
    kind: parquet
    paths: ["{d}/*.parquet"]
""")
    # the filter that raises is added to the `web` chain (specs only name registered filters)
    # (imported under its package name, so Spark's Python workers can import the class)
    boom = importlib.import_module("tests.test_robustness").Boom
    real = engine.annotate.source_filters
    monkeypatch.setattr(engine.annotate, "source_filters",
                        lambda s: real(s) + ([boom()] if s.name == "web" else []))
    r = CliRunner().invoke(main, ["run", str(spec)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    m = json.loads((out / "manifest.json").read_text())
    web, pq = m["sources"]["web"], m["sources"]["pq"]
    assert web["docs_dropped"]["read:too_large"] == 1
    assert web["docs_dropped"]["read:empty_file"] == 1
    assert web["docs_dropped"]["read:invalid_utf8"] >= 2          # latin1 line + the binary file's lines
    assert web["docs_dropped"]["filter_error:boom:ValueError"] == 1
    assert pq["docs_dropped"]["read:error:ArrowInvalid"] == 1
    assert pq["docs_unreadable"] == 1
    rej = dict(duckdb.sql(f"select reason, count(*) from '{out}/rejects/*.parquet' group by 1").fetchall())
    for reason, n in web["docs_dropped"].items():
        assert rej[reason] == n + pq["docs_dropped"].get(reason, 0)
    kept = {r[0] for r in duckdb.sql(f"select json_extract_string(meta, '$.key') from '{out}/*.parquet'").fetchall()}
    # good records around the bad ones survive: both neighbours of the 100 MB line, the batch of the raising
    # record, the UTF-8 line after the Latin-1 one, the plain file named .gz
    assert {"before", "after", "b0", "b1", "b2", "b4", "b5", "u2", "p1", "ok0", "ok4"} <= kept
    huge = duckdb.sql(f"select length(text), meta from '{out}/rejects/*.parquet' where reason = 'read:too_large'").fetchall()
    assert huge[0][0] <= 2000 and json.loads(huge[0][1])["bytes"] > 100_000_000


# ---------------------------------------------------------------- spec safety


def _spec(tmp_path, output: str, extra: str = "", inputs: str | None = None) -> str:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "a.jsonl").write_text('{"text": "hello"}\n')
    f = tmp_path / "mix.yaml"
    f.write_text(f"name: t\noutput: {{path: '{output}'{extra}}}\nsources:\n"
                 f"  - {{name: a, kind: jsonl, paths: ['{inputs or data / 'a.jsonl'}']}}\n")
    return str(f)


def _problems(path) -> list[str]:
    from engine.spec import SpecError, load_spec

    with pytest.raises(SpecError) as e:
        load_spec(path)
    return e.value.problems


def test_yaml_is_loaded_safely(tmp_path):
    marker = tmp_path / "pwned"
    f = tmp_path / "mix.yaml"
    f.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\noutput: {{path: out}}\nsources: []\n")
    probs = _problems(f)
    assert len(probs) == 1 and probs[0].startswith(f"{f}:1:") and not marker.exists()


@pytest.mark.parametrize("output,what", [
    ("/", "filesystem root"),
    ("~", "home folder"),
    (".", "spec's folder"),
    ("..", "spec's folder"),
    ("data", "contains the input"),
])
def test_outputs_that_overwrite_would_wipe_are_refused(tmp_path, output, what):
    probs = _problems(_spec(tmp_path, output))
    assert len(probs) == 1 and what in probs[0] and ":2: output.path: refusing output path" in probs[0], probs


def test_work_dir_inside_output_is_refused(tmp_path):
    probs = _problems(_spec(tmp_path, "out", extra=", work_dir: out/work"))
    assert len(probs) == 1 and "output.work_dir" in probs[0] and "must not contain each other" in probs[0]


def test_unwritable_output_and_unreadable_input_are_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    probs = _problems(_spec(tmp_path, "afile/out"))
    assert len(probs) == 1 and "cannot write output" in probs[0] and "is not a folder" in probs[0]
    os.symlink(tmp_path / "gone.jsonl", tmp_path / "data" / "dangling.jsonl")
    probs = _problems(_spec(tmp_path, "out", inputs=str(tmp_path / "data" / "*.jsonl")))
    assert len(probs) == 1 and "sources[0].paths: cannot read input" in probs[0]
    r = CliRunner().invoke(__import__("engine.cli", fromlist=["main"]).main, ["run", str(tmp_path / "mix.yaml")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "cannot read input" in r.output


def test_run_refuses_a_dangerous_output_set_in_code(tmp_path):
    from engine.output import UnsafePath, check_output
    from engine.spec import load_spec

    spec = load_spec(_spec(tmp_path, "out"))
    spec.output.path = str(Path.home())
    with pytest.raises(UnsafePath, match="home folder"):
        check_output(spec, overwrite=True)
