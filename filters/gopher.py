"""Gopher's heuristic quality and repetition rules (Rae et al. 2021, table A1).

Ports of datatrove's `GopherQualityFilter` and `GopherRepetitionFilter` (datatrove 0.10.1,
`pipeline/filters/`), with the same parameters and defaults, split into signals (computed once, stored) and a
decision (thresholds applied to the stored signals). On English web text they make the same keep/drop
decision as datatrove (tests/test_quality_filters.py measures it on real pages); they are faster because
words are split once per distinct chunk and shared by the filters of a batch (`filters.text.words`), and
n-gram statistics use numpy. Rules per language: `filters.text.langs`.
"""
from __future__ import annotations

import re
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import AliasChoices, field_validator

from filters.base import Filter, fails_gt, fails_lt, no_negative, param, rules
from filters.text.langs import UNSEGMENTED_LANGS, doc_langs
from filters.text.words import ALPHA, WORD, Words

GOPHER = "Gopher (Rae et al. 2021), table A1"
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def _f64(values) -> pa.Array:
    return pa.array(values, pa.float64())


def _i64(values) -> pa.Array:
    return pa.array(values, pa.int64())


_BULLETS = ("•", "-")
_ELLIPSES = ("...", "…")


class GopherQuality(Filter):
    """Gopher's quality rules (Rae et al. 2021, table A1), as datatrove's `GopherQualityFilter`.

    Signals: `gopher_n_words` (words that are not only punctuation), `gopher_mean_word_len` (of those),
    `gopher_hash_ratio` and `gopher_ellipsis_ratio` (`#` and `...`/`…` per token), `gopher_bullet_lines_frac`,
    `gopher_ellipsis_lines_frac`, `gopher_alpha_words_frac` (tokens with a letter), `gopher_stop_words`
    (distinct stop words present), `gopher_quality_skipped`.
    """
    kind: Literal["gopher_quality"] = "gopher_quality"
    min_doc_words: int | None = param(50, "drop documents with fewer words (not counting punctuation)", GOPHER)
    max_doc_words: int | None = param(100_000, "drop documents with more words", GOPHER)
    min_avg_word_length: float | None = param(3, "drop below this mean word length (characters)", GOPHER)
    max_avg_word_length: float | None = param(10, "drop above this mean word length", GOPHER)
    max_symbol_word_ratio: float | None = param(0.1, "drop above this many `#`, and `...`/`…`, per word", GOPHER)
    max_bullet_lines_ratio: float | None = param(0.9, "drop above this share of lines starting with a bullet",
                                                 GOPHER)
    max_ellipsis_lines_ratio: float | None = param(0.3, "drop above this share of lines ending with an ellipsis",
                                                   GOPHER)
    min_alpha_words_ratio: float | None = param(
        0.8, "drop below this share of words with a letter (datatrove's `max_non_alpha_words_ratio` is accepted)",
        GOPHER, validation_alias=AliasChoices("min_alpha_words_ratio", "max_non_alpha_words_ratio"))
    min_stop_words: int | None = param(2, "drop with fewer distinct stop words present", GOPHER)
    stop_words: list[str] | None = param(None, "stop words for `language`; null: Gopher's eight English words",
                                         GOPHER)
    stop_words_per_lang: dict[str, list[str]] = param({}, "stop words of other languages: {lang: [words]}",
                                                      "tamis")
    language: str = param("en", "the language of documents without `lang`", "tamis")

    summary: ClassVar[str] = "Gopher's quality rules: document length, word length, symbols, bullets, stop words"
    literature: ClassVar[str] = "Gopher (Rae et al. 2021), as datatrove's GopherQualityFilter"
    reasons: ClassVar[tuple[str, ...]] = tuple("gopher_quality:" + r for r in (
        "short_doc", "long_doc", "below_avg_word_len", "above_avg_word_len", "too_many_hashes",
        "too_many_ellipsis", "too_many_bullets", "too_many_end_ellipsis", "below_alpha_threshold",
        "few_stop_words"))

    # stop word lists and `language` change the signals; every threshold is decide-side
    decide_params: ClassVar[tuple[str, ...]] = (
        "min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length", "max_symbol_word_ratio",
        "max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "min_alpha_words_ratio", "min_stop_words")
    uses_words: ClassVar[bool] = True
    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "gopher_n_words": pa.int64(), "gopher_mean_word_len": pa.float64(), "gopher_hash_ratio": pa.float64(),
        "gopher_ellipsis_ratio": pa.float64(), "gopher_bullet_lines_frac": pa.float64(),
        "gopher_ellipsis_lines_frac": pa.float64(), "gopher_alpha_words_frac": pa.float64(),
        "gopher_stop_words": pa.int64(), "gopher_quality_skipped": pa.string()}

    _non_negative = no_negative("min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length",
                                "max_symbol_word_ratio", "max_bullet_lines_ratio", "max_ellipsis_lines_ratio",
                                "min_alpha_words_ratio", "min_stop_words")

    def _stop_lists(self) -> dict[str, frozenset[str]]:
        lists = {self.language: frozenset(GOPHER_STOP_WORDS if self.stop_words is None else self.stop_words)}
        lists.update({k: frozenset(v) for k, v in self.stop_words_per_lang.items()})
        return lists

    def score(self, docs: pa.Table, words: Words | None = None) -> dict[str, pa.Array]:
        batch = Words.of(docs, words)
        voc = batch.vocab
        stop_lists = self._stop_lists()
        n = docs.num_rows
        n_words = [None] * n
        mean_len = [None] * n
        hash_r = [None] * n
        ell_r = [None] * n
        bullet_f = [None] * n
        ell_lines_f = [None] * n
        alpha_f = [None] * n
        stops = [None] * n
        skipped = [None] * n
        for i, (text, lang) in enumerate(zip(batch.texts, doc_langs(docs, self.language))):
            lines = text.splitlines()
            if lines:
                bullet_f[i] = sum(1 for s in lines if s.lstrip().startswith(_BULLETS)) / len(lines)
                ell_lines_f[i] = sum(1 for s in lines if s.rstrip().endswith(_ELLIPSES)) / len(lines)
            if lang in UNSEGMENTED_LANGS:
                skipped[i] = f"word_rules:unsegmented_{lang}"
                continue
            ids = batch[i]
            nw = len(ids)
            if nw:
                flags = voc.flags(ids)
                word = (flags & WORD).astype(bool)
                n_sym_free = int(np.count_nonzero(word))
                n_words[i] = n_sym_free
                if n_sym_free:
                    mean_len[i] = int(voc.lens(ids[word]).sum()) / n_sym_free
                hash_r[i] = text.count("#") / nw
                ell_r[i] = (text.count("...") + text.count("…")) / nw
                alpha_f[i] = int(np.count_nonzero(flags & ALPHA)) / nw
            else:
                n_words[i] = 0
            stop = stop_lists.get(lang)
            if stop is None:
                skipped[i] = f"stop_words:no_list_for_{lang}"
            else:
                stop_ids = [j for j in map(voc.ids.get, stop) if j is not None]
                stops[i] = int(np.isin(stop_ids, ids).sum()) if stop_ids and nw else 0
        return {"gopher_n_words": _i64(n_words), "gopher_mean_word_len": _f64(mean_len),
                "gopher_hash_ratio": _f64(hash_r), "gopher_ellipsis_ratio": _f64(ell_r),
                "gopher_bullet_lines_frac": _f64(bullet_f), "gopher_ellipsis_lines_frac": _f64(ell_lines_f),
                "gopher_alpha_words_frac": _f64(alpha_f), "gopher_stop_words": _i64(stops),
                "gopher_quality_skipped": pa.array(skipped, pa.string())}

    def decide(self, table: pa.Table) -> pa.Array:
        t, k = table, "gopher_quality:"
        return rules(t.num_rows, [
            (fails_lt(t, "gopher_n_words", self.min_doc_words), k + "short_doc"),
            (fails_gt(t, "gopher_n_words", self.max_doc_words), k + "long_doc"),
            (fails_lt(t, "gopher_mean_word_len", self.min_avg_word_length), k + "below_avg_word_len"),
            (fails_gt(t, "gopher_mean_word_len", self.max_avg_word_length), k + "above_avg_word_len"),
            (fails_gt(t, "gopher_hash_ratio", self.max_symbol_word_ratio), k + "too_many_hashes"),
            (fails_gt(t, "gopher_ellipsis_ratio", self.max_symbol_word_ratio), k + "too_many_ellipsis"),
            (fails_gt(t, "gopher_bullet_lines_frac", self.max_bullet_lines_ratio), k + "too_many_bullets"),
            (fails_gt(t, "gopher_ellipsis_lines_frac", self.max_ellipsis_lines_ratio), k + "too_many_end_ellipsis"),
            (fails_lt(t, "gopher_alpha_words_frac", self.min_alpha_words_ratio), k + "below_alpha_threshold"),
            (fails_lt(t, "gopher_stop_words", self.min_stop_words), k + "few_stop_words"),
        ])


