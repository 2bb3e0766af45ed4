"""The cut of every part of the mix from Spark aggregates: no sort of the documents, none collected but the
few of each part's window (the decisions themselves are `engine.plan.cuts`, pure Python).

Every document has a 64-bit sampling key u = xxhash64("tamis-mix", seed, id). One aggregate counts the
documents and tokens of each part in 4096 u-buckets; from the running token sum the sampler picks, per part,
the buckets whose documents may hold the cut: those around the target, widened by the largest document of
the mix when the policy carries the surplus from part to part (`cut: nearest`), since that is how far the
carried surplus can move a cut. A window with more than FINAL_DOCS documents is narrowed to the bucket where
the running sum crosses the target and refined inside it with the next 12 bits of u (another aggregate); the
documents of the final windows are collected, ordered on the driver by (u, id), and `engine.plan.cuts.settle`
cuts them. `tamis plan` runs the same code on the same stage data, so its expected tokens are what `run`
realizes.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from engine.plan.cuts import Part, carries, settle

BUCKET_BITS = 12            # 4096 u-buckets per refinement level
FINAL_DOCS = 4096           # a window with at most this many documents is ordered on the driver
MAX_LEVEL = 4               # 4 x 12 bits: beyond that only identical keys (duplicate ids) remain together
_MIN_LONG = -(1 << 63)
PART = ["source", "_grp", "_syn"]


def keyed(kept, spec, with_leaf):
    """Leaf columns plus `_sk` (the sampling key, a signed long: u = (_sk + 2^63) / 2^64) and `_uk` (its bits
    as an unsigned number, for bucketing)."""
    sk = F.xxhash64(F.lit("tamis-mix"), F.lit(int(spec.seed)), F.col("id"))
    return (with_leaf(kept, spec).withColumn("_sk", sk)
            .withColumn("_uk", F.col("_sk").bitwiseXOR(F.lit(_MIN_LONG))))


class _Search:
    """A part's search state: the u bits fixed so far (`level` x 12 bits) and the tokens below them."""

    def __init__(self, part: Part):
        self.part, self.level, self.prefix = part, 0, 0


def _histogram(base, pending: list[_Search], level: int) -> tuple[dict, int]:
    """Per pending part: sorted (bucket, docs, tokens) of the 4096 u-buckets inside its prefix; and the
    largest document's tokens."""
    sel = base.sparkSession.createDataFrame([(*s.part.key, s.prefix) for s in pending],
                                            "source string, _grp string, _syn boolean, _prefix long")
    docs = base.join(F.broadcast(sel), PART)
    if level > 0:
        docs = docs.where(F.shiftrightunsigned(F.col("_uk"), 64 - BUCKET_BITS * level) == F.col("_prefix"))
    shift = 64 - BUCKET_BITS * (level + 1)
    bucket = F.shiftrightunsigned(F.col("_uk"), shift).bitwiseAND(F.lit((1 << BUCKET_BITS) - 1))
    rows = (docs.groupBy(*PART, bucket.alias("_b"))
            .agg(F.count("*").alias("n"), F.sum("n_tokens").alias("t"), F.max("n_tokens").alias("m")).collect())
    hist: dict[tuple, list] = {}
    for r in rows:
        hist.setdefault((r["source"], r["_grp"], r["_syn"]), []).append((r["_b"], r["n"], int(r["t"] or 0)))
    return {k: sorted(v) for k, v in hist.items()}, max((int(r["m"] or 0) for r in rows), default=0)


def _span(buckets: list, before: int, lo_t: float, hi_t: float, target: int) -> tuple[int, int, int]:
    """Indices of the first and last bucket a cut aimed anywhere in [lo_t, hi_t] can fall in, and of the
    bucket where the running sum crosses `target`."""
    cum, ends = before, []
    for _b, _n, t in buckets:
        cum += t
        ends.append(cum)
    cross = next((i for i, e in enumerate(ends) if e >= target), len(buckets) - 1)
    first = min(next((i for i, e in enumerate(ends) if e > lo_t), cross), cross)
    last = max(next((i for i, e in enumerate(ends) if e >= hi_t), len(buckets) - 1), cross)
    return first, last, cross


