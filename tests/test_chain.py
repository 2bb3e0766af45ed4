"""The filter chain on Arrow tables, no JVM: signals, first reason, all reasons, tag mode, read failures."""
from __future__ import annotations

import pyarrow as pa

from engine.schema import read_batch
from filters.chain import apply_chain, chain_schema
from filters.length import Length


def docs(texts, reasons=None):
    rows = [{"id": str(i), "text": t, "source": "s", "reason": (reasons or [None] * len(texts))[i]} for i, t in enumerate(texts)]
    return pa.Table.from_batches([read_batch(rows)])


def test_length_signals_and_reasons():
    t = apply_chain([Length(min_words=3)], docs(["one two three", "one two", "", None]))
    assert t.column("length_words").to_pylist() == [3, 2, 0, 0]
    assert t.column("reason").to_pylist() == [None, "length:too_few_words", "length:too_few_words", "length:too_few_words"]


def test_all_reasons_kept_first_wins():
    chain = [Length(min_words=3), Length(min_words=1, min_chars=20, max_words=2)]
    t = apply_chain(chain, docs(["a b", "one two three four five six"]))
    assert t.column("reasons").to_pylist() == [["length:too_few_words", "length:too_few_chars"], ["length:too_many_words"]]
    assert t.column("reason").to_pylist() == ["length:too_few_words", "length:too_many_words"]


def test_tag_mode_scores_but_never_drops():
    t = apply_chain([Length(min_words=100, mode="tag")], docs(["short text"]))
    assert t.column("reason").to_pylist() == [None]
    assert t.column("length_words").to_pylist() == [2]


def test_read_failures_keep_their_reason():
    t = apply_chain([Length(min_words=1)], docs([None, "fine words"], reasons=["read:bad_json", None]))
    assert t.column("reason").to_pylist() == ["read:bad_json", None]
    assert t.column("reasons").to_pylist() == [None, None]


def test_schema_is_stable():
    schema = chain_schema([Length()])
    assert schema.names[-3:] == ["length_words", "length_chars", "reasons"]
    assert apply_chain([Length()], docs(["x"])).schema == schema


def test_re_thresholding_from_stored_signals_needs_no_text():
    t = apply_chain([Length(min_words=1, mode="tag")], docs(["a b c", "a b c d e f"]))
    stored = t.drop_columns(["text"])
    assert Length(min_words=5).decide(stored).to_pylist() == ["length:too_few_words", None]
