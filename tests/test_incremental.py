"""Incremental runs: a threshold edit re-decides over stored signals, a filter edit recomputes one source, an
input change recomputes one file, `tamis gc` keeps exactly what is used; keys that must change do."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.spec import load_spec
from engine.spec.paths import resolve_source
from engine.stage_keys import part_key, score_key
from tests.test_cluster import make_inputs, shard_hashes


def _spec_text(folder: Path, out: Path, work: Path, a_min_words: int = 60, b_filters: str = "") -> str:
    return f"""\
name: inc
seed: 5
output: {{path: {out}, work_dir: {work}, shard_mb: 0.05, keep_rejects: true}}
sources:
  - name: a
    kind: jsonl
    paths: ["{folder}/a/*.jsonl"]
    filters:
      - {{kind: length, min_words: {a_min_words}}}
      - {{kind: gopher_repetition}}
  - name: b                          # the same files as a: two sources reading one file get a part each
    kind: jsonl
    paths: ["{folder}/a/*.jsonl"]
    filters:
      - {{kind: gopher_quality, mode: tag}}{b_filters}
dedup: {{exact: true, minhash: {{threshold: 0.8}}}}
"""


def _spec(folder: Path, name: str, out: Path, work: Path, **kw):
    f = folder / f"{name}.yaml"
    f.write_text(_spec_text(folder, out, work, **kw))
    return load_spec(str(f))


def _files(m: dict) -> dict:
    return {name: (v["files_reused"], v["files_computed"]) for name, v in m["stages"]["score"]["sources"].items()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inc")
    make_inputs(folder / "a", n_files=3, docs_per_file=8)
    return folder


@pytest.mark.spark
def test_edits_reuse_what_they_can_and_equal_runs_from_scratch(spark, inputs, tmp_path):
    from click.testing import CliRunner

    from engine.cli import main
    from engine.run import run

    out, work = tmp_path / "out", tmp_path / "work"
    m1 = run(_spec(inputs, "v1", out, work))
    assert _files(m1) == {"a": (0, 3), "b": (0, 3)}

    # a decide-side edit: no signal recomputed, dedup clusters reused; same bytes as a run from scratch
    m2 = run(_spec(inputs, "v2", out, work, a_min_words=200), overwrite=True)
    assert _files(m2) == {"a": (3, 0), "b": (3, 0)} and m2["stages"]["dedup"]["reused"] is True
    assert m2["sources"]["a"]["docs_kept"] < m1["sources"]["a"]["docs_kept"]
    fresh = run(_spec(inputs, "v2s", tmp_path / "s2", tmp_path / "w2", a_min_words=200))
    assert shard_hashes(out) == shard_hashes(tmp_path / "s2") and m2["totals"] == fresh["totals"]

    # one source's filter list edited, and one input file of the other changed: only that source and that
    # file are scored again, and dedup (its input changed); same bytes as a run from scratch
    with open(inputs / "a" / "part-001.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "new", "text": "an added record " * 30}) + "\n")
    m4 = run(_spec(inputs, "v4", out, work, a_min_words=200, b_filters="\n      - {kind: c4_quality}"),
             overwrite=True)
    assert _files(m4) == {"a": (2, 1), "b": (0, 3)} and m4["stages"]["dedup"]["reused"] is False
    assert m4["sources"]["a"]["docs_read"] == m4["sources"]["b"]["docs_read"] == 3 * 8 + 1
    run(_spec(inputs, "v4s", tmp_path / "s4", tmp_path / "w4", a_min_words=200,
              b_filters="\n      - {kind: c4_quality}"))
    assert shard_hashes(out) == shard_hashes(tmp_path / "s4")

    # gc: the dry run lists the folders of the replaced versions, removes nothing; then exactly the used ones stay
    used = {e["stage"] for e in m4["stages"]["score"]["sources"].values()} | {m4["stages"]["dedup"]["stage"]}
    before = {p.name for p in work.iterdir() if p.name.startswith(("score-", "dedup-"))}
    assert len(before - used) == 2           # b's first signals, the first dedup clusters
    r = CliRunner().invoke(main, ["gc", str(inputs / "v4.yaml"), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert {l.split()[-1] for l in r.output.splitlines() if l.startswith("would remove")} == before - used
    assert {p.name for p in work.iterdir() if p.name.startswith(("score-", "dedup-"))} == before
    r = CliRunner().invoke(main, ["gc", str(work)])       # by work dir: what the committed output uses stays
    assert r.exit_code == 0, r.output
    assert {p.name for p in work.iterdir() if p.name.startswith(("score-", "dedup-"))} == used


def test_score_keys_follow_the_filters_code_and_input_files(tmp_path, monkeypatch):
    """No stale reuse: editing a filter's module (or one it imports) changes the key of the sources that use
    it, and only theirs; a changed input file changes its part's key and no other."""
    import engine.stage_keys as keys

    root = Path(keys.ROOT)
    copy = tmp_path / "code"
    for pkg in ("engine", "filters"):
        shutil.copytree(root / pkg, copy / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name in ("a/1.jsonl", "a/2.jsonl", "b/1.jsonl"):
        (tmp_path / name).write_text('{"text": "one two three"}\n')
    spec = _spec(tmp_path, "k", tmp_path / "out", tmp_path / "work")
    a, b = spec.sources
    monkeypatch.setattr(keys, "ROOT", copy)
    monkeypatch.setattr(keys, "filter_modules",       # the copy's modules: the same paths under the copy
                        lambda filters: [Path(p).relative_to(root).as_posix() for p in _real_modules(filters)])
    keys._imports.cache_clear()
    base = score_key(spec, a), score_key(spec, b)
    gopher = copy / "filters" / "gopher.py"                 # used by a (gopher_repetition) and b (gopher_quality)
    length = copy / "filters" / "length.py"                 # used by a only
    length.write_text(length.read_text() + "\n# edited\n")
    assert score_key(spec, a) != base[0] and score_key(spec, b) == base[1]
    gopher.write_text(gopher.read_text() + "\n# edited\n")
    assert score_key(spec, b) != base[1]
    words = copy / "filters" / "text" / "words.py"          # imported by the gopher filters
    after = score_key(spec, b)
    words.write_text(words.read_text() + "\n# edited\n")
    assert score_key(spec, b) != after
    keys._imports.cache_clear()

    r = resolve_source(a)
    before = {p: part_key(r, p, f) for p, f in r.files_of().items()}
    (tmp_path / "a" / "2.jsonl").write_text('{"text": "one two three four"}\n')
    r = resolve_source(a)
    after = {p: part_key(r, p, f) for p, f in r.files_of().items()}
    changed = {p for p in before if before[p] != after[p]}
    assert changed == {str(tmp_path / "a" / "2.jsonl")}


def _real_modules(filters):
    import inspect

    return [inspect.getsourcefile(type(f)) for f in filters]

