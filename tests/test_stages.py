"""Stage keys (no JVM): mix-only fields come from the spec models; inputs are listed once per run and key the
score stage's parts, one per input path."""
from __future__ import annotations

from engine.spec import SourceBase, parse_spec
from engine.spec.paths import resolve_source
from engine.score_parts import source_parts
from engine.stage_keys import mix_only_fields, score_key


def test_every_source_field_is_declared_mix_only_or_part_of_the_stage_key():
    # a new SourceBase field must say whether it only steers the mix (`json_schema_extra=MIX_ONLY`)
    assert set(SourceBase.model_fields) - mix_only_fields() == {"name", "paths", "filters"}


def _spec(folder, source_extra: str = ""):
    return parse_spec(f"""\
name: t
seed: 1
output: {{path: {folder}/out}}
sources:
  - {{name: a, kind: jsonl, paths: ["{folder}/in/*.jsonl"], filters: [{{kind: length, min_words: 2}}]{source_extra}}}
""", check_paths=False)


def _keys(spec):
    s = spec.sources[0]
    return score_key(spec, s), [p.key for p in source_parts(resolve_source(s))]


def test_mix_only_and_decide_side_changes_reuse_stages_and_input_changes_add_parts(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "one two three"}\n')
    base = _keys(_spec(tmp_path))
    assert _keys(_spec(tmp_path, ", weight: 1.0, max_epochs: 2, group_by: lang, temperature: 0.5")) == base
    assert _keys(_spec(tmp_path).model_copy(update={"seed": 2})) == base
    assert _keys(_spec(tmp_path, ", text_field: body"))[0] != base[0]
    (tmp_path / "in" / "b.jsonl").write_text('{"text": "four five"}\n')
    key, parts = _keys(_spec(tmp_path))
    assert key == base[0] and parts[0] == base[1][0] and len(parts) == 2   # the new file is a part of its own


def test_resolved_source_lists_files_and_folder_contents(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.jsonl").write_text("x" * 7)
    (tmp_path / "in" / "a.jsonl").write_text("")
    r = resolve_source(_spec(tmp_path).sources[0])
    assert r.paths == (str(tmp_path / "in" / "a.jsonl"), str(tmp_path / "in" / "b.jsonl"))
    assert r.sizes == {str(tmp_path / "in" / "a.jsonl"): 0, str(tmp_path / "in" / "b.jsonl"): 7}
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "sub" / "Posts.xml").write_text("<posts/>")
    src = _spec(tmp_path).sources[0].model_copy(update={"paths": [str(site)]})
    r = resolve_source(src)
    assert r.paths == (str(site),) and str(site / "sub" / "Posts.xml") in r.sizes and str(site) not in r.sizes
