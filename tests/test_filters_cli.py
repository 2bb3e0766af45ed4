"""`tamis filters`, the README's filter tables generated from the registry, declared drop reasons, and the
spec's unknown-key message."""
from __future__ import annotations

import itertools
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from engine.cli import main
from engine.spec.load import valid_keys
from filters.decontaminate import Decontaminate
from filters.docs import filter_docs, readme_block, reason_declared
from filters.language import Language
from filters.length import Length
from filters.nsfw import Nsfw
from filters.quality_classifier import QualityClassifier
from filters.registry import REGISTRY
from tests.conftest import ROOT, shared_data
from tests.web_texts import jsonl_texts


def test_readme_filter_tables_are_tamis_filters_markdown():
    r = CliRunner().invoke(main, ["filters", "--markdown"])
    assert r.exit_code == 0, r.output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_block(readme) == r.output.strip(), "README out of date: paste `tamis filters --markdown`"
    for kind in REGISTRY:
        assert f"### `{kind}`" in r.output


def test_filters_lists_every_kind_and_shows_one():
    r = CliRunner().invoke(main, ["filters"])
    assert r.exit_code == 0, r.output
    for kind in REGISTRY:
        assert kind in "".join(r.output.split())
    r = CliRunner().invoke(main, ["filters", "gopher_quality"])
    assert r.exit_code == 0, r.output
    squashed = "".join(r.output.split())   # rich wraps and folds cells to the console's width
    for text in ("min_doc_words", "100000", "Gopher (Rae et al. 2021)", "gopher_quality:short_doc",
                 "gopher_n_words (int64)", "max_non_alpha_words_ratio"):
        assert "".join(text.split()) in squashed, text
    r = CliRunner().invoke(main, ["filters", "nsfw", "--markdown"])
    assert r.exit_code == 0 and r.output.startswith("### `nsfw`") and "`max_word_ratio` | float | `0.01`" in r.output


def test_unknown_filter_kind_exits_2_with_the_kinds_and_the_closest():
    r = CliRunner().invoke(main, ["filters", "gopher"])
    assert r.exit_code == 2
    assert r.output.strip() == ("error: unknown filter kind 'gopher'; valid: " + ", ".join(sorted(REGISTRY))
                                + " (did you mean gopher_quality?)")


def test_every_parameter_is_documented_with_its_real_default():
    for d in filter_docs():
        cls = REGISTRY[d.kind].cls
        assert d.summary and d.literature and d.reasons, d.kind
        assert [n for n, _ in d.signals] == list(cls.signal_types)
        assert {p.name for p in d.params} == set(cls.model_fields) - {"kind"}
        for p in d.params:
            assert p.meaning and p.source, (d.kind, p.name)
            f = cls.model_fields[p.name]
            if p.default == "required":
                assert f.is_required(), (d.kind, p.name)
            elif "…" not in p.default:   # long lists are shortened
                default = f.get_default(call_default_factory=True)
                as_lists = yaml.safe_load(yaml.safe_dump(default if not isinstance(default, tuple) else
                                                         [list(x) for x in default]))
                assert yaml.safe_load(p.default) == as_lists or p.default == str(default), (d.kind, p.name)


# ---------------------------------------------------------------- drop reasons: declared == emitted

# values around every threshold, so each rule both passes and fails somewhere
_POOLS = {
    "int": [0, 1, 3, 10, 60, 500, 5000, 200_000],
    "float": [None, 0.0, 0.005, 0.05, 0.15, 0.25, 0.5, 0.7, 0.95, 5.0, 50.0, 150.0, 2000.0],
    "bool": [False, True],
    "lang": [None, "en", "de", "zh"], "code_lang": [None, "python", "json", "markdown", "xml", "webassembly"],
    "nsfw_url_category": [None, "adult", "custom", "banned_word", "soft_banned_words", "banned_subword"],
    "decontam_match": [None, "gsm8k_test:3", "HumanEval:HumanEval/1"],
}


def _pool(field: pa.Field) -> list:
    t = field.type
    if field.name in _POOLS:
        return _POOLS[field.name]
    if pa.types.is_integer(t):
        return _POOLS["int"]
    if pa.types.is_floating(t):
        return _POOLS["float"]
    return _POOLS["bool"] if pa.types.is_boolean(t) else [None]


def _perturbed(f, base: dict) -> pa.Table:
    """Rows equal to the kept row `base` except one or two signals set to values from their pools: each rule
    fires alone (or with the one other signal it combines with), not hidden behind an earlier rule."""
    fields = f.signal_fields()
    rows = []
    for a, b in itertools.combinations_with_replacement(fields, 2):
        for va in _pool(a):
            for vb in _pool(b) if b is not a else [va]:
                rows.append({**base, a.name: va, b.name: vb})
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def _random_signals(f, n: int, rng) -> pa.Table:
    fields = f.signal_fields()
    return pa.table({fl.name: pa.array([rng.choice(_pool(fl)) for _ in range(n)], fl.type) for fl in fields})


