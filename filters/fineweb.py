"""FineWeb's own rules (Penedo et al. 2024), a port of datatrove's `FineWebQualityFilter` (datatrove 0.10.1).

Languages (see `filters.text.langs`): the line punctuation rule is skipped for languages that do not end
sentences with a mark, the list ratio (newlines per word) for unsegmented languages.
"""
from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from datatrove.utils.text import TERMINAL_PUNCTUATION

from filters.base import Filter, param, rules
from filters.gopher import find_duplicates
from filters.text.langs import NO_TERMINAL_PUNCT_LANGS, UNSEGMENTED_LANGS, doc_langs
from filters.text.words import Words

FINEWEB = "FineWeb (Penedo et al. 2024)"


class FineWebQuality(Filter):
    """FineWeb's own rules (Penedo et al. 2024), as datatrove's `FineWebQualityFilter`.

    Signals: `fineweb_n_lines` (non-blank lines), `fineweb_line_punct_ratio` (lines ending in terminal
    punctuation), `fineweb_short_line_ratio` (lines of at most `short_line_length` characters),
    `fineweb_char_dup_ratio` (characters in repeated lines / characters without newlines),
    `fineweb_list_ratio` (newlines per word), `fineweb_quality_skipped`.
    """
    kind: Literal["fineweb_quality"] = "fineweb_quality"
    line_punct_thr: float = param(0.12, "drop below this share of lines ending in terminal punctuation", FINEWEB)
    line_punct_exclude_zero: bool = param(False, "keep documents with no such line at all", FINEWEB)
    stop_chars: list[str] | None = param(None, "terminal punctuation; null: datatrove's TERMINAL_PUNCTUATION "
                                               "(every script)", FINEWEB)
    short_line_thr: float = param(0.67, "drop above this share of short lines", FINEWEB)
    short_line_length: int = param(30, "a line of at most this many characters is short", FINEWEB)
    char_duplicates_ratio: float = param(0.01, "drop above this share of characters in repeated lines", FINEWEB)
    new_line_ratio: float = param(0.3, "drop above this many newlines per word (lists)", FINEWEB)
    language: str = param("en", "the language of documents without `lang`", "tamis")

    summary: ClassVar[str] = "FineWeb's own rules: line punctuation, short lines, repeated lines, lists"
    literature: ClassVar[str] = "FineWeb (Penedo et al. 2024), as datatrove's FineWebQualityFilter"
    reasons: ClassVar[tuple[str, ...]] = tuple("fineweb_quality:" + r for r in (
        "empty", "line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio"))

    decide_params: ClassVar[tuple[str, ...]] = ("line_punct_thr", "line_punct_exclude_zero", "short_line_thr",
                                                "char_duplicates_ratio", "new_line_ratio")
    uses_words: ClassVar[bool] = True
    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "fineweb_n_lines": pa.int64(), "fineweb_line_punct_ratio": pa.float64(),
        "fineweb_short_line_ratio": pa.float64(), "fineweb_char_dup_ratio": pa.float64(),
        "fineweb_list_ratio": pa.float64(), "fineweb_quality_skipped": pa.string()}

    def score(self, docs: pa.Table, words: Words | None = None) -> dict[str, pa.Array]:
        batch = Words.of(docs, words)
        stop = tuple(TERMINAL_PUNCTUATION if self.stop_chars is None else self.stop_chars)
        single = frozenset(stop) if all(len(s) == 1 for s in stop) else None
        short = self.short_line_length
        n = docs.num_rows
        cols: dict[str, list] = {name: [None] * n for name in self.signal_types}
        n_lines, punct_r, short_r = cols["fineweb_n_lines"], cols["fineweb_line_punct_ratio"], cols["fineweb_short_line_ratio"]
        dup_r, list_r, skipped = cols["fineweb_char_dup_ratio"], cols["fineweb_list_ratio"], cols["fineweb_quality_skipped"]
        for i, (text, lang) in enumerate(zip(batch.texts, doc_langs(docs, self.language))):
            lines = [line for line in text.split("\n") if line.strip()]
            nl = len(lines)
            n_lines[i] = nl
            if not nl:
                continue
            skips = []
            if lang in NO_TERMINAL_PUNCT_LANGS:
                skips.append(f"line_punct:none_in_{lang}")
            elif single is not None:
                punct_r[i] = sum(1 for line in lines if line[-1] in single) / nl
            else:
                punct_r[i] = sum(1 for line in lines if line.endswith(stop)) / nl
            short_r[i] = sum(1 for line in lines if len(line) <= short) / nl
            dup_r[i] = find_duplicates(lines)[1] / (len(text) - text.count("\n"))
            if lang in UNSEGMENTED_LANGS:
                skips.append(f"list_ratio:unsegmented_{lang}")
            else:
                list_r[i] = text.count("\n") / len(batch[i])
            skipped[i] = ",".join(skips) or None
        return {name: pa.array(v, self.signal_types[name]) for name, v in cols.items()}

    def decide(self, table: pa.Table) -> pa.Array:
        t, k = table, "fineweb_quality:"
        punct = t.column("fineweb_line_punct_ratio")
        punct_fails = pc.less(punct, self.line_punct_thr)
        if self.line_punct_exclude_zero:
            punct_fails = pc.and_(punct_fails, pc.not_equal(punct, 0))
        return rules(t.num_rows, [
            (pc.equal(t.column("fineweb_n_lines"), 0), k + "empty"),
            (punct_fails, k + "line_punct_ratio"),
            (pc.greater(t.column("fineweb_short_line_ratio"), self.short_line_thr), k + "short_line_ratio"),
            (pc.greater(t.column("fineweb_char_dup_ratio"), self.char_duplicates_ratio), k + "char_dup_ratio"),
            (pc.greater(t.column("fineweb_list_ratio"), self.new_line_ratio), k + "list_ratio"),
        ])
