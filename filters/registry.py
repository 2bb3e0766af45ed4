"""Filter kinds known to specs: the one place a filter is registered.

Add a filter: write its module (a `Filter` subclass; a source-wide threshold declares it by subclassing
`filters.base.GlobalThreshold`) and add one entry to `REGISTRY`. The spec (its discriminated union of
filters, and which parameters are files), the thresholds step and the audit (which columns are signals)
read this table; nothing else names a filter kind.
"""
from __future__ import annotations

from dataclasses import dataclass

from filters.base import Filter, GlobalThreshold
from filters.c4 import C4Quality
from filters.code_quality import CodeQuality
from filters.decontaminate import Decontaminate
from filters.fineweb import FineWebQuality
from filters.gopher import GopherQuality, GopherRepetition
from filters.language import Language
from filters.length import Length
from filters.nsfw import Nsfw
from filters.quality_classifier import QualityClassifier


@dataclass(frozen=True)
class FilterInfo:
    cls: type[Filter]
    # numeric columns whose names start with one of these are this filter's signals in the audit
    signal_prefixes: tuple[str, ...]
    # parameters naming files: resolved against the spec's folder, checked to exist by `validate`
    path_params: tuple[str, ...] = ()
    # the audit's section for the signals (None: "other")
    family: str | None = None

    @property
    def global_threshold(self) -> bool:
        """Whether the threshold can be a quantile of the whole source (see `GlobalThreshold`)."""
        return issubclass(self.cls, GlobalThreshold)


# The order is the order of the spec's discriminated union (and of its "expected tags" message).
REGISTRY: dict[str, FilterInfo] = {
    "length": FilterInfo(Length, ("length_",)),
    "language": FilterInfo(Language, ("lang_score", "lang_wordlist_score", "lang_doubt_score"),
                           path_params=("model", "wordlists"), family="language"),
    "nsfw": FilterInfo(Nsfw, ("nsfw_",), path_params=("wordlists", "domain_lists"), family="nsfw"),
    "decontaminate": FilterInfo(Decontaminate, ("decontam_",), path_params=("benchmarks",)),
    "quality_classifier": FilterInfo(QualityClassifier, ("quality_",), path_params=("model",), family="quality"),
    "gopher_quality": FilterInfo(GopherQuality, ("gopher_",), family="quality"),
    "gopher_repetition": FilterInfo(GopherRepetition, ("gopher_",), family="quality"),
    "c4_quality": FilterInfo(C4Quality, ("c4_",), family="quality"),
    "fineweb_quality": FilterInfo(FineWebQuality, ("fineweb_",), family="quality"),
    "code_quality": FilterInfo(CodeQuality, ("code_",), family="code"),
}
# the audit's sections of signals, in this order
SIGNAL_FAMILY_ORDER = ("language", "quality", "nsfw", "code")

FILTER_CLASSES: list[type[Filter]] = [info.cls for info in REGISTRY.values()]


def filter_kinds() -> dict[str, type[Filter]]:
    return {kind: info.cls for kind, info in REGISTRY.items()}


def path_params(kind: str) -> tuple[str, ...]:
    """The parameters of filter `kind` that name files (none for a filter class outside the registry, such as
    one a test adds to a chain)."""
    return REGISTRY[kind].path_params if kind in REGISTRY else ()


def signal_prefixes() -> tuple[str, ...]:
    """Every registered filter's signal prefixes (once each, registry order)."""
    return tuple(dict.fromkeys(p for info in REGISTRY.values() for p in info.signal_prefixes))


def signal_families() -> dict[str, tuple[str, ...]]:
    """{audit family: its signal prefixes}; a prefix ending in `_` is a prefix, any other a column name."""
    return {fam: tuple(dict.fromkeys(p for info in REGISTRY.values() if info.family == fam
                                     for p in info.signal_prefixes))
            for fam in SIGNAL_FAMILY_ORDER}
