"""spaCy's English tokenizer and sentencizer, re-implemented in plain Python, without spaCy.

datatrove's Gopher, FineWeb and C4 filters split words with `spacy.blank("en")` (the assignment of English
in datatrove's tokenizer table) and count C4 sentences with spaCy's rule-based `sentencizer`. To make the
same decisions without the cost (datatrove tokenizes inside `memory_zone()`, so spaCy's cache is off and
every document pays the full affix search; bench/README.md has the figure), this module ports the algorithm of
`spacy/tokenizer.pyx` (`_tokenize_affixes`, `_split_affixes`, `_attach_tokens`, the special-case matcher)
and runs it once per distinct whitespace-separated chunk, memoised per process.

The rule data (prefix / suffix / infix / URL regexes, the 1,347 special cases, the sentencizer's
punctuation) is spaCy's own, dumped to `spacy_en_tokenizer.json` (spaCy is MIT-licensed). Regenerate it
with spaCy installed: `python -m filters.spacy_en --regen`.

Known, deliberate differences: none at the word level for text without special-case phrases spanning
several tokens *across* a space (spaCy's matcher then leaves tokens as they are, as we do).
"""
from __future__ import annotations

import json
import re
import sys
import unicodedata
from functools import cache
from itertools import chain
from pathlib import Path

DATA_PATH = Path(__file__).with_name("spacy_en_tokenizer.json")
_WS_SPLIT = re.compile(r"(\s+)")
_MAX_CACHE = 500_000


def _suffix_width(pattern: str, flags: int) -> int:
    """The longest match of the suffix rules other than a run of dots (`\\.\\.+$`), plus a margin; 0 (search
    the whole chunk) when the pattern is not a plain alternation of `$`-anchored rules."""
    from re import _constants as sc, _parser as sp  # the stdlib's own regex parser

    try:
        parsed = sp.parse(pattern, flags)
        if len(parsed.data) != 1 or parsed.data[0][0] != sc.BRANCH:
            return 0
        widest = 0
        for branch in parsed.data[0][1][1]:
            if not branch.data or branch.data[-1] != (sc.AT, sc.AT_END):
                return 0
            hi = branch.getwidth()[1]
            if hi >= sc.MAXREPEAT:
                if str(branch) != str(sp.parse(r"\.\.+$", flags)):
                    return 0
                continue
            widest = max(widest, hi)
        return widest + 3
    except Exception:  # noqa: BLE001 - any surprise: search the whole chunk, as spaCy does
        return 0


class _ChunkCache(dict):
    """chunk -> its tokens; a miss tokenizes (so `map(cache.__getitem__, chunks)` runs at C speed)."""

    def __init__(self, tokenizer: "EnglishTokenizer"):
        super().__init__()
        self._tok = tokenizer

    def __missing__(self, chunk: str) -> tuple[str, ...]:
        return self._tok.chunk_tokens(chunk)


