"""Which filter parameters are decide-side (`Filter.decide_params`): editing one must never change the signals
`score` computes, since stored signals are reused across such edits; everything else keys the signals
(`Filter.score_params`). No JVM: every registered filter scores a small table of real documents."""
from __future__ import annotations

import gzip
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.schema import read_batch
from filters.base import Filter, GlobalThreshold
from filters.language import default_lid_model_path
from filters.registry import filter_kinds
from tests.conftest import shared_data

# Filter kinds whose every parameter changes the signals. Empty today: a new filter must either declare its
# decide-side parameters or be listed here, deliberately.
NO_DECIDE_PARAMS: frozenset[str] = frozenset()

# A different valid value for every decide-side parameter of every kind (the keys must be exactly
# `decide_params`, so a new decide-side parameter needs a value here and is tested).
ALT: dict[str, dict[str, object]] = {
    "length": {"min_words": 300, "max_words": 200, "min_chars": 3000},
    "language": {"keep": ["de", "fr"], "min_score": 0.99, "min_score_per_lang": {"en": 0.999},
                 "drop_script_mismatch": True, "drop_doubt": True},
    "nsfw": {"max_word_ratio": 0.0},
    "decontaminate": {"min_matches": 1000},
    "quality_classifier": {"min_score": 0.99, "top_percent": 10.0},
    "gopher_quality": {"min_doc_words": 1000, "max_doc_words": 100, "min_avg_word_length": 5.0,
                       "max_avg_word_length": 4.0, "max_symbol_word_ratio": 0.0, "max_bullet_lines_ratio": 0.0,
                       "max_ellipsis_lines_ratio": 0.0, "min_alpha_words_ratio": 0.99, "min_stop_words": 8},
    "gopher_repetition": {"dup_line_frac": 0.0, "dup_para_frac": 0.0, "dup_line_char_frac": 0.0,
                          "dup_para_char_frac": 0.0, "top_n_grams": ((2, 0.01),), "dup_n_grams": ((5, 0.0),)},
    "c4_quality": {"min_num_sentences": 50, "filter_lorem_ipsum": False, "filter_curly_bracket": False},
    "fineweb_quality": {"line_punct_thr": 0.99, "line_punct_exclude_zero": True, "short_line_thr": 0.05,
                        "char_duplicates_ratio": 0.0, "new_line_ratio": 0.001},
    "code_quality": {"max_line_length": 40, "max_avg_line_length": 10.0, "long_line_langs": [],
                     "long_line_max_line_length": 40, "max_lines": 20, "min_alphanum_fraction": 0.9,
                     "min_alpha_fraction": 0.9, "alpha_exempt_langs": ["python", "rust", "c", "cython"],
                     "data_langs": ["python"], "data_min_chars": 100_000, "data_max_chars": 10,
                     "data_min_alpha_fraction": 0.99, "max_data_line_frac": 0.0, "filter_xml_header": False,
                     "encoded_max_match": 10, "encoded_max_fraction": 0.0, "minified_max_long_line_frac": 0.0,
                     "minified_max_whitespace_frac": 1.0, "prose_langs": []},
}
# (kind, parameter) whose edit decides the same on this sample (no document exercises the rule, or an earlier
# rule already drops every document it would); every other edit must change some decision
DECIDE_SAME_ON_SAMPLE = {
    ("language", "drop_script_mismatch"),
    ("language", "drop_doubt"),   # every doubted document here is below min_score (tests/test_lang_doubt.py)
    ("quality_classifier", "top_percent"),  # ignored while min_score is set
    ("c4_quality", "filter_lorem_ipsum"),
    # no XML header, minified, assembly or long-line prose file among the sample's source files
    ("code_quality", "filter_xml_header"), ("code_quality", "minified_max_long_line_frac"),
    ("code_quality", "minified_max_whitespace_frac"), ("code_quality", "prose_langs"),
    ("code_quality", "alpha_exempt_langs"), ("code_quality", "long_line_langs"),
}
# one score-side parameter per kind whose edit does change the signals here (a callable: the value is a file of
# the shared data): the comparison is not vacuous, and these parameters would be wrong as decide-side ones
SCORE_SIDE_PROBES: dict[str, tuple[str, object]] = {
    "language": ("wordlists", lambda: {"en": str(shared_data("blocklists", "ldnoobw", "en"))}),
    "nsfw": ("wordlists", lambda: {"en": str(shared_data("blocklists", "ldnoobw", "en"))}),
    "decontaminate": ("ngram", 8),
    "quality_classifier": ("label", "de"),
    "gopher_quality": ("stop_words", ["the"]),
    "gopher_repetition": ("language", "zh"),
    "c4_quality": ("filter_no_terminal_punct", False),
    "fineweb_quality": ("short_line_length", 100),
    "code_quality": ("minified_line_length", 10),
}


