"""The per-batch work of dedup's two Python passes, pure Arrow and numpy (no pyspark): engine.spark.dedup runs
these inside `mapInArrow`, one call per Arrow batch.

- features_batch: exact key (xxh3-128 of the normalized, whitespace-collapsed text) and MinHash band keys.
- verify_batch: true Jaccard of candidate pairs, over rows grouped by hub, hub first.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.dedup import minhash as mh
from engine.dedup import shingles as sh

SCHEME = "affine32"          # datasketch 2.0's default: 32-bit signatures, half the bytes of affine64


def features_batch(batch: pa.RecordBatch, keep_cols, exact: bool, hasher, params) -> pa.RecordBatch:
    """`keep_cols` of `batch`, plus `_text_key` (exact) and `_bands` (MinHash band keys, null without shingles)."""
    import xxhash

    n = batch.num_rows
    text = batch.column("text")
    norm = sh.normalize(text) if exact or hasher is not None else None
    cols = [batch.column(c) for c in keep_cols]
    if exact:
        # whitespace collapsed for the exact key only: shingles ignore whitespace anyway
        collapsed = pc.utf8_trim_whitespace(pc.replace_substring_regex(norm, r"[[:space:]]+", " "))
        digests = [xxhash.xxh3_128_digest(b) for b in collapsed.cast(pa.binary()).to_pylist()]
        text_key = pa.array(digests, pa.binary())
        text_key = pc.if_else(pc.is_null(text), pa.scalar(None, pa.binary()), text_key)
    else:
        text_key = pa.nulls(n, pa.binary())
    if hasher is not None:
        _, _, ngram, bands, rows = params
        sigs, n_sh = hasher.text_signatures(norm, sh.char_mode(batch.column("lang")), ngram, normalized=True)
        keys = mh.band_keys(sigs, bands, rows)
        offsets = pa.array(np.arange(0, (n + 1) * bands, bands, dtype=np.int32))
        # a document without shingles (empty text) has no signature to compare
        band_col = pa.ListArray.from_arrays(offsets, pa.array(keys.ravel()), mask=pa.array(n_sh == 0))
    else:
        band_col = pa.nulls(n, pa.list_(pa.int64()))
    return pa.RecordBatch.from_arrays(cols + [text_key, band_col], names=keep_cols + ["_text_key", "_bands"])


def verify_batch(batch: pa.RecordBatch, state: dict, threshold: float, ngram: int) -> pa.RecordBatch:
    """(src, dst, jaccard) per member row; `state` carries the current hub's shingle set across batches."""
    hubs = batch.column("hub").to_pylist()
    members = batch.column("member").to_pylist()
    hashes, offsets = sh.shingle_hashes(batch.column("text"), sh.char_mode(batch.column("lang")), ngram)
    src, dst, jac = [], [], []
    for i, (hub, member) in enumerate(zip(hubs, members)):
        shingles = np.unique(hashes[offsets[i]:offsets[i + 1]])
        if member is None:                       # the hub's own row comes first in its group
            state["hub"], state["set"] = hub, shingles
            continue
        if hub != state["hub"]:
            raise RuntimeError(f"dedup verify: rows of hub {hub!r} arrived before the hub itself")
        inter = len(np.intersect1d(state["set"], shingles, assume_unique=True))
        union = len(state["set"]) + len(shingles) - inter
        src.append(member)
        dst.append(hub)
        jac.append(inter / union if union else 0.0)
    return pa.RecordBatch.from_arrays([pa.array(src, pa.string()), pa.array(dst, pa.string()),
                                       pa.array(jac, pa.float64())], names=["src", "dst", "jaccard"])
