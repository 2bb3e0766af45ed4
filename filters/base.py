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
from pydantic import BaseModel, ConfigDict, Field, field_validator


def param(default, what: str, source: str, **kw):
    """A filter parameter: its default, what it means (one line) and where the default comes from (a paper,
    a reference implementation, or `tamis` for our own choice). Declared here rather than in comments so that
    `tamis filters` and the README's filter tables (filters/docs.py) are generated from the same fields the
    spec validates; `**kw` are pydantic's (constraints, aliases)."""
    return Field(default, description=what, json_schema_extra={"source": source}, **kw)


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    mode: Literal["drop", "tag"] = param("drop", "drop: failing documents are dropped with a reason; tag: signals "
                                                 "only, nothing dropped", "tamis")

    version: ClassVar[int] = 1
    # for the docs (`tamis filters`): what the filter does and the work its rules come from, one line each
    summary: ClassVar[str] = ""
    literature: ClassVar[str] = ""
    # every drop reason `decide` can emit; `<name>` stands for a value from the parameters or the data
    # (tests/test_filters_cli.py checks the reasons filters really emit are among these)
    reasons: ClassVar[tuple[str, ...]] = ()
    # name -> Arrow type of every signal column this filter writes. Names that are document columns
    # (`lang`, `lang_score`) overwrite them.
    signal_types: ClassVar[dict[str, pa.DataType]] = {}
    # True for filters that split text into words: `score(docs, words)` takes the batch's shared
    # `filters.text.words.Words`, so the chain splits each batch once for all of them.
    uses_words: ClassVar[bool] = False
    # Parameters only `decide` reads (thresholds, keep lists, rule switches whose signal is always computed):
    # editing them re-decides from stored signals. Every other parameter is score-side and keys the stored
    # signals (`score_params`). `mode` is always decide-side and never listed. When unsure, leave a parameter
    # out: a needless recompute is safe, reusing signals computed under other settings is not.
    decide_params: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs):
        super().__pydantic_init_subclass__(**kwargs)
        # a misspelt name would leave the meant parameter score-side unnoticed: refuse it at class definition
        bad = [n for n in cls.decide_params if n not in cls.model_fields or n in ("kind", "mode")]
        if bad:
            raise TypeError(f"{cls.__name__}.decide_params: {bad} are not decide-side parameters of the filter")

    def score_params(self) -> dict:
        """What the signals depend on: the parameters without `mode` and `decide_params`, plus the filter's
        `kind` and code `version`. Equal `score_params` on equal input give equal signals."""
        out = self.model_dump(mode="json", exclude={"mode", *self.decide_params})
        out.update(kind=self.kind, version=self.version)
        return out

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


class GlobalThreshold:
    """Mixin of a filter whose threshold depends on the whole source: a quantile of its signal (e.g.
    quality_classifier's `top_percent`) or a statistic per group of documents (e.g. the language filter's
    `min_score: auto`, one threshold per language). The chain scores it in tag mode; engine/spark/thresholds.py
    then computes the value on Spark and decides with `with_threshold(value)`, replayable from stored columns.
    The parameters that ask for it (e.g. `top_percent`) and the threshold it sets are decide-side: list both
    in the filter's `decide_params`."""

    @property
    def global_quantile(self) -> tuple[str, float] | None:
        """(signal column, quantile q) whose value over the source becomes the threshold; None when the
        threshold is already known (nothing to compute)."""
        return None

    @property
    def global_per_group(self) -> tuple[str, str] | None:
        """(signal column, group column): the threshold of each group (each value of the group column in the
        source) is `group_threshold(median, std)` of the signal over the group's documents; `with_threshold`
        then gets {group value: threshold}. None when nothing is to compute."""
        return None

    def group_threshold(self, median: float, std: float) -> float:
        raise NotImplementedError

    def with_threshold(self, value) -> "Filter":
        """A copy deciding with the computed threshold (a float, or {group value: float})."""
        raise NotImplementedError


def deferred(filters: list[Filter]) -> list[Filter]:
    """The filters whose threshold still needs the whole source."""
    return [f for f in filters if isinstance(f, GlobalThreshold)
            and (f.global_quantile is not None or f.global_per_group is not None)]


# ---- rules switched off by None: `None` is the only off switch; 0 is a threshold like any other


def fails_gt(table: pa.Table, col: str, thr) -> pa.Array | None:
    return None if thr is None else pc.greater(table.column(col), thr)


def fails_lt(table: pa.Table, col: str, thr) -> pa.Array | None:
    return None if thr is None else pc.less(table.column(col), thr)


def rules(n: int, checks: list[tuple[pa.Array | None, str]]) -> pa.Array:
    """`first_reason` over the rules that are on (a None mask: the rule is switched off)."""
    return first_reason(n, [(m, r) for m, r in checks if m is not None])


def no_negative(*names: str):
    """A validator for thresholds that cannot be negative. Some rules used to be switched off with -1 (and
    any falsy value): refuse negatives, so a spec written that way gets told how to switch the rule off
    instead of getting a rule whose meaning changed."""
    def check(cls, v):
        if v is not None and v < 0:
            raise ValueError(f"{v} is negative: use null to switch a rule off")
        return v
    return field_validator(*names)(classmethod(check))
