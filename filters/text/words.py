"""Words of a batch's texts, split once and shared by every filter that scores the batch.

Words are spaCy English tokens (`filters.spacy_en`, the tokenizer datatrove uses) of each
whitespace-separated chunk. Two levels of sharing keep this fast:
- `Vocab` (one per Python worker): every distinct chunk is tokenized once, its tokens get ids, and per id
  the token's length and flags live in arrays, so per-document statistics are numpy reductions over an id
  array instead of Python loops over strings;
- `Words` (one per batch): the batch's texts and, on first use, each document's token ids. The chain
  (filters/chain.py) creates one per batch and passes it to every filter with `uses_words`, so Gopher
  quality, Gopher repetition, C4 and FineWeb split the same texts once; a filter scored on its own
  creates its own.
"""
from __future__ import annotations

from array import array
from functools import cache
from itertools import chain

import numpy as np
import pyarrow as pa
from datatrove.utils.text import PUNCTUATION_SET

from filters.base import texts
from filters.spacy_en import english_tokenizer

_PUNCT = frozenset(PUNCTUATION_SET)
WORD, ALPHA = 1, 2  # token flags: not only punctuation (a Gopher "word"); has a letter


class _ChunkIds(dict):
    def __init__(self, vocab: "Vocab"):
        super().__init__()
        self._vocab = vocab

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        v = self._vocab
        ids = tuple(map(v.token_id, v.tokenizer.chunk_tokens(chunk)))
        self[chunk] = ids
        return ids


class Vocab:
    """Token ids of one Python worker. Ids only need to be stable within a document: when the chunk memo
    reaches MAX_CHUNKS it starts over (`reset_count` says so, and `Words` recomputes its ids)."""
    MAX_CHUNKS = 1_000_000

    def __init__(self):
        self.tokenizer = english_tokenizer()
        self._reset()

    def _reset(self) -> None:
        self.reset_count = getattr(self, "reset_count", -1) + 1
        self.ids: dict[str, int] = {}
        self.chunk_ids = _ChunkIds(self)
        self._lens = array("q")  # per token id; appended at C speed, read through numpy views
        self._flags = array("b")

    def token_id(self, tok: str) -> int:
        i = self.ids.get(tok)
        if i is None:
            i = self.ids[tok] = len(self.ids)
            self._lens.append(len(tok))
            self._flags.append((0 if _PUNCT.issuperset(tok) else WORD) | (ALPHA if any(map(str.isalpha, tok)) else 0))
        return i

    # numpy reads of the per-id arrays; the temporary view is dropped before the arrays grow again
    def lens(self, ids: np.ndarray) -> np.ndarray:
        return np.frombuffer(self._lens, np.int64)[ids]

    def flags(self, ids: np.ndarray) -> np.ndarray:
        return np.frombuffer(self._flags, np.int8)[ids]

    def token_ids(self, text: str) -> np.ndarray:
        """The ids of `text`'s tokens (spaCy English), int64."""
        if len(self.chunk_ids) >= self.MAX_CHUNKS:  # bound memory
            self._reset()
        return np.fromiter(chain.from_iterable(map(self.chunk_ids.__getitem__, text.split())), np.int64)


@cache
def vocab() -> Vocab:
    return Vocab()


class Words:
    """The words of one batch: `texts` (null as ''), and `words[i]`, document i's token ids, split on
    first use. Lazy, so a chain whose filters need no words pays nothing."""

    def __init__(self, docs: pa.Table, voc: Vocab | None = None):
        self.vocab = voc or vocab()
        self.num_rows = docs.num_rows
        self._docs: pa.Table | None = docs
        self._texts: list[str] | None = None
        self._reset_count = self.vocab.reset_count
        self._ids: list[np.ndarray | None] = [None] * docs.num_rows

    @classmethod
    def of(cls, docs: pa.Table, words: "Words | None") -> "Words":
        """`words` when given (the chain's, for this batch), else a new one for `docs`."""
        if words is None:
            return cls(docs)
        if words.num_rows != docs.num_rows:
            raise ValueError(f"Words of {words.num_rows} documents given for a batch of {docs.num_rows}")
        return words

    @property
    def texts(self) -> list[str]:
        if self._texts is None:
            self._texts = texts(self._docs)
            self._docs = None
        return self._texts

    def __getitem__(self, i: int) -> np.ndarray:
        if self._reset_count != self.vocab.reset_count:  # the vocabulary started over: all ids are stale
            self._ids = [None] * self.num_rows
            self._reset_count = self.vocab.reset_count
        ids = self._ids[i]
        if ids is None:
            ids = self._ids[i] = self.vocab.token_ids(self.texts[i])
        return ids
