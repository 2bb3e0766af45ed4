"""Spec validation: a good spec loads; each kind of bad spec gives one line with file, YAML line and field."""
from __future__ import annotations

import textwrap

import pytest

from engine.spec import SpecError, load_spec, parse_spec
from tests.conftest import shared_data

GOOD = """\
name: web-mix
seed: 17
tokenizer: cl100k_base
output:
  path: out/web-mix
sources:
  - name: web
    kind: jsonl
    paths: ["{jsonl}"]
    weight: 0.6
    filters:
      - {{kind: length, min_words: 5}}
  - name: more
    kind: jsonl
    paths: ["{jsonl}"]
    weight: 0.4
"""


@pytest.fixture
def jsonl():
    return str(shared_data("jsonl", "multiple_files", "cc_en_head-0091.jsonl.gz"))


def problems(tmp_path, text: str) -> list[str]:
    f = tmp_path / "mix.yaml"
    f.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as e:
        load_spec(str(f))
    return e.value.problems


def test_good_spec_loads_and_resolves_paths(tmp_path, jsonl):
    f = tmp_path / "mix.yaml"
    f.write_text(GOOD.format(jsonl=jsonl))
    spec = load_spec(str(f))
    assert spec.name == "web-mix" and spec.seed == 17
    assert spec.output.path == str(tmp_path / "out" / "web-mix")    # relative to the spec's folder
    assert spec.sources[0].filters[0].min_words == 5
    assert spec.sources[0].filters[0].kind == "length"
    assert len(spec.spec_sha256) == 64


def test_unknown_key_names_line_and_field(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("    weight: 0.4", "    wieght: 0.4")
    p = problems(tmp_path, text)
    assert any(":16: sources[1].wieght: unknown field; valid: " in l and l.endswith("(did you mean weight?)")
               for l in p), p


def test_unknown_filter_kind(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("{kind: length, min_words: 5}", "{kind: lenght}")
    p = problems(tmp_path, text)
    assert len(p) == 1 and ":12: sources[0].filters[0]: unknown kind 'lenght'" in p[0], p


def test_wrong_type(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("min_words: 5", "min_words: many")
    p = problems(tmp_path, text)
    assert len(p) == 1 and ":12: sources[0].filters[0].min_words: Input should be a valid integer" in p[0], p


def test_missing_path(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace(f'paths: ["{jsonl}"]\n    weight: 0.4', 'paths: ["nope/*.jsonl"]\n    weight: 0.4')
    p = problems(tmp_path, text)
    assert len(p) == 1 and ":15: sources[1].paths[0]: no such file:" in p[0] and "nope/*.jsonl" in p[0], p


def test_duplicate_source_names(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("name: more", "name: web")
    p = problems(tmp_path, text)
    assert any(":13: sources[1].name: duplicate source name 'web'" in l for l in p), p


def test_weights_must_sum_to_one(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("weight: 0.4", "weight: 0.3")
    p = problems(tmp_path, text)
    assert any("sources: weights sum to 0.9, not 1" in l for l in p), p


def test_missing_required_field_and_bad_name(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("output:\n  path: out/web-mix\n", "").replace("name: web-mix", "name: Web Mix!")
    p = problems(tmp_path, text)
    assert any(":1: name: String should match pattern" in l for l in p), p
    assert any("output: required field is missing" in l for l in p), p


def test_unknown_source_kind(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("kind: jsonl\n    paths: [\"" + jsonl + "\"]\n    weight: 0.4",
                                            "kind: csv\n    paths: [\"" + jsonl + "\"]\n    weight: 0.4")
    p = problems(tmp_path, text)
    assert any("sources[1]: unknown kind 'csv'" in l for l in p), p


def test_yaml_syntax_error_has_line(tmp_path):
    p = problems(tmp_path, "name: x\nsources: [\n  - a\n")
    assert len(p) == 1 and "mix.yaml:" in p[0] and "(yaml)" in p[0]


def test_yaml_is_loaded_safely(tmp_path):
    # an object-constructing tag is refused, never executed
    p = problems(tmp_path, "name: !!python/object/apply:os.system ['touch /tmp/tamis-pwned']\n")
    assert "(yaml)" in p[0]
    import os

    assert not os.path.exists("/tmp/tamis-pwned")


def test_weight_and_tokens_both_given(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("weight: 0.6", "weight: 0.6\n    tokens: 1000")
    p = problems(tmp_path, text)
    assert any("sources[0].weight: give weight or tokens, not both" in l for l in p), p


def test_env_vars_in_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("TAMIS_TEST_DATA", str(tmp_path))
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    spec = parse_spec("name: x\noutput: {path: o}\nsources:\n  - {name: a, kind: jsonl, paths: ['${TAMIS_TEST_DATA}/*.jsonl']}\n",
                      base_dir=str(tmp_path))
    assert spec.sources[0].paths == [str(tmp_path / "*.jsonl")]


def test_filter_files_resolve_against_the_spec_folder_and_must_exist(tmp_path, jsonl):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "items.jsonl").write_text('{"q": "a question"}\n')
    text = GOOD.format(jsonl=jsonl).replace("{kind: length, min_words: 5}", "{kind: decontaminate, benchmarks: ['bench/*.jsonl']}")
    f = tmp_path / "mix.yaml"
    f.write_text(text)
    spec = load_spec(str(f))
    assert spec.sources[0].filters[0].benchmarks == [str(tmp_path / "bench" / "*.jsonl")]
    p = problems(tmp_path, text.replace("bench/*.jsonl", "missing/*.jsonl"))
    assert len(p) == 1 and ":12: sources[0].filters[0].benchmarks: no such file:" in p[0], p


def test_filter_rule_switched_off_with_null_not_minus_one(tmp_path, jsonl):
    text = GOOD.format(jsonl=jsonl).replace("{kind: length, min_words: 5}",
                                            "{kind: c4_quality, min_num_sentences: -1}")
    p = problems(tmp_path, text)
    assert len(p) == 1 and ":12: sources[0].filters[0].min_num_sentences:" in p[0], p
    assert "use null to switch a rule off" in p[0], p
    f = tmp_path / "mix.yaml"
    f.write_text(GOOD.format(jsonl=jsonl).replace(
        "{kind: length, min_words: 5}", "{kind: gopher_quality, max_non_alpha_words_ratio: 0.5, min_stop_words: null}"))
    g = load_spec(str(f)).sources[0].filters[0]
    assert g.min_alpha_words_ratio == 0.5 and g.min_stop_words is None   # datatrove's name still accepted