def _docs(n_web: int = 150) -> pa.Table:
    """Real web documents and code files, plus crafted edge cases."""
    web = jsonl_texts(shared_data("jsonl"))[:n_web]
    crafted = ["", " ", "a", "lorem ipsum dolor sit amet, consectetur.\n" * 6, "same line here\n" * 40,
               "# # # # ### #\n" * 5, "<?xml version='1.0'?>\n<a/>", "var x = {a: 1};" * 400,
               "1,2,3,4\n" * 50, "QUJD" * 2000, "Das ist ein deutscher Satz über das Wetter in Berlin."]
    code = pq.read_table(shared_data("code", "stack_style_code_sample.parquet"), columns=["content", "lang"])
    texts = web + crafted + code.column("content").to_pylist()
    langs = [None] * (len(web) + len(crafted)) + code.column("lang").to_pylist()
    urls = ["http://bad.example/x", "http://porn.example.com/sex-xxx"] + [None] * (len(texts) - 2)
    return pa.table({"text": texts, "lang": pa.array(langs, pa.string()), "url": pa.array(urls, pa.string()),
                     "meta": pa.nulls(len(texts), pa.string())})


def _instances(tmp_path) -> list:
    bench = tmp_path / "bench.jsonl"
    web = jsonl_texts(shared_data("jsonl"))
    bench.write_text("".join(json.dumps({"id": i, "q": t[:400]}) + "\n" for i, t in enumerate(web[:3])))
    others = [info.cls() for kind, info in REGISTRY.items()
              if kind not in ("length", "language", "nsfw", "decontaminate", "quality_classifier")]
    return [Length(max_words=300), Language(keep=["de"], drop_script_mismatch=True, drop_doubt=True),
            Nsfw(extra_domains=["bad.example"], ut1_adult=False), Decontaminate(benchmarks=[str(bench)]),
            QualityClassifier(model="unused.bin", min_score=0.5, signal="quality_edu"), *others]


def _emitted(f, table: pa.Table) -> set[str]:
    return set(f.decide(table).to_pylist()) - {None}


def test_declared_reasons_are_exactly_the_ones_filters_emit(tmp_path):
    docs = _docs()
    rng = random.Random(5)
    for f in _instances(tmp_path):
        tables = [_random_signals(f, 2000, rng)]
        if not isinstance(f, QualityClassifier):   # no model to score with: decided from signals only
            tables.append(pa.table({**{c: docs.column(c) for c in docs.column_names}, **f.score(docs)}))
        emitted = set().union(*(_emitted(f, t) for t in tables))
        kept = next(t.slice(i, 1).to_pylist()[0] for t in tables for i, r in enumerate(f.decide(t).to_pylist())
                    if r is None)
        emitted |= _emitted(f, _perturbed(f, {fl.name: kept[fl.name] for fl in f.signal_fields()}))
        stray = {r for r in emitted if not reason_declared(r, f.reasons)}
        assert not stray, (f.kind, stray)   # emitted but not declared: add them to `reasons`
        unseen = {d for d in f.reasons if not any(reason_declared(r, (d,)) for r in emitted)}
        assert not unseen, (f.kind, unseen)   # declared but never emitted: stale
    assert reason_declared("quality_edu:low_score", ("<signal>:low_score",))
    assert not reason_declared("quality_edu:low", ("<signal>:low_score",))


# ---------------------------------------------------------------- unknown keys in a spec


@pytest.mark.parametrize("body, line", [
    ("  - {name: web, kind: jsonl, paths: [x], filters: [{kind: c4_quality}, {kind: length, min_word: 3}]}\n",
     "5: sources[0].filters[1].min_word: unknown field; valid: max_words, min_chars, min_words, mode "
     "(did you mean min_words?)"),
    ("  - {name: web, kind: jsonl, paths: [x]}\ndedup: {minhash: {treshold: 0.8}}\n",
     "6: dedup.minhash.treshold: unknown field; valid: bands, ngram, num_perm, rows, seed, threshold, verify "
     "(did you mean threshold?)"),
    ("  - {name: web, kind: jsonl, paths: [x], filters: [{kind: gopher_quality, max_non_alpha_word_ratio: 1}]}\n",
     "5: sources[0].filters[0].max_non_alpha_word_ratio: unknown field; valid: language, max_avg_word_length, "
     "max_bullet_lines_ratio, max_doc_words, max_ellipsis_lines_ratio, max_non_alpha_words_ratio, "
     "max_symbol_word_ratio, min_alpha_words_ratio, min_avg_word_length, min_doc_words, min_stop_words, mode, "
     "stop_words, stop_words_per_lang (did you mean max_non_alpha_words_ratio?)"),
])
def test_unknown_key_lists_the_valid_keys_and_the_closest(tmp_path, body, line):
    f = tmp_path / "mix.yaml"
    f.write_text("name: t\noutput: {path: out}\n\nsources:\n" + body)
    r = CliRunner().invoke(main, ["validate", str(f)])
    assert r.exit_code == 2
    assert [x for x in r.output.splitlines() if x.strip()] == [f"{f}:{line}"]


def test_unknown_key_on_any_model(tmp_path):
    f = tmp_path / "mix.yaml"
    f.write_text("name: t\noutput: {path: out, shard_mbb: 3}\nsources:\n  - {name: web, kind: warc, paths: [x],"
                 " extractr: resiliparse}\n")
    r = CliRunner().invoke(main, ["validate", str(f)])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert lines[0] == f"{f}:2: output.shard_mbb: unknown field; valid: keep_rejects, path, shard_mb, work_dir " \
                       "(did you mean shard_mb?)"
    assert lines[1].startswith(f"{f}:4: sources[0].extractr: unknown field; valid: ")
    assert "extract_timeout, extractor," in lines[1] and lines[1].endswith("(did you mean extractor?)")
    from engine.spec.models import WarcSource
    assert lines[1].split("valid: ")[1].split(" (")[0] == ", ".join(valid_keys(WarcSource))