def base_params(kind: str) -> dict:
    """Valid parameters of each kind; files from the shared real data."""
    gsm8k = str(shared_data("benchmarks", "gsm8k", "test.jsonl"))
    humaneval = str(shared_data("benchmarks", "humaneval", "HumanEval.jsonl.gz"))
    return {
        "nsfw": {"wordlists": {"de": str(shared_data("blocklists", "ldnoobw", "de"))}},
        "decontaminate": {"benchmarks": [gsm8k, humaneval]},
        # lid.176 is a real fastText classifier: P(en) stands in for a quality score
        "quality_classifier": {"model": default_lid_model_path(), "label": "en", "min_score": 0.5},
    }.get(kind, {})


def probe(kind: str) -> dict:
    name, value = SCORE_SIDE_PROBES[kind]
    return {name: value() if callable(value) else value}


def build(kind: str, **update) -> Filter:
    # model_validate, not model_copy: validators (code normalisation, threshold checks) run on the edit
    return filter_kinds()[kind].model_validate({**base_params(kind), **update})


@pytest.fixture(scope="module")
def docs() -> pa.Table:
    """~50 real documents: English web pages with their URLs, prose in six languages (lang set, as after the
    language filter), source files with The Stack's language names, benchmark items, and an empty text."""
    rows = []
    for path in (("multiple_files", "cc_en_head-0091.jsonl.gz"), ("provided", "documents", "000.json.gz")):
        with gzip.open(shared_data("jsonl", *path), "rt", encoding="utf-8") as f:
            rows += [{"text": r["text"], "url": r["id"], "kind": "web"} for r in map(json.loads, f)][:6]
    for lang in ("de", "fr", "ru", "ar", "zh", "ja"):
        lines = shared_data("langid", "sentences", f"{lang}.txt").read_text(encoding="utf-8").split("\n")
        rows.append({"text": "\n".join(ln for ln in lines[:30] if ln.strip()), "lang": lang, "kind": "text"})
    code = pq.read_table(shared_data("code", "stack_style_code_sample.parquet"), columns=["lang", "content"])
    seen: dict[str, int] = {}
    for lang, text in zip(code.column("lang").to_pylist(), code.column("content").to_pylist()):
        if seen.get(lang, 0) < 2:  # two files per language
            seen[lang] = seen.get(lang, 0) + 1
            rows.append({"text": text, "lang": lang, "kind": "code"})
    with open(shared_data("benchmarks", "gsm8k", "test.jsonl"), encoding="utf-8") as f:
        rec = json.loads(f.readline())
    rows.append({"text": rec["question"] + "\n" + rec["answer"], "kind": "qa"})
    with gzip.open(shared_data("benchmarks", "humaneval", "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        rec = json.loads(f.readline())
    rows.append({"text": rec["prompt"] + rec["canonical_solution"], "kind": "code"})
    rows.append({"text": "", "kind": "text"})
    return pa.Table.from_batches([read_batch([{"id": str(i), **r} for i, r in enumerate(rows)])])


def signals(f: Filter, docs: pa.Table) -> dict[str, list]:
    # NaN != NaN: compare NaN as a marker so equal signals compare equal
    def norm(v):
        return "NaN" if isinstance(v, float) and math.isnan(v) else v
    return {name: [norm(v) for v in pa.chunked_array([arr]).to_pylist()] for name, arr in f.score(docs).items()}


def with_signals(f: Filter, docs: pa.Table, sig: dict[str, list]) -> pa.Table:
    """The table `decide` sees: the documents plus the filter's signals (document columns overwritten)."""
    types = {fl.name: fl.type for fl in f.signal_fields()}
    t = docs
    for name, values in sig.items():
        arr = pa.array([None if v == "NaN" else v for v in values], types[name])
        i = t.schema.get_field_index(name)
        t = t.set_column(i, name, arr) if i >= 0 else t.append_column(name, arr)
    return t


def test_every_filter_kind_chooses_its_decide_params():
    kinds = filter_kinds()
    assert set(ALT) == set(kinds), "every filter kind needs test values for its decide-side parameters"
    assert NO_DECIDE_PARAMS <= set(kinds)
    for kind, cls in kinds.items():
        assert bool(cls.decide_params) != (kind in NO_DECIDE_PARAMS), kind
        assert set(ALT[kind]) == set(cls.decide_params), kind
        assert len(set(cls.decide_params)) == len(cls.decide_params), kind
        assert {"mode", "kind"}.isdisjoint(cls.decide_params), kind


def test_misspelt_decide_param_is_refused_at_class_definition():
    from typing import Literal

    with pytest.raises(TypeError, match="min_wrods"):
        class Bad(Filter):
            kind: Literal["bad"] = "bad"
            min_words: int = 1
            decide_params = ("min_wrods",)


@pytest.mark.parametrize("kind", sorted(filter_kinds()))
def test_score_params_are_the_parameters_without_mode_and_decide_params(kind):
    f = build(kind)
    sp = f.score_params()
    expected = set(type(f).model_fields) - {"mode"} - set(f.decide_params)
    assert set(sp) == expected | {"version"}
    assert sp["kind"] == kind and sp["version"] == type(f).version
    assert {k: v for k, v in sp.items() if k != "version"} == \
        {k: v for k, v in f.model_dump(mode="json").items() if k in expected}
    # editing mode or any decide-side parameter keeps the key; editing a score-side one changes it
    assert build(kind, mode="tag").score_params() == sp
    for name, value in ALT[kind].items():
        assert build(kind, **{name: value}).score_params() == sp, name
    if kind in SCORE_SIDE_PROBES:
        assert build(kind, **probe(kind)).score_params() != sp
    json.dumps(sp, sort_keys=True)  # a stage key is built from it


def test_global_threshold_quantile_is_decide_side():
    gt = {k: c for k, c in filter_kinds().items() if issubclass(c, GlobalThreshold)}
    assert {"quality_classifier", "language"} <= set(gt)
    f = build("quality_classifier", min_score=None, top_percent=25.0)
    other = build("quality_classifier", min_score=None, top_percent=75.0)
    assert f.global_quantile != other.global_quantile
    assert f.score_params() == other.score_params() == f.with_threshold(0.3).score_params()
    # language `min_score: auto`: a threshold per language, decide-side like the fixed one
    auto, fixed = build("language", min_score="auto"), build("language", min_score=0.5)
    assert auto.global_per_group == ("lang_score", "lang") and fixed.global_per_group is None
    decided = auto.with_threshold({"en": 0.8, "de": 0.4})
    assert auto.score_params() == fixed.score_params() == decided.score_params()
    assert decided.global_per_group is None and decided.min_score_per_lang == {"en": 0.8, "de": 0.4}


@pytest.mark.parametrize("kind", sorted(filter_kinds()))
def test_decide_params_never_change_signals(kind, docs):
    f = build(kind)
    base = signals(f, docs)
    assert set(base) == {fl.name for fl in f.signal_fields()}
    table = with_signals(f, docs, base)
    base_decisions = f.decide(table).to_pylist()
    decide_same = set()
    for name, value in ALT[kind].items():
        g = build(kind, **{name: value})
        assert getattr(g, name) != getattr(f, name), name
        assert signals(g, docs) == base, f"{kind}.{name} is listed decide-side but changes the signals"
        if g.decide(table).to_pylist() == base_decisions:
            decide_same.add((kind, name))
    assert decide_same <= DECIDE_SAME_ON_SAMPLE, decide_same
    if kind in SCORE_SIDE_PROBES:
        assert signals(build(kind, **probe(kind)), docs) != base, f"{kind}: {probe(kind)} changes nothing"


def score_reads(f: Filter, docs: pa.Table) -> set[str]:
    """The parameters `score` (and whatever it calls with the filter) reads, whatever the data exercises."""
    fields, seen = set(type(f).model_fields), set()

    class Spy(type(f)):
        def __getattribute__(self, name):
            if name in fields:
                seen.add(name)
            return super().__getattribute__(name)

    spy = Spy.model_construct(**dict(f))  # the same, already validated values
    seen.clear()
    spy.score(docs)
    return seen


@pytest.mark.parametrize("kind", sorted(filter_kinds()))
def test_score_reads_exactly_the_score_side_params(kind, docs):
    f = build(kind)
    reads = score_reads(f, docs) - {"kind"}
    assert not reads & set(f.decide_params), f"score reads decide-side {reads & set(f.decide_params)}"
    assert "mode" not in reads
    # and nothing is score-side without a reason: every other parameter is read by score on this sample
    # (a parameter read only on data the sample lacks: give the sample such a document)
    unread = set(type(f).model_fields) - {"kind", "mode"} - set(f.decide_params) - reads
    assert not unread, f"score never reads {unread}: decide-side, or missing from the sample"
