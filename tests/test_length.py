"""The `length` filter: words and characters per document, no JVM."""
from __future__ import annotations

import pyarrow as pa
import pytest

from engine.schema import read_batch
from filters.chain import apply_chain
from filters.length import Length


def docs(texts):
    return pa.Table.from_batches([read_batch([{"id": str(i), "text": t, "source": "s"} for i, t in enumerate(texts)])])


def test_signals_and_reasons():
    t = apply_chain([Length(min_words=3)], docs(["one two three", "one two", "", None]))
    assert t.column("length_words").to_pylist() == [3, 2, 0, 0]
    assert t.column("length_chars").to_pylist() == [13, 7, 0, 0]
    assert t.column("reason").to_pylist() == [None, "length:too_few_words", "length:too_few_words", "length:too_few_words"]


def test_rules_in_order():
    f = Length(min_words=2, min_chars=10, max_words=3)
    t = pa.table({"length_words": [1, 2, 4, 1], "length_chars": [20, 5, 30, 3]})
    assert f.decide(t).to_pylist() == ["length:too_few_words", "length:too_few_chars", "length:too_many_words",
                                       "length:too_few_words"]
    assert Length(max_words=None).decide(pa.table({"length_words": [10**9], "length_chars": [1]})).to_pylist() == [None]


def test_re_thresholding_from_stored_signals_needs_no_text():
    t = apply_chain([Length(min_words=1, mode="tag")], docs(["a b c", "a b c d e f"]))
    stored = t.drop_columns(["text"])
    assert Length(min_words=5).decide(stored).to_pylist() == ["length:too_few_words", None]


def test_unknown_parameter_refused():
    with pytest.raises(ValueError):
        Length(min_word=3)
