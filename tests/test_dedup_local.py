"""engine.dedup.local: dedup's steps 1-4 over a small input in one task, without a JVM."""
from __future__ import annotations

import random

import pyarrow as pa

from engine.dedup import minhash as mh
from engine.dedup.batches import SCHEME
from engine.dedup.local import COLUMNS, edges

WORDS = [f"w{i}" for i in range(400)]


def _batch(rows) -> pa.RecordBatch:
    cols = list(zip(*rows))
    return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in cols], names=COLUMNS)


def _hasher(threshold=0.8, verify=True):
    bands, rows = mh.lsh_params(threshold, 128, None, None, verify=verify)
    params = (128, 1, 5, bands, rows)
    return mh.MinHasher(128, 1, SCHEME), params


def test_edges_link_copies_near_copies_and_urls_to_the_smallest_id():
    rnd = random.Random(3)
    base = " ".join(rnd.choice(WORDS) for _ in range(300))
    near = base.split()
    near[150] = "changed"
    rows = [("d2", "", None, base, "en"), ("d1", "", None, "  " + base.upper().replace(" ", "  "), "en"),
            ("d3", "", None, " ".join(near), "en"),
            ("d9", "", None, " ".join(rnd.choice(WORDS) for _ in range(300)), "en"),
            ("u2", "", "http://x/p", "one page", "en"), ("u1", "", "http://x/p", "another page", "en"),
            ("e1", "", None, "", "en")]
    hasher, params = _hasher()
    batches = [_batch(rows[:3]), _batch(rows[3:])]           # batch boundaries do not matter
    got = set(edges(batches, True, True, hasher, params, True, 0.8, 5))
    # d1 is an exact copy of d2 (case, whitespace): linked; d2 then stands for both in LSH, d3 links to it
    assert got == {("d2", "d1"), ("u2", "u1"), ("d3", "d1")}
    # without exact dedup the copies meet through LSH instead, and the URL group is not used
    got = set(edges(batches, False, False, hasher, params, True, 0.8, 5))
    assert {frozenset(e) for e in got} >= {frozenset(("d1", "d2"))} and all("u1" not in e for e in got)
    assert all("d9" not in e and "e1" not in e for e in got)


def test_verification_only_removes_candidates():
    rnd = random.Random(5)
    docs = []
    base = [rnd.choice(WORDS) for _ in range(200)]
    for k in range(12):                                       # copies drifting further from the first
        text = list(base)
        for i in rnd.sample(range(200), k):
            text[i] = rnd.choice(WORDS)
        docs.append((f"k{k:02d}", "", None, " ".join(text), "en"))
    hasher, params = _hasher(0.8, verify=True)
    checked = set(edges([_batch(docs)], False, False, hasher, params, True, 0.8, 5))
    loose = set(edges([_batch(docs)], False, False, hasher, params, False, 0.8, 5))
    assert checked < loose and checked
    assert all(dst < src for src, dst in loose)              # stars point at the smaller id
