"""Heuristic web-text quality filters: Gopher quality, Gopher repetition, C4 and FineWeb.

Each is a port of the datatrove class of the same name (datatrove 0.10.1, `pipeline/filters/`), with the
same parameters and defaults, split into signals (computed once, stored) and a decision (thresholds applied
to the stored signals). On English web text they make the same keep/drop decision as datatrove
(tests/test_quality_filters.py measures it on real pages); they are much faster because the work datatrove
repeats per document is done once per distinct string (words are split by `filters.spacy_en`, a port of
the spaCy English tokenizer datatrove uses, memoised per whitespace-separated chunk) and n-gram statistics
use numpy.

Languages. Every rule here was written for English. The document's `lang` column (filled in by the
`language` filter earlier in the chain; null means the filter's `language` parameter, default `en`) selects:
- word lists (Gopher stop words): applied where the filter has a list for that language (`stop_words` for
  `language`, plus `stop_words_per_lang`); otherwise the rule is skipped;
- word-based rules on text written without spaces between words (`UNSEGMENTED_LANGS`: zh, ja, th, ...):
  skipped, since whitespace tokens there are clauses, not words;
- terminal punctuation (C4 and FineWeb line rules): C4's ASCII list for `en`, C4's list plus every script's
  sentence-final marks (datatrove's `TERMINAL_PUNCTUATION`) for other languages, skipped for languages that
  do not end sentences with a mark (`NO_TERMINAL_PUNCT_LANGS`: th, lo, bo).
A skipped rule leaves its signal null (null passes) and is named in the filter's `<kind>_skipped` column,
e.g. `stop_words:no_list_for_sw`, so the manifest can count skips.
C4's `javascript` and policy phrases (`terms of use`, `uses cookies`, ...) apply to every language: they only
remove lines, so a page in another language is never dropped for not containing them.

C4 note: datatrove's `C4QualityFilter` also *rewrites* the text (drops lines without terminal punctuation,
with `javascript`, with policy phrases, strips `[1]` citations). tamis filters never modify text: this filter
computes the document-level decision datatrove makes (lorem ipsum, curly bracket, fewer than
`min_num_sentences` sentences in the lines C4 would keep) and leaves the text as it is.
"""
from __future__ import annotations

import re
from array import array
from functools import cache
from itertools import chain
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION
from pydantic import field_validator

from filters.base import Filter, first_reason, texts
from filters.spacy_en import english_tokenizer

# Written without spaces between words: whitespace-split "words" are clauses or lines there.
UNSEGMENTED_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue"})
# Languages whose sentences do not end with a punctuation mark that datatrove's list knows.
NO_TERMINAL_PUNCT_LANGS = frozenset({"th", "lo", "bo"})
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def doc_langs(docs: pa.Table, default: str) -> list[str]:
    """The language of every row: the `lang` column where set, else `default`."""
    if "lang" not in docs.column_names:
        return [default] * docs.num_rows
    return pc.fill_null(docs.column("lang"), default).to_pylist()


def _f64(values) -> pa.Array:
    return pa.array(values, pa.float64())


def _i64(values) -> pa.Array:
    return pa.array(values, pa.int64())


def _fails_gt(table: pa.Table, col: str, thr) -> pa.Array | None:
    return pc.greater(table.column(col), thr) if thr else None


def _fails_lt(table: pa.Table, col: str, thr) -> pa.Array | None:
    return pc.less(table.column(col), thr) if thr else None


def _rules(n: int, rules: list[tuple[pa.Array | None, str]]) -> pa.Array:
    return first_reason(n, [(m, r) for m, r in rules if m is not None])


# ---------------------------------------------------------------------------------------------------------
# token ids, memoised per process: every distinct whitespace-separated chunk is tokenized once, its tokens
# get ids, and per id the token's length and flags live in numpy arrays (so per-document statistics are
# numpy reductions over an id array, not Python loops over strings)

