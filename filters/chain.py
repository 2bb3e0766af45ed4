"""Apply an ordered list of filters to one Arrow table of documents (what a Spark task sees).

Every filter scores every readable document, so each drop carries *all* the reasons it failed
(`reasons`, for the audit's overlap of reasons) and `reason` is the first in spec order.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.schema import READ_SCHEMA
from filters.base import Filter, deferred
from filters.text.words import Words


def for_chain(filters: list[Filter]) -> list[Filter]:
    """The filters as the per-batch chain runs them: those with a source-wide threshold still to compute
    (`filters.base.GlobalThreshold`) score only; engine/spark/thresholds.py decides for them afterwards."""
    todo = deferred(filters)
    return [f.model_copy(update={"mode": "tag"}) if f in todo and f.mode == "drop" else f for f in filters]


def chain_schema(filters: list[Filter], base: pa.Schema = READ_SCHEMA) -> pa.Schema:
    """The output schema: the input columns, each new signal once, then `reasons`."""
    fields = list(base)
    names = set(base.names)
    for f in filters:
        for field in f.signal_fields():
            if field.name not in names:
                fields.append(field)
                names.add(field.name)
    fields.append(pa.field("reasons", pa.list_(pa.string())))
    return pa.schema(fields)


def apply_chain(filters: list[Filter], docs: pa.Table, schema: pa.Schema | None = None) -> pa.Table:
    schema = schema or chain_schema(filters, docs.schema)
    n = docs.num_rows
    table = docs
    read_ok = pc.is_null(docs.column("reason")) if "reason" in docs.column_names else pa.array([True] * n)
    reason_cols: list[pa.Array] = []
    words = Words(docs)  # split on first use, once for every filter that needs words
    for f in filters:
        signals = f.score(table, words) if f.uses_words else f.score(table)
        for name, arr in signals.items():
            arr = pa.array(arr, type=schema.field(name).type) if not isinstance(arr, (pa.Array, pa.ChunkedArray)) else arr.cast(schema.field(name).type)
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, arr) if i >= 0 else table.append_column(name, arr)
        if f.mode == "drop":
            reason_cols.append(pc.if_else(read_ok, f.decide(table), pa.scalar(None, pa.string())))
    reasons, first = combine_reasons(reason_cols, n)
    old = table.column("reason") if "reason" in table.column_names else pa.nulls(n, pa.string())
    table = table.set_column(table.schema.get_field_index("reason"), "reason", pc.coalesce(old, first)) \
        if "reason" in table.column_names else table.append_column("reason", first)
    table = table.append_column("reasons", reasons)
    return table.select(schema.names).cast(schema)


def combine_reasons(reason_cols: list, n: int) -> tuple[pa.Array, pa.Array]:
    """(reasons: the list of every failing reason in spec order, null when none; reason: the first one).
    Vectorized: the non-null cells taken row by row from the columns laid end to end."""
    if not reason_cols:
        return pa.nulls(n, pa.list_(pa.string())), pa.nulls(n, pa.string())
    cols = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in reason_cols]
    valid = np.stack([pc.is_valid(c).to_numpy(zero_copy_only=False) for c in cols], axis=1)
    rows, which = np.nonzero(valid)                   # row-major: each row's reasons in spec order
    flat = pa.concat_arrays([c.cast(pa.string()) for c in cols]).take(pa.array(which * n + rows, pa.int64()))
    counts = valid.sum(axis=1)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    reasons = pa.ListArray.from_arrays(offsets, flat, mask=pa.array(counts == 0))
    return reasons, pc.coalesce(*cols)


def decide_chain(filters: list[Filter], table: pa.Table) -> pa.Table:
    """The decisions `apply_chain` would have taken, replayed from the stored signals of `table` (scored in
    tag mode): rows without a `reason` yet (readable, no filter error) get `reason` and `reasons`; the others
    keep theirs. Only the filters in drop mode decide."""
    n = table.num_rows
    ok = pc.is_null(table.column("reason"))
    cols = [pc.if_else(ok, f.decide(table), pa.scalar(None, pa.string())) for f in filters if f.mode == "drop"]
    reasons, first = combine_reasons(cols, n)
    table = table.set_column(table.schema.get_field_index("reason"), "reason", pc.coalesce(table.column("reason"), first))
    i = table.schema.get_field_index("reasons")
    return table.set_column(i, "reasons", pc.if_else(ok, reasons.cast(table.schema.field(i).type), table.column(i)))