def _narrow(buckets: list, first: int, last: int, cross: int) -> tuple[int, int]:
    """The widest run of buckets around `cross`, inside [first, last], holding at most FINAL_DOCS documents."""
    lo = hi = cross
    n = buckets[cross][1]
    grew = True
    while grew:
        grew = False
        if hi < last and n + buckets[hi + 1][1] <= FINAL_DOCS:
            hi, n, grew = hi + 1, n + buckets[hi + 1][1], True
        if lo > first and n + buckets[lo - 1][1] <= FINAL_DOCS:
            lo, n, grew = lo - 1, n + buckets[lo - 1][1], True
    return lo, hi


def _descend(pending: list[_Search], hist: dict, level: int, reach: int) -> tuple[list, list]:
    """Per part: a final window of buckets (its key range and what lies before it), or the one bucket to
    refine. Returns (final [(search, lo bucket, hi bucket)], to refine)."""
    final, refine = [], []
    for s in pending:
        p, buckets = s.part, hist.get(s.part.key, [])
        first, last, cross = _span(buckets, p.before, p.target - reach, p.target + reach, p.target)
        if sum(n for _b, n, _t in buckets[first:last + 1]) > FINAL_DOCS:
            if buckets[cross][1] > FINAL_DOCS and level + 1 < MAX_LEVEL:
                first = last = cross
                p.before += sum(t for _b, _n, t in buckets[:cross])
                p.before_docs += sum(n for _b, n, _t in buckets[:cross])
                s.prefix, s.level = (s.prefix << BUCKET_BITS) | buckets[cross][0], level + 1
                refine.append(s)
                continue
            first, last = _narrow(buckets, first, last, cross)
        p.before += sum(t for _b, _n, t in buckets[:first])
        p.before_docs += sum(n for _b, n, _t in buckets[:first])
        final.append((s, buckets[first][0], buckets[last][0]))
    return final, refine


def _collect(base, final: list, level: int):
    """The documents of every final window, sorted by (key, id); sets the part's window and its end."""
    shift = 64 - BUCKET_BITS * (level + 1)
    rows_sel = []
    for s, b_lo, b_hi in final:
        start = ((s.prefix << BUCKET_BITS) | b_lo) << shift
        end = (((s.prefix << BUCKET_BITS) | b_hi) + 1) << shift
        s.part.end = None if end >= 1 << 64 else end + _MIN_LONG
        rows_sel.append((*s.part.key, start + _MIN_LONG, s.part.end))
    sel = base.sparkSession.createDataFrame(rows_sel, "source string, _grp string, _syn boolean, _lo long, _hi long")
    inside = (F.col("_sk") >= F.col("_lo")) & (F.col("_hi").isNull() | (F.col("_sk") < F.col("_hi")))
    rows = base.join(F.broadcast(sel), PART).where(inside).select(*PART, "_sk", "id", "n_tokens").collect()
    per: dict[tuple, list] = {}
    for r in rows:
        per.setdefault((r["source"], r["_grp"], r["_syn"]), []).append((r["_sk"], r["id"], r["n_tokens"]))
    for s, _lo, _hi in final:
        s.part.window = sorted(per.get(s.part.key, []), key=lambda d: (d[0], d[1].encode("utf-8")))


def find_cuts(keyed_df, parts: list[Part], policy: str, cap: float | None):
    """Locate every part's window with bucket aggregates, collect the windows, and cut (engine.plan.cuts)."""
    base = keyed_df.select(*PART, "_sk", "_uk", "id", "n_tokens")
    pending = [_Search(p) for p in parts if p.target > 0]
    level, reach = 0, None
    while pending:
        hist, biggest = _histogram(base, pending, level)
        if reach is None:   # how far a carried surplus can move a cut: the largest document, at most
            reach = biggest if carries(policy) else 0
        final, pending = _descend(pending, hist, level, reach)
        if final:
            _collect(base, final, level)
        level += 1
    settle(parts, policy, cap)