_PUNCT = frozenset(PUNCTUATION_SET)
_WORD, _ALPHA = 1, 2  # flags: not only punctuation (a Gopher "word"); has a letter


class _ChunkIds(dict):
    def __init__(self, vocab: "_Vocab"):
        super().__init__()
        self._vocab = vocab

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        v = self._vocab
        ids = tuple(map(v.token_id, v.tokenizer.chunk_tokens(chunk)))
        self[chunk] = ids
        return ids


class _Vocab:
    MAX_CHUNKS = 1_000_000

    def __init__(self):
        self.tokenizer = english_tokenizer()
        self._reset()

    def _reset(self) -> None:
        self.reset_count = getattr(self, "reset_count", -1) + 1
        self._memo = None
        self.ids: dict[str, int] = {}
        self.chunk_ids = _ChunkIds(self)
        self._lens = array("q")  # per token id; appended at C speed, read through numpy views
        self._flags = array("b")

    def token_id(self, tok: str) -> int:
        i = self.ids.get(tok)
        if i is None:
            i = self.ids[tok] = len(self.ids)
            self._lens.append(len(tok))
            self._flags.append((0 if _PUNCT.issuperset(tok) else _WORD) | (_ALPHA if any(map(str.isalpha, tok)) else 0))
        return i

    # numpy reads of the per-id arrays; the temporary view is dropped before the arrays grow again
    def lens(self, ids: np.ndarray) -> np.ndarray:
        return np.frombuffer(self._lens, np.int64)[ids]

    def flags(self, ids: np.ndarray) -> np.ndarray:
        return np.frombuffer(self._flags, np.int8)[ids]

    def token_ids(self, text: str) -> np.ndarray:
        """The ids of `text`'s tokens (spaCy English), int64."""
        if len(self.chunk_ids) >= self.MAX_CHUNKS:  # bound memory; ids only need to be stable within a doc
            self._reset()
        return np.fromiter(chain.from_iterable(map(self.chunk_ids.__getitem__, text.split())), np.int64)

    def batch(self, docs: pa.Table) -> "_BatchIds":
        """Token ids of a batch's texts, computed on first use and shared by the filters that score the same
        batch (Gopher quality, Gopher repetition and FineWeb all split words). The memo holds the text column
        itself, so its buffers stay alive: an equal key (buffer addresses, offsets, lengths) means the same
        immutable data."""
        col = docs.column("text")
        key = tuple((tuple(b.address if b is not None else 0 for b in c.buffers()), c.offset, len(c))
                    for c in col.chunks)
        memo = self._memo
        if memo is not None and memo[0] == key and memo[2].reset_count == self.reset_count:
            return memo[2]
        b = _BatchIds(self, texts(docs))
        self._memo = (key, col, b)
        return b


class _BatchIds:
    def __init__(self, voc: _Vocab, txts: list[str]):
        self.voc = voc
        self.texts = txts
        self.reset_count = voc.reset_count
        self._ids: list[np.ndarray | None] = [None] * len(txts)

    def __getitem__(self, i: int) -> np.ndarray:
        ids = self._ids[i]
        if ids is None or self.reset_count != self.voc.reset_count:
            if self.reset_count != self.voc.reset_count:  # the vocabulary was reset: all ids are stale
                self._ids = [None] * len(self.texts)
                self.reset_count = self.voc.reset_count
            ids = self._ids[i] = self.voc.token_ids(self.texts[i])
        return ids


