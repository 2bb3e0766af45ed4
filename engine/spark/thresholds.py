"""Thresholds that depend on the whole source (quality_classifier `top_percent`, language `min_score: auto`).

A filter declares one by subclassing `filters.base.GlobalThreshold`: `global_quantile` (a quantile of its
signal over the source's kept documents) or `global_per_group` (a threshold per group, e.g. per language,
from the median and standard deviation of its signal over the group's documents). Such a filter scores in
tag mode during annotate; afterwards the value is computed on Spark (approxQuantile, or one grouped
aggregate: no documents on the driver), and its decision runs over the stored signals with that threshold.
The decision replays from stored columns, so this is also how a mix is re-thresholded without re-scoring.

Order: a source's deferred filters decide in spec order, and a quantile is taken over the documents still
kept after the deferred filters before it (a language filter with `auto` first, then `top_percent` over
what it kept). Per-group statistics use every scored document of the group, whatever other filters decide
(FineWeb-2 sets its per-language threshold from the language's whole score distribution), so editing
another filter does not move them.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from filters.base import deferred

QUANTILE_ERROR = 1e-4
MEDIAN_ACCURACY = 10_000      # percentile_approx accuracy: relative error ~1/accuracy


def apply_global_thresholds(df, spec) -> tuple:
    """(df with the deferred decisions applied, {source: {signal: threshold or {group: threshold}}}); df
    unchanged when none."""
    plans, thresholds = {}, {}
    for s in spec.sources:
        todo = [f for f in deferred(s.filters) if f.mode == "drop"]
        if not todo:
            continue
        decided = []
        for f in todo:
            if f.global_per_group is not None:
                signal, group = f.global_per_group
                stats = group_stats(df, s.name, signal, group)
                value = {g: f.group_threshold(m, sd) for g, (m, sd, _) in stats.items()}
            else:
                signal, q = f.global_quantile
                base = _decided(df, {s.name: decided}) if decided else df
                value = _quantile(base, s.name, signal, q)
            thresholds.setdefault(s.name, {})[signal] = value
            decided.append(f.with_threshold(value))
        plans[s.name] = decided
    if not plans:
        return df, thresholds
    return _decided(df, plans), thresholds


def readable(df):
    """The documents that were read and scored (not `read:*` or `filter_error:*` rows)."""
    from pyspark.sql import functions as F

    reason = F.col("reason")
    return df.where(reason.isNull() | ~(reason.startswith("read:") | reason.startswith("filter_error:")))


def scored_rows(df, source: str):
    """The source's documents that were read and scored."""
    from pyspark.sql import functions as F

    return readable(df).where(F.col("source") == source)


def group_stats(df, source: str, signal: str, group: str) -> dict:
    """{group value: (median, population std, docs)} of `signal` over the source's scored documents, groups
    with a null value left out. One aggregate; only the per-group numbers reach the driver."""
    from pyspark.sql import functions as F

    rows = (scored_rows(df, source).where(F.col(group).isNotNull() & F.col(signal).isNotNull())
            .groupBy(group)
            .agg(F.percentile_approx(signal, 0.5, MEDIAN_ACCURACY).alias("median"),
                 F.stddev_pop(signal).alias("std"), F.count("*").alias("docs"))
            .collect())
    return {r[group]: (float(r["median"]), float(r["std"] or 0.0), int(r["docs"])) for r in rows}


def _quantile(df, source: str, signal: str, q: float) -> float:
    from pyspark.sql import functions as F

    kept = df.where((F.col("source") == source) & F.col("reason").isNull())
    values = kept.approxQuantile(signal, [q], QUANTILE_ERROR)
    return values[0] if values else float("inf")   # an empty source keeps nothing more


def _decided(df, plans: dict):
    """`df` with each source's decided filters applied, in order, to its rows still kept."""
    def decide(batches):
        for b in batches:
            t = pa.Table.from_batches([b])
            for name, filters in plans.items():
                mine = pc.and_(pc.equal(t.column("source"), name), pc.is_null(t.column("reason")))
                if not pc.any(mine).as_py():
                    continue
                for f in filters:
                    r = pc.if_else(mine, f.decide(t), pa.scalar(None, pa.string()))
                    t = _add_reason(t, r)
                    mine = pc.and_(mine, pc.is_null(r))
            yield from t.to_batches()

    return df.mapInArrow(decide, df.schema)


def _add_reason(t: pa.Table, r: pa.Array) -> pa.Table:
    reason = pc.coalesce(t.column("reason"), r)
    lists = t.column("reasons").to_pylist()
    new = [(old or []) + [x] if x is not None else old for old, x in zip(lists, r.to_pylist())]
    t = t.set_column(t.schema.get_field_index("reason"), "reason", reason)
    return t.set_column(t.schema.get_field_index("reasons"), "reasons", pa.array(new, t.schema.field("reasons").type))
