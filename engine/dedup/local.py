"""Dedup's steps 1-4 (features, exact and URL groups, LSH buckets, verification) over a whole small input in
one task, pure Arrow and Python (no pyspark): engine.spark.dedup runs it in one `mapInArrow` task when the
documents taking part are few, instead of ~20 small Spark jobs whose fixed costs dominate small runs.

It gives the edges the distributed steps give, so the same clusters: every choice is a min over ids, and
Python compares str by code point, which is the UTF-8 byte order Spark's `min(id)` uses.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.dedup.batches import features_batch, verify_batch

COLUMNS = ["id", "scope", "_url", "text", "lang"]
VERIFY_ROWS = 2000                  # rows per verify_batch call, as the distributed pass's Arrow batches


def _star(t: pa.Table, keys: list[str]) -> pa.Table:
    """Within each group of `keys` (rows with a null key: no group), every member -> the group's smallest id
    (`src`, `dst`), members equal to it left out. Arrow's min over strings is byte order, as Spark's."""
    valid = t.select(["id", *keys])
    for k in keys:
        valid = valid.filter(pc.is_valid(valid.column(k)))
    hubs = valid.group_by(keys, use_threads=False).aggregate([("id", "min")])
    joined = valid.join(hubs, keys, use_threads=False)
    joined = joined.filter(pc.not_equal(joined.column("id"), joined.column("id_min")))
    return pa.table({"src": joined.column("id"), "dst": joined.column("id_min")})


def _pairs(edges: pa.Table) -> list[tuple[str, str]]:
    return list(zip(edges.column("src").to_pylist(), edges.column("dst").to_pylist()))


def edges(batches, exact: bool, exact_url: bool, hasher, params, verify: bool, threshold: float,
          ngram: int) -> list[tuple[str, str]]:
    """Edges (src, dst) over every batch of `COLUMNS`, ids unique (the caller checks). `hasher`/`params` as
    in `features_batch` (None without MinHash)."""
    feats = [features_batch(b, COLUMNS, exact, hasher, params) for b in batches if b.num_rows]
    if not feats:
        return []
    t = pa.Table.from_batches(feats)
    if pc.count_distinct(t.column("id")).as_py() != t.num_rows:
        raise ValueError("dedup: ids must be unique")
    exact_edges = _star(t, ["scope", "_text_key"])
    out = _pairs(exact_edges) if exact else []
    if exact_url:
        out += _pairs(_star(t, ["scope", "_url"]))
    if hasher is not None:
        copies = pc.is_in(t.column("id"), value_set=exact_edges.column("src"))   # exact copies of a smaller id
        cands = _lsh(t.filter(pc.invert(copies)))
        out += _verified(t, cands, threshold, ngram) if verify else cands
    return out


def _lsh(t: pa.Table) -> list[tuple[str, str]]:
    """Star edges within (scope, band, bucket), over one document per exact group; distinct, sorted."""
    t = t.filter(pc.is_valid(t.column("_bands")))           # no shingles: no bands
    bands = t.column("_bands").combine_chunks()
    if not len(bands):
        return []
    rows = pc.list_parent_indices(bands)
    starts = pc.subtract(pc.take(bands.offsets, rows), bands.offsets[0])   # a list's first element, flattened
    exploded = pa.table({"id": pc.take(t.column("id"), rows), "scope": pc.take(t.column("scope"), rows),
                         "band": pc.subtract(pa.array(range(len(rows)), pa.int32()), starts),
                         "bucket": pc.list_flatten(bands)})
    return sorted(set(_pairs(_star(exploded, ["scope", "band", "bucket"]))))


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