@cache
def vocab() -> _Vocab:
    return _Vocab()


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
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8  # datatrove's name: the minimum share of words with a letter
    min_stop_words: int | None = 2
    stop_words: list[str] | None = None  # for `language`; default Gopher's eight English words
    stop_words_per_lang: dict[str, list[str]] = {}
    language: str = "en"

    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "gopher_n_words": pa.int64(), "gopher_mean_word_len": pa.float64(), "gopher_hash_ratio": pa.float64(),
        "gopher_ellipsis_ratio": pa.float64(), "gopher_bullet_lines_frac": pa.float64(),
        "gopher_ellipsis_lines_frac": pa.float64(), "gopher_alpha_words_frac": pa.float64(),
        "gopher_stop_words": pa.int64(), "gopher_quality_skipped": pa.string()}

    def _stop_lists(self) -> dict[str, frozenset[str]]:
        lists = {self.language: frozenset(GOPHER_STOP_WORDS if self.stop_words is None else self.stop_words)}
        lists.update({k: frozenset(v) for k, v in self.stop_words_per_lang.items()})
        return lists

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        voc = vocab()
        batch = voc.batch(docs)
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
                word = (flags & _WORD).astype(bool)
                n_sym_free = int(np.count_nonzero(word))
                n_words[i] = n_sym_free
                if n_sym_free:
                    mean_len[i] = int(voc.lens(ids[word]).sum()) / n_sym_free
                hash_r[i] = text.count("#") / nw
                ell_r[i] = (text.count("...") + text.count("…")) / nw
                alpha_f[i] = int(np.count_nonzero(flags & _ALPHA)) / nw
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
        return _rules(t.num_rows, [
            (_fails_lt(t, "gopher_n_words", self.min_doc_words), k + "short_doc"),
            (_fails_gt(t, "gopher_n_words", self.max_doc_words), k + "long_doc"),
            (_fails_lt(t, "gopher_mean_word_len", self.min_avg_word_length), k + "below_avg_word_len"),
            (_fails_gt(t, "gopher_mean_word_len", self.max_avg_word_length), k + "above_avg_word_len"),
            (_fails_gt(t, "gopher_hash_ratio", self.max_symbol_word_ratio), k + "too_many_hashes"),
            (_fails_gt(t, "gopher_ellipsis_ratio", self.max_symbol_word_ratio), k + "too_many_ellipsis"),
            (_fails_gt(t, "gopher_bullet_lines_frac", self.max_bullet_lines_ratio), k + "too_many_bullets"),
            (_fails_gt(t, "gopher_ellipsis_lines_frac", self.max_ellipsis_lines_ratio), k + "too_many_end_ellipsis"),
            (_fails_lt(t, "gopher_alpha_words_frac", self.max_non_alpha_words_ratio), k + "below_alpha_threshold"),
            (_fails_lt(t, "gopher_stop_words", self.min_stop_words), k + "few_stop_words"),
        ])


# ---------------------------------------------------------------------------------------------------------
# Gopher repetition

_PARA_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile("\n+")
_TOP_NS = (2, 3, 4)
_DUP_NS = (5, 6, 7, 8, 9, 10)


def _find_duplicates(parts: list[str]) -> tuple[int, int]:
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


try:  # pandas' hash table directly: pd.factorize's checks cost more than the hashing on short arrays
    from pandas._libs.hashtable import Int64HashTable

    def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        uniques, codes = Int64HashTable(len(values)).factorize(values)
        return codes, uniques