class EnglishTokenizer:
    """`words(text)` == datatrove's `split_into_words(text, "eng")` (spaCy tokens, whitespace dropped)."""

    def __init__(self, data: dict):
        self.spacy_version = data["spacy_version"]
        self.prefix_search = re.compile(data["prefix"], data["prefix_flags"]).search
        self.suffix_search = re.compile(data["suffix"], data["suffix_flags"]).search
        self._suffix_width = _suffix_width(data["suffix"], data["suffix_flags"])
        self.infix_finditer = re.compile(data["infix"], data["infix_flags"]).finditer
        self.url_match = re.compile(data["url"], data["url_flags"]).match if data.get("url") else None
        self.token_match = re.compile(data["token_match"], data["token_match_flags"]).match \
            if data.get("token_match") else None
        self.specials: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in data["rules"].items()}
        self.punct_chars = frozenset(data["punct_chars"])
        # the special-case matcher: cases the affix rules would split (spaCy's faster_heuristics)
        self._matcher: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for key in sorted(self.specials):
            if self._find_prefix(key) or self._find_suffix(key) or any(True for _ in self.infix_finditer(key)) \
                    or " " in key:
                pattern = tuple(self._tokenize(key, False))
                if pattern:
                    self._matcher.setdefault(pattern[0], []).append((pattern, key))
        # punctuation that the suffix rules split off after any letters (checked here on sample words)
        self._safe_suffixes = frozenset(
            c for c in ",;:!?)]}\""
            if all(self._tokenize(w + c, False) == [w, c]
                   for w in ("word", "Word", "WORD", "a", "I", "é", "ßx", "ж", "1", "2024", "0")))
        self._max_pattern = max((len(p) for ps in self._matcher.values() for p, _ in ps), default=0)
        self.cache: dict[str, tuple[str, ...]] = _ChunkCache(self)
        self._chunks = self.cache
        self._punct_cache: dict[str, bool] = {}
        self._trans: dict[str, tuple[int, bool, int, bool]] = {}

    # --- spaCy's affix algorithm, one chunk (a maximal run of non-whitespace) at a time ---------------

    def _find_prefix(self, s: str) -> int:
        m = self.prefix_search(s)
        return m.end() - m.start() if m is not None else 0

    def _find_suffix(self, s: str) -> int:
        # every suffix rule is anchored at the end; all but `\.\.+$` match at most `_suffix_width` chars,
        # so the search can start near the end (lookbehinds still see the characters before `pos`)
        w = self._suffix_width
        if w and len(s) > w and not s.endswith(".."):
            m = self.suffix_search(s, len(s) - w)
        else:
            m = self.suffix_search(s)
        return m.end() - m.start() if m is not None else 0

    def _tokenize(self, string: str, with_special_cases: bool) -> list[str]:
        specials = self.specials
        if with_special_cases and string in specials:
            return list(specials[string])
        prefixes: list[str] = []
        suffixes: list[str] = []
        last_size = 0
        while string and len(string) != last_size:
            if self.token_match and self.token_match(string):
                break
            if with_special_cases and string in specials:
                break
            last_size = len(string)
            pre_len = self._find_prefix(string)
            if pre_len != 0:
                prefix = string[:pre_len]
                minus_pre = string[pre_len:]
                if minus_pre and with_special_cases and minus_pre in specials:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self._find_suffix(string[pre_len:])
            if suf_len != 0:
                suffix = string[-suf_len:]
                minus_suf = string[:-suf_len]
                if minus_suf and with_special_cases and minus_suf in specials:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and (pre_len + suf_len) <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        out = prefixes
        if string:
            if with_special_cases and string in specials:
                out.extend(specials[string])
            elif (self.token_match and self.token_match(string)) or (self.url_match and self.url_match(string)):
                out.append(string)
            else:
                start = 0
                for m in self.infix_finditer(string):
                    infix_start, infix_end = m.start(), m.end()
                    if infix_start == 0:
                        continue
                    if infix_start != start:
                        out.append(string[start:infix_start])
                    if infix_start != infix_end:
                        out.append(string[infix_start:infix_end])
                    start = infix_end
                if string[start:]:
                    out.append(string[start:])
        out.extend(reversed(suffixes))
        return out

    def _apply_matcher(self, toks: list[str]) -> list[str]:
        """spaCy's `_apply_special_cases`, restricted to one chunk (matches across a space never apply)."""
        matcher = self._matcher
        spans = []
        for i, t in enumerate(toks):
            for pattern, key in matcher.get(t, ()):
                n = len(pattern)
                if tuple(toks[i:i + n]) == pattern:
                    spans.append((i, i + n, key))
        if not spans:
            return toks
        # longest first, then leftmost; a span is kept if neither its first nor its last token is taken
        spans.sort(key=lambda s: (s[1] - s[0], -s[0]))
        seen: set[int] = set()
        kept = []
        for s, e, key in reversed(spans):
            if s not in seen and (e - 1) not in seen:
                kept.append((s, e, key))
            seen.update(range(s, e))
        kept.sort()
        out: list[str] = []
        i = 0
        for s, e, key in kept:
            out.extend(toks[i:s])
            out.extend(self.specials[key])
            i = e
        out.extend(toks[i:])
        return out

    def chunk_tokens(self, chunk: str) -> tuple[str, ...]:
        toks = self.cache.get(chunk)
        if toks is None:
            if (chunk.isalpha() or (chunk.isdigit() and chunk.isascii())) and chunk not in self.specials:
                # no prefix, suffix or infix rule of spaCy's English matches a run of letters (checked on
                # every alphabetic word of 75 languages, tests/test_quality_filters.py) or of ASCII digits:
                # it saves the regex searches on most cache misses
                lst = [chunk]
            elif (len(chunk) > 1 and (chunk[:-1].isalpha() or (chunk[:-1].isdigit() and chunk.isascii()))
                  and chunk not in self.specials
                  and (chunk[-1] in self._safe_suffixes or (chunk[-1] == "." and "a" <= chunk[-2] <= "z"))):
                # letters or digits + one punctuation mark that is always a suffix after them (`,` `;` `)`
                # ..., and `.` after a lower-case ASCII letter): what `_split_affixes` does, minus the regexes
                lst = [*self.chunk_tokens(chunk[:-1]), chunk[-1]]
            else:
                lst = self._tokenize(chunk, True)
            if len(lst) > 1 and self._matcher:
                lst = self._apply_matcher(lst)
            toks = tuple(lst)
            if len(self.cache) >= _MAX_CACHE:
                self.cache.clear()
            dict.__setitem__(self.cache, chunk, toks)
        return toks

    # --- public API ------------------------------------------------------------------------------------

    def words(self, text: str) -> list[str]:
        """The non-whitespace tokens of `text`, as datatrove's `split_into_words(text, "eng")` returns them."""
        return list(chain.from_iterable(map(self._chunks.__getitem__, text.split())))

    def is_punct(self, tok: str) -> bool:
        v = self._punct_cache.get(tok)
        if v is None:
            v = all(unicodedata.category(c).startswith("P") for c in tok)
            if len(self._punct_cache) >= _MAX_CACHE:
                self._punct_cache.clear()
            self._punct_cache[tok] = v
        return v

    def _transition(self, chunk: str) -> tuple[int, bool, int, bool]:
        """What a chunk does to the sentencizer's state: (sentences started, seen_period after) for an
        incoming seen_period of False, then of True."""
        if len(self._trans) >= _MAX_CACHE:
            self._trans.clear()
        if chunk.isalpha() and chunk not in self.specials:  # one word token (see chunk_tokens)
            return (0, False, 1, False)
        punct = self.punct_chars
        out = []
        for seen in (False, True):
            n = 0
            for t in self.chunk_tokens(chunk):
                if t in punct:
                    seen = True
                elif seen and not self.is_punct(t):
                    n += 1
                    seen = False
            out += [n, seen]
        return tuple(out)

    def count_sentences(self, text: str) -> int:
        """Sentences of `text` under spaCy's rule-based `sentencizer` (what datatrove's English
        `split_into_sentences` returns, min 1): a sentence ends after a token that is one of the
        sentencizer's punctuation characters, at the next token that is not punctuation. Whitespace runs
        other than a single space are tokens too (spaCy keeps them), so they count as non-punctuation.
        The effect of each chunk on that state machine is memoised."""
        trans = self._trans
        chunks = text.split()
        n = 1
        seen = False
        if text.split(" ") == chunks:  # only single spaces between chunks: no whitespace tokens
            for ch in chunks:
                t = trans.get(ch)
                if t is None:
                    t = trans[ch] = self._transition(ch)
                if seen:
                    n += t[2]
                    seen = t[3]
                else:
                    n += t[0]
                    seen = t[1]
            return n
        for piece in _WS_SPLIT.split(text):
            if not piece:
                continue
            if piece.isspace():
                # spaCy: a single ' ' after a token is that token's trailing space; anything else is a token
                if seen and (piece[0] != " " or len(piece) > 1):
                    n += 1
                    seen = False
                continue
            t = trans.get(piece)
            if t is None:
                t = trans[piece] = self._transition(piece)
            if seen:
                n += t[2]
                seen = t[3]
            else:
                n += t[0]
                seen = t[1]
        return n