# ---------------------------------------------------------------------------------------------------------
# Gopher repetition

_PARA_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile("\n+")
_TOP_NS = (2, 3, 4)
_DUP_NS = (5, 6, 7, 8, 9, 10)


def find_duplicates(parts: list[str]) -> tuple[int, int]:
    """datatrove's `find_duplicates`: (repeated elements, their characters)."""
    seen: set[str] = set()
    n = chars = 0
    for p in parts:
        if p in seen:
            n += 1
            chars += len(p)
        else:
            seen.add(p)
    return n, chars


def _ngram_stats(ids: np.ndarray, lens: np.ndarray, k: int) -> dict[int, int]:
    """n-gram repetition of one document's token ids (`lens`: token lengths, `k`: an upper bound of ids).

    For n in 2..4: characters of the most frequent n-gram times its count, the earliest first if tied
    (datatrove's `find_top_duplicate`: `Counter.most_common(1)` over space-joined n-grams). For n in 5..10:
    characters of the n-grams that repeat one already seen, scanning left to right and jumping past a
    repeat (datatrove's `find_all_duplicate`). n-grams are numbered exactly (pandas.factorize of
    (number of the (n-1)-gram, next token id), numbers in order of first appearance), no hashing.
    """
    nw = len(ids)
    out: dict[int, int] = {}
    if nw < 2:
        return out
    csum = np.concatenate(([0], np.cumsum(lens)))
    codes = ids
    unique_from = None  # from this n on, every n-gram occurs once
    for n in range(2, 11):
        m = nw - n + 1
        if m <= 0:
            break
        if unique_from is not None:
            out[n] = int(csum[n]) + n - 1 if n in _TOP_NS else 0
            continue
        codes, uniques = pd.factorize(codes[:m] * k + ids[n - 1:])
        if len(uniques) == m:
            unique_from = n
            out[n] = int(csum[n]) + n - 1 if n in _TOP_NS else 0
            continue
        k_next = len(uniques)
        if n in _TOP_NS:
            counts = np.bincount(codes)
            j = int(counts.argmax())  # first max: the earliest n-gram among the most frequent
            pos = int(np.argmax(codes == j))
            out[n] = int(counts[j]) * (int(csum[pos + n] - csum[pos]) + n - 1)
        else:
            seen_max = np.maximum.accumulate(codes)
            rep = np.flatnonzero(seen_max[1:] == seen_max[:-1]) + 1  # not a first occurrence
            added = np.zeros(k_next, bool)
            idx = total = 0
            for c in rep.tolist():
                if c < idx:
                    continue
                added[codes[idx:c]] = True
                if added[codes[c]]:
                    total += int(csum[c + n] - csum[c])
                    idx = c + n
                else:
                    added[codes[c]] = True
                    idx = c + 1
            out[n] = total
        k = max(k, k_next)
    return out


