"""Filter kinds known to specs. Add a filter: write its module, list its class here."""
from __future__ import annotations

from filters.base import Filter
from filters.length import Length

FILTER_CLASSES: list[type[Filter]] = [Length]


def filter_kinds() -> dict[str, type[Filter]]:
    return {cls.model_fields["kind"].default: cls for cls in FILTER_CLASSES}
