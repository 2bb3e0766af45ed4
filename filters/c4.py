"""C4's page rules (Raffel et al. 2020), a port of datatrove's `C4QualityFilter` (datatrove 0.10.1).

datatrove's filter also *rewrites* the text (drops lines without terminal punctuation, with `javascript`,
with policy phrases, strips `[1]` citations). tamis filters never modify text: this filter computes the
document-level decision datatrove makes (lorem ipsum, curly bracket, fewer than `min_num_sentences`
sentences in the lines C4 would keep) and leaves the text as it is.

Languages (see `filters.text.langs`): terminal punctuation is C4's ASCII list for `en`, C4's list plus every
script's sentence-final marks (datatrove's `TERMINAL_PUNCTUATION`) for other languages, and skipped for
languages that do not end sentences with a mark; word rules are skipped for unsegmented languages.
`javascript` and policy phrases apply to every language: they only remove lines, so a page in another
language is never dropped for not containing them.
"""
from __future__ import annotations

import re
from typing import ClassVar, Literal

import pyarrow as pa
from datatrove.utils.text import TERMINAL_PUNCTUATION

from filters.base import Filter, fails_lt, no_negative, param, rules
from filters.spacy_en import english_tokenizer
from filters.text.langs import NO_TERMINAL_PUNCT_LANGS, UNSEGMENTED_LANGS, doc_langs
from filters.text.words import Words

C4 = "C4 (Raffel et al. 2020)"
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
    remove_citations: bool = param(True, "remove `[1]`, `[edit]`, `[citation needed]` before the line rules", C4)
    filter_no_terminal_punct: bool = param(True, "a line counts only if it ends in terminal punctuation", C4)
    min_num_sentences: int | None = param(5, "drop with fewer sentences in the lines C4 keeps; null: no minimum", C4)
    min_words_per_line: int | None = param(3, "a line counts only with at least this many words; null: any", C4)
    max_word_length: int | None = param(1000, "a line with a longer word does not count; null: no limit", C4)
    filter_lorem_ipsum: bool = param(True, "drop pages containing `lorem ipsum`", C4)
    filter_javascript: bool = param(True, "lines mentioning `javascript` do not count", C4)
    filter_curly_bracket: bool = param(True, "drop pages with a `{` in a counted line", C4)
    filter_policy: bool = param(True, "lines with a policy phrase (`terms of use`, `cookie policy`, ...) do not "
                                      "count", C4)
    language: str = param("en", "the language of documents without `lang`", "tamis")

    summary: ClassVar[str] = "C4's page rules (keep/drop only: the text is never rewritten)"
    literature: ClassVar[str] = "C4 (Raffel et al. 2020), as datatrove's C4QualityFilter"
    reasons: ClassVar[tuple[str, ...]] = ("c4_quality:lorem_ipsum", "c4_quality:curly_bracket",
                                          "c4_quality:too_few_sentences")

    # lorem ipsum, `{` and sentences are counted whatever these say; the line rules (punctuation, words per
    # line, javascript, policy, citations) decide which lines are counted, so they are score-side
    decide_params: ClassVar[tuple[str, ...]] = ("min_num_sentences", "filter_lorem_ipsum", "filter_curly_bracket")
    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "c4_n_lines": pa.int64(), "c4_n_kept_lines": pa.int64(), "c4_n_sentences": pa.int64(),
        "c4_javascript_lines": pa.int64(), "c4_policy_lines": pa.int64(), "c4_lorem_ipsum": pa.bool_(),
        "c4_curly_bracket": pa.bool_(), "c4_quality_skipped": pa.string()}

    uses_words: ClassVar[bool] = True  # for the batch's texts, shared with the other filters

    _non_negative = no_negative("min_num_sentences", "min_words_per_line", "max_word_length")

    def score(self, docs: pa.Table, words: Words | None = None) -> dict[str, pa.Array]:
        count_sentences = english_tokenizer().count_sentences
        batch = Words.of(docs, words)
        n = docs.num_rows
        cols: dict[str, list] = {name: [None] * n for name in self.signal_types}
        for i, (text, lang) in enumerate(zip(batch.texts, doc_langs(docs, self.language))):
            for name, v in zip(self.signal_types, self._score_doc(text, lang, count_sentences)):
                cols[name][i] = v
        return {name: pa.array(v, self.signal_types[name]) for name, v in cols.items()}

    def _score_doc(self, text: str, lang: str, count_sentences) -> tuple:
        """One document's signals, in `signal_types` order."""
        skips = []
        end_punct = C4_END_PUNCTUATION if lang == "en" else _C4_END_MULTI
        check_punct = self.filter_no_terminal_punct
        if check_punct and lang in NO_TERMINAL_PUNCT_LANGS:
            check_punct = False
            skips.append(f"terminal_punct:none_in_{lang}")
        min_words, word_len = self.min_words_per_line, self.max_word_length
        if lang in UNSEGMENTED_LANGS:
            min_words = word_len = None
            skips.append(f"word_rules:unsegmented_{lang}")
        cite, js, policy = self.remove_citations, self.filter_javascript, self.filter_policy
        lines = text.splitlines()
        n_kept = n_sent = n_js = n_policy = 0
        lorem = curly = False
        for line in lines:
            line = line.strip()
            words = line.split()
            if word_len is not None and len(line) > word_len and any(len(w) > word_len for w in words):
                continue
            if cite and "[" in line:
                line = _CITATION.sub("", line)
            if check_punct and (not line.endswith(end_punct) or line.endswith("...")):
                continue
            if min_words is not None and len(words) < min_words:
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
        return len(lines), n_kept, n_sent, n_js, n_policy, lorem, curly, ",".join(skips) or None

    def decide(self, table: pa.Table) -> pa.Array:
        t, k = table, "c4_quality:"
        return rules(t.num_rows, [
            (t.column("c4_lorem_ipsum") if self.filter_lorem_ipsum else None, k + "lorem_ipsum"),
            (t.column("c4_curly_bracket") if self.filter_curly_bracket else None, k + "curly_bracket"),
            (fails_lt(t, "c4_n_sentences", self.min_num_sentences), k + "too_few_sentences"),
        ])
