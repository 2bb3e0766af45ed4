"""Dedup's steps 1-4 (features, exact and URL groups, LSH buckets, verification) over a whole small input in
one task, pure Arrow and Python (no pyspark): engine.spark.dedup runs it in one `mapInArrow` task when the
documents taking part are few, instead of ~20 small Spark jobs whose fixed costs dominate small runs.

It gives the edges the distributed steps give, so the same clusters: every choice is a min over ids, and
Python compares str by code point, which is the UTF-8 byte order Spark's `min(id)` uses.
"""
from __future__ import annotations

import pyarrow as pa

from engine.dedup.batches import features_batch, verify_batch

COLUMNS = ["id", "scope", "_url", "text", "lang"]
VERIFY_ROWS = 2000                  # rows per verify_batch call, as the distributed pass's Arrow batches


def _star(keys, ids) -> list[tuple[str, str]]:
    """Within each key (None: no group), every member -> the group's smallest id; members equal to it skipped."""
    hub: dict = {}
    for k, i in zip(keys, ids):
        if k is not None and (k not in hub or i < hub[k]):
            hub[k] = i
    return [(i, hub[k]) for k, i in zip(keys, ids) if k is not None and hub[k] != i]


def edges(batches, exact: bool, exact_url: bool, hasher, params, verify: bool, threshold: float,
          ngram: int) -> list[tuple[str, str]]:
    """Edges (src, dst) over every batch of `COLUMNS`, ids unique (the caller checks). `hasher`/`params` as
    in `features_batch` (None without MinHash)."""
    feats = [features_batch(b, COLUMNS, exact, hasher, params) for b in batches if b.num_rows]
    if not feats:
        return []
    t = pa.Table.from_batches(feats)
    ids = t.column("id").to_pylist()
    if len(set(ids)) != len(ids):
        raise ValueError("dedup: ids must be unique")
    scopes = t.column("scope").to_pylist()
    keys = t.column("_text_key").to_pylist()
    text_keys = [(s, k) if k is not None else None for s, k in zip(scopes, keys)]
    hubs = dict(_star(text_keys, ids))
    out = _star(text_keys, ids) if exact else []
    if exact_url:
        out += _star([(s, u) if u is not None else None for s, u in zip(scopes, t.column("_url").to_pylist())], ids)
    if hasher is not None:
        cands = _lsh(ids, scopes, t.column("_bands").to_pylist(), hubs)
        out += _verified(t, cands, threshold, ngram) if verify else cands
    return out


def _lsh(ids, scopes, bands, hubs) -> list[tuple[str, str]]:
    """Star edges within (scope, band, bucket), over one document per exact group; distinct, sorted."""
    members, keys = [], []
    for i, s, b in zip(ids, scopes, bands):
        if b is None or hubs.get(i, i) != i:        # no shingles, or an exact copy of a smaller id
            continue
        for j, bucket in enumerate(b):
            members.append(i)
            keys.append((s, j, bucket))
    return sorted(set(_star(keys, members)))


def _verified(t: pa.Table, cands: list[tuple[str, str]], threshold: float, ngram: int) -> list[tuple[str, str]]:
    """The candidate edges whose true Jaccard is >= threshold, by verify_batch over rows laid out as the
    distributed pass lays them: grouped by hub, the hub's own row first."""
    if not cands:
        return []
    row = {i: k for k, i in enumerate(t.column("id").to_pylist())}
    order = sorted({(dst, None) for _, dst in cands} | {(dst, src) for src, dst in cands},
                   key=lambda hm: (hm[0], hm[1] is not None, hm[1] or ""))
    idx = pa.array([row[m if m is not None else h] for h, m in order], pa.int64())
    docs = t.select(["text", "lang"]).take(idx)
    hub_col = pa.array([h for h, _ in order], pa.string())
    member_col = pa.array([m for _, m in order], pa.string())
    state: dict = {"hub": None, "set": None}
    kept = []
    for lo in range(0, len(order), VERIFY_ROWS):
        n = min(VERIFY_ROWS, len(order) - lo)
        batch = pa.RecordBatch.from_arrays(
            [hub_col.slice(lo, n), member_col.slice(lo, n), docs.column("text").slice(lo, n).combine_chunks(),
             docs.column("lang").slice(lo, n).combine_chunks()], names=["hub", "member", "text", "lang"])
        r = verify_batch(batch, state, threshold, ngram)
        kept += [(s, d) for s, d, j in zip(*(r.column(c).to_pylist() for c in ("src", "dst", "jaccard")))
                 if j >= threshold]
    return kept
