"""The filter interface: a filter scores an Arrow table of documents, then decides.

A filter is a small pydantic model: its fields are its parameters (literature defaults, plainly named),
so a spec's `{kind: gopher_quality, min_doc_words: 50}` *is* the filter. Two methods:

- `score(docs)`   -> {signal column: pyarrow array}. Computed once and stored, so a mix can be
                     re-thresholded later without re-scoring (dolma's split of signals and decisions).
- `decide(table)` -> a string array: the drop reason per row, null to keep. `table` holds the document
                     columns plus this filter's signals, so decisions can be replayed from stored columns.

No pyspark import here or in any filter: filters are unit-tested on a `pyarrow.Table` without a JVM.
Heavy things (models, word lists) load once per Python worker through `functools.cache`d loaders.
"""
from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    # drop: failing documents are dropped with a reason; tag: signals only, nothing dropped.
    mode: Literal["drop", "tag"] = "drop"

    version: ClassVar[int] = 1
    # name -> Arrow type of every signal column this filter writes. Names that are document columns
    # (`lang`, `lang_score`) overwrite them.
    signal_types: ClassVar[dict[str, pa.DataType]] = {}

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field(n, t) for n, t in self.signal_types.items()]

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        raise NotImplementedError

    def decide(self, table: pa.Table) -> pa.Array:
        raise NotImplementedError

    @property
    def versioned_name(self) -> str:
        return f"{self.kind}@v{self.version}"


def texts(docs: pa.Table) -> list[str]:
    """The text column as Python strings, null as ''. For filters whose inner loop is Python anyway."""
    return [t or "" for t in docs.column("text").to_pylist()]


def first_reason(n: int, rules: list[tuple[pa.Array, str]]) -> pa.Array:
    """Combine boolean 'fails' masks into one reason per row: the first rule that fails wins.

    rules: [(fails_mask, reason), ...] in the order the filter checks them; null masks count as pass.
    """
    out = pa.nulls(n, pa.string())
    for fails, reason in reversed(rules):
        fails = pc.fill_null(fails, False)
        out = pc.if_else(fails, pa.scalar(reason, pa.string()), out)
    return out
