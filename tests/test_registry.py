"""The filter registry is the one place a filter kind is declared; the spec, thresholds and audit read it."""
from __future__ import annotations

import pyarrow as pa

from engine.audit.queries import SIGNAL_FAMILIES, SIGNAL_PREFIXES
from filters.base import GlobalThreshold
from filters.quality_classifier import QualityClassifier
from filters.registry import REGISTRY, filter_kinds, path_params

NUMERIC = (pa.types.is_integer, pa.types.is_floating)


def test_entries_match_their_classes():
    for kind, info in REGISTRY.items():
        assert info.cls.model_fields["kind"].default == kind
        for p in info.path_params:
            assert p in info.cls.model_fields, (kind, p)
        # every numeric signal is found by the audit under this filter's prefixes
        for name, typ in info.cls.signal_types.items():
            if any(is_(typ) for is_ in NUMERIC):
                assert name.startswith(info.signal_prefixes), (kind, name)
    assert list(filter_kinds()) == list(REGISTRY)


def test_audit_signals_come_from_the_registry():
    assert {"length_", "decontam_", "lang_score", "gopher_", "quality_"} <= set(SIGNAL_PREFIXES)
    assert SIGNAL_FAMILIES == {"language": ("lang_score", "lang_wordlist_score", "lang_doubt_score"), "quality": ("quality_", "gopher_", "c4_", "fineweb_"),
                               "nsfw": ("nsfw_",), "code": ("code_",)}


def test_path_params_and_global_threshold():
    assert path_params("nsfw") == ("wordlists", "domain_lists")
    assert path_params("length") == ()
    assert [k for k, i in REGISTRY.items() if i.global_threshold] == ["language", "quality_classifier"]
    assert issubclass(QualityClassifier, GlobalThreshold)
