"""Filter kinds known to specs. Add a filter: write its module, list its class here."""
from __future__ import annotations

from filters.base import Filter
from filters.code_quality import CodeQuality
from filters.decontaminate import Decontaminate
from filters.language import Language
from filters.length import Length
from filters.nsfw import Nsfw
from filters.quality import C4Quality, FineWebQuality, GopherQuality, GopherRepetition
from filters.quality_classifier import QualityClassifier

FILTER_CLASSES: list[type[Filter]] = [Length, Language, Nsfw, Decontaminate, QualityClassifier,
                                     GopherQuality, GopherRepetition, C4Quality, FineWebQuality, CodeQuality]


def filter_kinds() -> dict[str, type[Filter]]:
    return {cls.model_fields["kind"].default: cls for cls in FILTER_CLASSES}
