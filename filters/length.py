"""The simplest real filter: document length in words and characters."""
from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc

from filters.base import Filter, first_reason, param


class Length(Filter):
    kind: Literal["length"] = "length"
    min_words: int = param(1, "drop documents with fewer words (runs of non-space characters)", "tamis")
    max_words: int | None = param(None, "drop documents with more words; null: no upper bound", "tamis")
    min_chars: int = param(1, "drop documents with fewer characters", "tamis")

    summary: ClassVar[str] = "document length in words and characters"
    literature: ClassVar[str] = "tamis (a plain sanity bound)"
    reasons: ClassVar[tuple[str, ...]] = ("length:too_few_words", "length:too_few_chars", "length:too_many_words")

    decide_params: ClassVar[tuple[str, ...]] = ("min_words", "max_words", "min_chars")
    signal_types: ClassVar[dict[str, pa.DataType]] = {"length_words": pa.int64(), "length_chars": pa.int64()}

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        text = pc.fill_null(docs.column("text"), "")
        words = pc.count_substring_regex(text, r"\S+")
        return {"length_words": pc.cast(words, pa.int64()), "length_chars": pc.cast(pc.utf8_length(text), pa.int64())}

    def decide(self, table: pa.Table) -> pa.Array:
        words, chars = table.column("length_words"), table.column("length_chars")
        rules = [(pc.less(words, self.min_words), "length:too_few_words"),
                 (pc.less(chars, self.min_chars), "length:too_few_chars")]
        if self.max_words is not None:
            rules.append((pc.greater(words, self.max_words), "length:too_many_words"))
        return first_reason(table.num_rows, rules)
