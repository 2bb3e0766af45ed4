"""Decisions from stored signals, worker side: each source's filters decide over their signals (pure Arrow,
no pyspark; engine/spark/decide.py runs it over the stored score stages).

The score stage ran every filter in tag mode, so its rows carry signals and only the reasons that are not
decisions (`read:*`, `filter_error:*`). Deciding here gives every other row the `reason` and `reasons` the
whole chain would have given it, so a threshold edit costs a pass over the stored columns, not a re-score.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.annotate import source_filters
from filters.chain import decide_chain, for_chain


def decision_filters(source) -> list:
    """The filters that decide per document, in spec order; those with a source-wide threshold still to
    compute decide later (engine/spark/thresholds.py)."""
    return for_chain(source_filters(source))


def decide_table(table: pa.Table, plans: dict[str, list]) -> pa.Table:
    """`table` (rows of one or more sources) with every row decided by its own source's filters, rows in
    their order. `plans`: {source name: decision_filters}."""
    sources = table.column("source")
    names = [n for n in pc.unique(sources).to_pylist() if n in plans]
    if len(names) == 1 and pc.all(pc.equal(sources, names[0])).as_py():
        return decide_chain(plans[names[0]], table)          # the usual batch: one source's part
    pieces, order = [], []
    for name in names:
        idx = pc.indices_nonzero(pc.fill_null(pc.equal(sources, name), False))
        pieces.append(decide_chain(plans[name], table.take(idx)))
        order.append(idx.to_numpy())
    rest = pc.indices_nonzero(pc.invert(pc.fill_null(pc.is_in(sources, pa.array(names, pa.string())), False)))
    pieces.append(table.take(rest))
    order.append(rest.to_numpy())
    merged = pa.concat_tables(pieces)
    return merged.take(pa.array(np.argsort(np.concatenate(order), kind="stable")))
