"""The filter chain on Arrow tables, no JVM: first reason, all reasons, tag mode, read failures, shared words.

`Length` is the chain's test filter here; its own tests are in test_length.py."""
from __future__ import annotations

import pyarrow as pa

from engine.schema import read_batch
from filters.chain import apply_chain, chain_schema
from filters.length import Length


def docs(texts, reasons=None):
    rows = [{"id": str(i), "text": t, "source": "s", "reason": (reasons or [None] * len(texts))[i]} for i, t in enumerate(texts)]
    return pa.Table.from_batches([read_batch(rows)])


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



def test_words_split_once_per_batch_for_every_filter(monkeypatch):
    """The chain gives every filter that needs words the same per-batch `Words`: each text is split once."""
    from filters.c4 import C4Quality
    from filters.fineweb import FineWebQuality
    from filters.gopher import GopherQuality, GopherRepetition
    from filters.text.words import Vocab

    calls = []
    split = Vocab.token_ids
    monkeypatch.setattr(Vocab, "token_ids", lambda self, text: calls.append(text) or split(self, text))
    texts = ["one two three. four five six.", "seven eight nine ten."]
    apply_chain([GopherQuality(), GopherRepetition(), C4Quality(), FineWebQuality(), Length()], docs(texts))
    assert sorted(calls) == sorted(texts)
