"""Thresholds that depend on the whole source (e.g. quality_classifier `top_percent`).

A filter declares one by subclassing `filters.base.GlobalThreshold` (`global_quantile`, `with_threshold`).
Such a filter scores in tag mode during annotate; afterwards the quantile of its signal over the source's
kept documents is computed on Spark (approxQuantile: an aggregate, no documents on the driver), and its
decision runs over the stored signals with that threshold. The decision replays from stored columns,
so this is also how a mix is re-thresholded without re-scoring.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from filters.base import deferred

QUANTILE_ERROR = 1e-4


def apply_global_thresholds(df, spec) -> tuple:
    """(df with the deferred decisions applied, {source: {signal: threshold}}); df unchanged when none."""
    from pyspark.sql import functions as F

    plans, thresholds = {}, {}
    for s in spec.sources:
        todo = [f for f in deferred(s.filters) if f.mode == "drop"]
        if not todo:
            continue
        kept = df.where((F.col("source") == s.name) & F.col("reason").isNull())
        decided = []
        for f in todo:
            signal, q = f.global_quantile
            values = kept.approxQuantile(signal, [q], QUANTILE_ERROR)
            value = values[0] if values else float("inf")   # an empty source keeps nothing more
            thresholds.setdefault(s.name, {})[signal] = value
            decided.append(f.with_threshold(value))
        plans[s.name] = decided
    if not plans:
        return df, thresholds

    schema = df.schema

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

    return df.mapInArrow(decide, schema), thresholds


def _add_reason(t: pa.Table, r: pa.Array) -> pa.Table:
    reason = pc.coalesce(t.column("reason"), r)
    lists = t.column("reasons").to_pylist()
    new = [(old or []) + [x] if x is not None else old for old, x in zip(lists, r.to_pylist())]
    t = t.set_column(t.schema.get_field_index("reason"), "reason", reason)
    return t.set_column(t.schema.get_field_index("reasons"), "reasons", pa.array(new, t.schema.field("reasons").type))