except ImportError:  # pragma: no cover
    def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return pd.factorize(values)


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
        codes, uniques = _factorize(codes[:m] * k + ids[n - 1:])
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
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11),
                                                  (10, 0.10))
    language: str = "en"

    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "gopher_n_chars": pa.int64(),
        "gopher_dup_para_frac": pa.float64(), "gopher_dup_para_char_frac": pa.float64(),
        "gopher_dup_line_frac": pa.float64(), "gopher_dup_line_char_frac": pa.float64(),
        **{f"gopher_top_{n}gram_char_frac": pa.float64() for n in _TOP_NS},
        **{f"gopher_dup_{n}gram_char_frac": pa.float64() for n in _DUP_NS},
        "gopher_repetition_skipped": pa.string()}

    @field_validator("top_n_grams")
    @classmethod
    def _top(cls, v):
        return _ngram_pairs(v, "top_n_grams", _TOP_NS)

    @field_validator("dup_n_grams")
    @classmethod
    def _dup(cls, v):
        return _ngram_pairs(v, "dup_n_grams", _DUP_NS)

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        voc = vocab()
        batch = voc.batch(docs)
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
            d, c = _find_duplicates(paragraphs)
            para_f[i] = d / len(paragraphs)
            para_cf[i] = c / L
            lines = _LINE_SPLIT.split(text)
            d, c = _find_duplicates(lines)
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
        rules = [
            (pc.equal(t.column("gopher_n_chars"), 0), k + "empty"),
            (_fails_gt(t, "gopher_dup_para_frac", self.dup_para_frac), k + "dup_para_frac"),
            (_fails_gt(t, "gopher_dup_para_char_frac", self.dup_para_char_frac), k + "dup_para_char_frac"),
            (_fails_gt(t, "gopher_dup_line_frac", self.dup_line_frac), k + "dup_line_frac"),
            (_fails_gt(t, "gopher_dup_line_char_frac", self.dup_line_char_frac), k + "dup_line_char_frac")]
        rules += [(pc.greater(t.column(f"gopher_top_{n}gram_char_frac"), f), k + f"top_{n}_gram")
                  for n, f in self.top_n_grams]
        rules += [(pc.greater(t.column(f"gopher_dup_{n}gram_char_frac"), f), k + f"duplicated_{n}_n_grams")
                  for n, f in self.dup_n_grams]
        return _rules(t.num_rows, rules)


# ---------------------------------------------------------------------------------------------------------
# C4

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
_C4_END_MULTI = tuple(sorted(set(C4_END_PUNCTUATION) | set(TERMINAL_PUNCTUATION)))
C4_POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                        "use cookies")


class C4Quality(Filter):
    """C4's page rules (Raffel et al. 2020), as datatrove's `C4QualityFilter` in its default configuration
    (lines split on newlines), deciding keep/drop only: the text is not rewritten (see the module doc).

    A line counts (is one C4 would keep) when no word is longer than `max_word_length`, it ends in terminal
    punctuation (and not `...`; `[1]`-style citations removed first), has at least `min_words_per_line`
    words, does not mention `javascript` and has no policy phrase.
    Signals: `c4_n_lines` (lines), `c4_n_kept_lines`, `c4_n_sentences` (spaCy-sentencizer sentences in the
    kept lines), `c4_javascript_lines`, `c4_policy_lines` (lines removed for those), `c4_lorem_ipsum` and
    `c4_curly_bracket` (a line that passed the earlier line rules contains `lorem ipsum` / `{`),
    `c4_quality_skipped`.
    """
    kind: Literal["c4_quality"] = "c4_quality"
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int = 5  # -1 disables
    min_words_per_line: int = 3  # -1 disables
    max_word_length: int = 1000  # -1 disables
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    language: str = "en"

    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "c4_n_lines": pa.int64(), "c4_n_kept_lines": pa.int64(), "c4_n_sentences": pa.int64(),
        "c4_javascript_lines": pa.int64(), "c4_policy_lines": pa.int64(), "c4_lorem_ipsum": pa.bool_(),
        "c4_curly_bracket": pa.bool_(), "c4_quality_skipped": pa.string()}

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        count_sentences = english_tokenizer().count_sentences
        batch = vocab().batch(docs)
        n = docs.num_rows
        cols: dict[str, list] = {name: [None] * n for name in self.signal_types}
        max_wl = self.max_word_length
        cite = self.remove_citations
        js, policy = self.filter_javascript, self.filter_policy
        for i, (text, lang) in enumerate(zip(batch.texts, doc_langs(docs, self.language))):
            skips = []
            end_punct = C4_END_PUNCTUATION if lang == "en" else _C4_END_MULTI
            check_punct = self.filter_no_terminal_punct
            if check_punct and lang in NO_TERMINAL_PUNCT_LANGS:
                check_punct = False
                skips.append(f"terminal_punct:none_in_{lang}")
            min_words = self.min_words_per_line
            word_len = max_wl
            if lang in UNSEGMENTED_LANGS:
                min_words, word_len = -1, -1
                skips.append(f"word_rules:unsegmented_{lang}")
            lines = text.splitlines()
            n_kept = n_sent = n_js = n_policy = 0
            lorem = curly = False
            for line in lines:
                line = line.strip()
                words = line.split()
                if word_len != -1 and len(line) > word_len and any(len(w) > word_len for w in words):
                    continue
                if cite and "[" in line:
                    line = _CITATION.sub("", line)
                if check_punct and (not line.endswith(end_punct) or line.endswith("...")):
                    continue
                if len(words) < min_words:
                    continue
                line_l = line.lower()
                if "lorem ipsum" in line_l:
                    lorem = True
                if js and "javascript" in line_l:
                    n_js += 1
                    continue
                if "{" in line:
                    curly = True
                if policy and any(p in line_l for p in C4_POLICY_SUBSTRINGS):
                    n_policy += 1
                    continue
                n_sent += count_sentences(line)  # always counted, so min_num_sentences can change later
                n_kept += 1
            for name, v in (("c4_n_lines", len(lines)), ("c4_n_kept_lines", n_kept), ("c4_n_sentences", n_sent),
                            ("c4_javascript_lines", n_js), ("c4_policy_lines", n_policy), ("c4_lorem_ipsum", lorem),
                            ("c4_curly_bracket", curly), ("c4_quality_skipped", ",".join(skips) or None)):
                cols[name][i] = v
        return {name: pa.array(v, self.signal_types[name]) for name, v in cols.items()}

    def decide(self, table: pa.Table) -> pa.Array:
        t, k = table, "c4_quality:"
        return _rules(t.num_rows, [
            (t.column("c4_lorem_ipsum") if self.filter_lorem_ipsum else None, k + "lorem_ipsum"),
            (t.column("c4_curly_bracket") if self.filter_curly_bracket else None, k + "curly_bracket"),
            (pc.less(t.column("c4_n_sentences"), self.min_num_sentences), k + "too_few_sentences"),
        ])