@cache
def english_tokenizer() -> EnglishTokenizer:
    """One tokenizer per process (the rule data loads once; the chunk cache is shared by all filters)."""
    import pkgutil

    # pkgutil reads package data from a folder or from a zip (spark-submit --py-files tamis.zip) alike
    return EnglishTokenizer(json.loads(pkgutil.get_data("filters", DATA_PATH.name).decode("utf-8")))


def _regen() -> None:  # pragma: no cover - developer tool, needs spaCy
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    t = nlp.tokenizer

    def pat(fn):
        return (fn.__self__.pattern, fn.__self__.flags & ~re.UNICODE) if fn is not None else (None, 0)

    data = {"spacy_version": spacy.__version__}
    for name, fn in [("prefix", t.prefix_search), ("suffix", t.suffix_search), ("infix", t.infix_finditer),
                     ("url", t.url_match), ("token_match", t.token_match)]:
        data[name], data[name + "_flags"] = pat(fn)
    data["rules"] = {k: [d[65] if 65 in d else d["ORTH"] for d in v] for k, v in sorted(t.rules.items())}
    data["punct_chars"] = sorted(nlp.get_pipe("sentencizer").punct_chars)
    DATA_PATH.write_text(json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {DATA_PATH} (spaCy {spacy.__version__}, {len(data['rules'])} special cases)")


if __name__ == "__main__":  # pragma: no cover
    if "--regen" in sys.argv:
        _regen()