def _ngram_pairs(v, name: str, allowed: tuple[int, ...]):
    pairs = tuple((int(n), float(f)) for n, f in v)
    for n, _ in pairs:
        if n not in allowed:
            raise ValueError(f"{name}: n={n} is not one of {allowed} (the n-grams whose signals are stored)")
    return pairs


class GopherRepetition(Filter):
    """Gopher's repetition rules (Rae et al. 2021, table A1), as datatrove's `GopherRepetitionFilter`.

    Signals: `gopher_n_chars`, `gopher_dup_para_frac`, `gopher_dup_para_char_frac`, `gopher_dup_line_frac`,
    `gopher_dup_line_char_frac`, `gopher_top_{2,3,4}gram_char_frac`, `gopher_dup_{5..10}gram_char_frac`,
    `gopher_repetition_skipped`. Thresholds for the n-gram rules are `top_n_grams` / `dup_n_grams`
    ([n, max fraction] pairs, n in 2..4 and 5..10).
    """
    kind: Literal["gopher_repetition"] = "gopher_repetition"
    dup_line_frac: float | None = param(0.3, "drop above this share of repeated lines", GOPHER)
    dup_para_frac: float | None = param(0.3, "drop above this share of repeated paragraphs", GOPHER)
    dup_line_char_frac: float | None = param(0.2, "drop above this share of characters in repeated lines", GOPHER)
    dup_para_char_frac: float | None = param(0.2, "drop above this share of characters in repeated paragraphs",
                                             GOPHER)
    top_n_grams: tuple[tuple[int, float], ...] = param(
        ((2, 0.2), (3, 0.18), (4, 0.16)),
        "[n, max share of characters in the most frequent n-gram], n in 2..4", GOPHER)
    dup_n_grams: tuple[tuple[int, float], ...] = param(
        ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)),
        "[n, max share of characters in repeated n-grams], n in 5..10", GOPHER)
    language: str = param("en", "the language of documents without `lang`", "tamis")

    summary: ClassVar[str] = "Gopher's repetition rules: repeated lines, paragraphs and n-grams"
    literature: ClassVar[str] = "Gopher (Rae et al. 2021), as datatrove's GopherRepetitionFilter"
    reasons: ClassVar[tuple[str, ...]] = tuple("gopher_repetition:" + r for r in (
        "empty", "dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac",
        *(f"top_{n}_gram" for n in _TOP_NS), *(f"duplicated_{n}_n_grams" for n in _DUP_NS)))

    # every n in 2..10 is scored whatever `top_n_grams` / `dup_n_grams` list: they are thresholds
    decide_params: ClassVar[tuple[str, ...]] = ("dup_line_frac", "dup_para_frac", "dup_line_char_frac",
                                                "dup_para_char_frac", "top_n_grams", "dup_n_grams")
    uses_words: ClassVar[bool] = True
    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "gopher_n_chars": pa.int64(),
        "gopher_dup_para_frac": pa.float64(), "gopher_dup_para_char_frac": pa.float64(),
        "gopher_dup_line_frac": pa.float64(), "gopher_dup_line_char_frac": pa.float64(),
        **{f"gopher_top_{n}gram_char_frac": pa.float64() for n in _TOP_NS},
        **{f"gopher_dup_{n}gram_char_frac": pa.float64() for n in _DUP_NS},
        "gopher_repetition_skipped": pa.string()}

    _non_negative = no_negative("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac")

    @field_validator("top_n_grams")
    @classmethod
    def _top(cls, v):
        return _ngram_pairs(v, "top_n_grams", _TOP_NS)

    @field_validator("dup_n_grams")
    @classmethod
    def _dup(cls, v):
        return _ngram_pairs(v, "dup_n_grams", _DUP_NS)

    def score(self, docs: pa.Table, words: Words | None = None) -> dict[str, pa.Array]:
        batch = Words.of(docs, words)
        voc = batch.vocab
        n = docs.num_rows
        cols: dict[str, list] = {name: [None] * n for name in self.signal_types}
        n_chars, para_f, para_cf = cols["gopher_n_chars"], cols["gopher_dup_para_frac"], cols["gopher_dup_para_char_frac"]
        line_f, line_cf, skipped = cols["gopher_dup_line_frac"], cols["gopher_dup_line_char_frac"], cols["gopher_repetition_skipped"]
        gram_cols = {n_: cols[f"gopher_top_{n_}gram_char_frac"] for n_ in _TOP_NS}
        gram_cols.update({n_: cols[f"gopher_dup_{n_}gram_char_frac"] for n_ in _DUP_NS})
        for i, (text, lang) in enumerate(zip(batch.texts, doc_langs(docs, self.language))):
            L = len(text)
            n_chars[i] = L
            if not L:
                continue
            paragraphs = _PARA_SPLIT.split(text.strip())
            d, c = find_duplicates(paragraphs)
            para_f[i] = d / len(paragraphs)
            para_cf[i] = c / L
            lines = _LINE_SPLIT.split(text)
            d, c = find_duplicates(lines)
            line_f[i] = d / len(lines)
            line_cf[i] = c / L
            if lang in UNSEGMENTED_LANGS:
                skipped[i] = f"ngrams:unsegmented_{lang}"
                continue
            ids = batch[i]
            for n_, chars in _ngram_stats(ids, voc.lens(ids), len(voc.ids)).items():
                gram_cols[n_][i] = chars / L
        return {name: pa.array(v, self.signal_types[name]) for name, v in cols.items()}

    def decide(self, table: pa.Table) -> pa.Array:
        t, k = table, "gopher_repetition:"
        checks = [
            (pc.equal(t.column("gopher_n_chars"), 0), k + "empty"),
            (fails_gt(t, "gopher_dup_para_frac", self.dup_para_frac), k + "dup_para_frac"),
            (fails_gt(t, "gopher_dup_para_char_frac", self.dup_para_char_frac), k + "dup_para_char_frac"),
            (fails_gt(t, "gopher_dup_line_frac", self.dup_line_frac), k + "dup_line_frac"),
            (fails_gt(t, "gopher_dup_line_char_frac", self.dup_line_char_frac), k + "dup_line_char_frac")]
        checks += [(pc.greater(t.column(f"gopher_top_{n}gram_char_frac"), f), k + f"top_{n}_gram")
                  for n, f in self.top_n_grams]
        checks += [(pc.greater(t.column(f"gopher_dup_{n}gram_char_frac"), f), k + f"duplicated_{n}_n_grams")
                  for n, f in self.dup_n_grams]
        return rules(t.num_rows, checks)