# ---------------------------------------------------------------------------------------------------------
# FineWeb

class FineWebQuality(Filter):
    """FineWeb's own rules (Penedo et al. 2024), as datatrove's `FineWebQualityFilter`.

    Signals: `fineweb_n_lines` (non-blank lines), `fineweb_line_punct_ratio` (lines ending in terminal
    punctuation), `fineweb_short_line_ratio` (lines of at most `short_line_length` characters),
    `fineweb_char_dup_ratio` (characters in repeated lines / characters without newlines),
    `fineweb_list_ratio` (newlines per word), `fineweb_quality_skipped`.
    """
    kind: Literal["fineweb_quality"] = "fineweb_quality"
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: list[str] | None = None  # default: datatrove's TERMINAL_PUNCTUATION (every script)
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3
    language: str = "en"

    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "fineweb_n_lines": pa.int64(), "fineweb_line_punct_ratio": pa.float64(),
        "fineweb_short_line_ratio": pa.float64(), "fineweb_char_dup_ratio": pa.float64(),
        "fineweb_list_ratio": pa.float64(), "fineweb_quality_skipped": pa.string()}

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        batch = vocab().batch(docs)
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
            dup_r[i] = _find_duplicates(lines)[1] / (len(text) - text.count("\n"))
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
        return _rules(t.num_rows, [
            (pc.equal(t.column("fineweb_n_lines"), 0), k + "empty"),
            (punct_fails, k + "line_punct_ratio"),
            (pc.greater(t.column("fineweb_short_line_ratio"), self.short_line_thr), k + "short_line_ratio"),
            (pc.greater(t.column("fineweb_char_dup_ratio"), self.char_duplicates_ratio), k + "char_dup_ratio"),
            (pc.greater(t.column("fineweb_list_ratio"), self.new_line_ratio), k + "list_ratio"),
        ])
