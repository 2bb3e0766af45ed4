"""Stage 2 on Spark: decisions over the stored signals (engine/decide.py per batch), then the thresholds that
need a whole source (engine/spark/thresholds.py) and dedup's survivors among the documents still kept
(engine/spark/dedup.py `apply_dedup`). Nothing here is stored: it reruns every run, as a scan of the
stored stages, which is what makes a threshold edit cheap."""
from __future__ import annotations

import functools

import pyarrow as pa

from engine.decide import decide_table, decision_filters


def _decide_batches(batches, plans):
    for b in batches:
        yield from decide_table(pa.Table.from_batches([b]), plans).to_batches()


def decide(scored, spec):
    """Every record of `scored` (the score stages, ids unique) with its `reason` and `reasons`."""
    from filters.base import deferred
    from engine.spark.thresholds import apply_global_thresholds

    plans = {s.name: decision_filters(s) for s in spec.sources}
    df = scored.mapInArrow(functools.partial(_decide_batches, plans=plans), scored.schema)
    if any(deferred(s.filters) for s in spec.sources):    # source-wide thresholds (quality top_percent)
        df = apply_global_thresholds(df, spec)[0]
    return df
