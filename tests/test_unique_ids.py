"""Ids are unique per mix: records that share an id (a dump with a duplicated key, the same record twice) are
made unique deterministically, never multiplied by dedup's joins on id, and the counts add up."""
from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from engine.spec import load_spec

pytestmark = pytest.mark.spark

N = 25


def _texts(salt: str, n: int = N) -> list[str]:
    """n distinct texts of random made-up words: no two are near-duplicates of each other."""
    rng = random.Random(salt)
    vocab = [f"{salt}{rng.randrange(10**9):x}" for _ in range(400)]
    return [" ".join(rng.choice(vocab) for _ in range(60)) + "." for _ in range(n)]


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _spec(tmp_path: Path, dedup: str = "{exact: true, minhash: {threshold: 0.8}}") -> str:
    first, other, same = _texts("first"), _texts("other"), _texts("same")
    # 25 docs, 25 more under the same ids with other texts, 25 copies of the first texts under new ids
    clash = _jsonl(tmp_path / "clash.jsonl",
                   [{"id": str(i), "text": t} for i, t in enumerate(first)]
                   + [{"id": str(i), "text": t} for i, t in enumerate(other)])
    copies = _jsonl(tmp_path / "copies.jsonl", [{"id": f"new{i}", "text": t} for i, t in enumerate(first)])
    # the same record twice: same id, same text (the second time in another file)
    twice_a = _jsonl(tmp_path / "twice-a.jsonl", [{"id": f"s{i}", "text": t} for i, t in enumerate(same)])
    twice_b = _jsonl(tmp_path / "twice-b.jsonl", [{"id": f"s{i}", "text": t} for i, t in enumerate(same)])
    spec = tmp_path / "mix.yaml"
    spec.write_text(f"""\
name: ids
seed: 3
output: {{path: out, shard_mb: 0.01}}
sources:
  - {{name: clash, kind: jsonl, paths: ["{clash}", "{copies}"]}}
  - {{name: twice, kind: jsonl, paths: ["{twice_a}", "{twice_b}"]}}
dedup: {dedup}
""")
    return str(spec)


def _check(tmp_path: Path, m: dict, dedup: bool):
    out = tmp_path / "out"
    con = duckdb.connect()
    docs = con.sql(f"select id, source, text from '{out}/*.parquet'").fetchall()
    rejects = con.sql(f"select id, source, text, reason from '{out}/rejects/*.parquet'").fetchall()
    ids = [r[0] for r in docs + rejects]
    assert len(ids) == len(set(ids)), "an id is written twice"
    for name, read in (("clash", 3 * N), ("twice", 2 * N)):
        s = m["sources"][name]
        assert s["docs_read"] == read
        assert s["docs_read"] == s["docs_kept"] + sum(s["docs_dropped"].values())   # unreadable are dropped too
        assert s["docs_written"] == s["docs_kept"] == len([d for d in docs if d[1] == name])
        assert s["ids_renamed"] == N and len(s["ids_renamed_examples"]) == 3
        assert all("#" in e["id"] and e["file"] and e["key"] for e in s["ids_renamed_examples"])
    clash_texts = [d[2] for d in docs if d[1] == "clash"]
    twice_texts = [d[2] for d in docs if d[1] == "twice"]
    assert sorted(set(twice_texts)) == sorted(twice_texts) == sorted(_texts("same"))      # one copy each
    assert m["sources"]["twice"]["docs_dropped"] == {"duplicate": N}
    if dedup:   # 50 distinct texts: one of each written, the 25 copies rejected as duplicates
        assert sorted(clash_texts) == sorted(_texts("first") + _texts("other"))
        assert m["sources"]["clash"]["docs_dropped"] == {"duplicate": N}
        dup_texts = [r[2] for r in rejects if r[1] == "clash" and r[3].startswith("duplicate:")]
        assert sorted(dup_texts) == sorted(_texts("first"))
    else:       # without dedup every record of a distinct (id, text) is a document of its own
        assert sorted(clash_texts) == sorted(2 * _texts("first") + _texts("other"))
        assert m["sources"]["clash"]["docs_dropped"] == {}


def test_duplicate_ids_never_corrupt_dedup_counts_or_mix(spark, tmp_path):
    from engine.run import run

    m = run(load_spec(_spec(tmp_path)))
    _check(tmp_path, m, dedup=True)
    assert m["totals"]["docs_read"] == 5 * N
    assert m["totals"]["docs_written"] == 3 * N


def test_same_record_twice_is_one_document_without_dedup(spark, tmp_path):
    from engine.run import run

    m = run(load_spec(_spec(tmp_path, dedup="null")))
    _check(tmp_path, m, dedup=False)


COLS = "id string, text string, source string, url string, meta string, reason string"


def _records():
    """id a: three texts over two files, one of them twice; id b: the same record twice and a rejected one."""
    def meta(f, row):
        return json.dumps({"file": f, "row": row})
    return [("a", "third", "s", None, meta("2.jsonl", 0), None), ("a", "first", "s", None, meta("1.jsonl", 10), None),
            ("a", "second", "s", None, meta("1.jsonl", 11), None), ("a", "first", "s", None, meta("2.jsonl", 5), None),
            ("b", "same", "s", None, meta("1.jsonl", 3), None), ("b", "same", "s", None, meta("1.jsonl", 4), None),
            ("b", "junk", "s", None, meta("1.jsonl", 9), "length:too_few_words"), ("c", "alone", "s", None, None, None)]


def test_renames_are_deterministic_whatever_the_partitioning(spark):
    from engine.spark.ids import unique_ids

    df = spark.createDataFrame(_records(), COLS)
    results = set()
    for parts in (1, 3, 8):
        out = unique_ids(df.repartition(parts, "text")).collect()
        assert len(out) == len(_records())
        results.add(tuple(sorted((r["id"], r["text"], r["reason"]) for r in out)))
    assert len(results) == 1
    assert sorted(results.pop()) == [
        ("a", "first", None), ("a#2", "second", None), ("a#3", "third", None), ("a#4", "first", "duplicate:a"),
        ("b", "same", None), ("b#2", "same", "duplicate:b"), ("b#3", "junk", "length:too_few_words"),
        ("c", "alone", None)]


def test_dedup_refuses_repeated_ids_instead_of_multiplying_rows(spark):
    from engine.spark.dedup import dedup
    from engine.spark.ids import RepeatedIds
    from engine.spec import DedupSpec, MinHashSpec

    spec = DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8))
    rows = [(i, t, "s", None, None, None) for i, t in
            [("x", _texts("p")[0]), ("y", _texts("p")[0]), ("z", _texts("q")[0])]]
    rejected_twin = ("x", "short", "s", None, None, "length:too_few_words")   # shares an id with a kept row
    df = spark.createDataFrame(rows + [rejected_twin], COLS)
    out = dedup(df, spec)
    assert out.count() == df.count() == 4
    assert sorted(r["reason"] or "" for r in out.collect()) == ["", "", "duplicate:x", "length:too_few_words"]
    with pytest.raises(RepeatedIds, match=r"dedup: ids must be unique, repeated: x \(x2\)"):
        dedup(spark.createDataFrame(rows + [("x", "other text here", "s", None, None, None)], COLS), spec)
