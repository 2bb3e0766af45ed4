"""The CLI through click's CliRunner: exit codes and one-line messages."""
from __future__ import annotations

from click.testing import CliRunner

from engine.cli import main
from tests.conftest import shared_data


def spec_file(tmp_path, body: str):
    f = tmp_path / "mix.yaml"
    f.write_text(body)
    return str(f)


def good(tmp_path):
    data = shared_data("jsonl", "multiple_files")
    return spec_file(tmp_path, f"name: t\noutput: {{path: out}}\nsources:\n  - {{name: web, kind: jsonl, paths: ['{data}/*.jsonl.gz']}}\n")


def test_validate_ok(tmp_path):
    r = CliRunner().invoke(main, ["validate", good(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "ok (1 sources" in r.output


def test_validate_bad_exits_2_with_one_line_per_problem(tmp_path):
    f = spec_file(tmp_path, "name: t\noutput: {path: out}\nsources:\n  - {name: a, kind: jsonl, paths: [x], colour: red}\n")
    r = CliRunner().invoke(main, ["validate", f])
    assert r.exit_code == 2
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{f}:4: sources[0].colour: unknown field; valid: ")
    assert "name, paths," in lines[0] and "did you mean" not in lines[0]   # nothing close to `colour`


def test_validate_missing_file(tmp_path):
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "cannot read spec" in r.output


def test_run_refuses_existing_output_without_overwrite(tmp_path):
    f = good(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.parquet").write_text("x")
    r = CliRunner().invoke(main, ["run", f])
    assert r.exit_code == 2
    assert "output exists" in r.output and "--overwrite" in r.output
    assert (tmp_path / "out" / "old.parquet").read_text() == "x"


def test_run_with_bad_spec_exits_2(tmp_path):
    f = spec_file(tmp_path, "name: t\noutput: {path: out}\nsources: []\n")
    r = CliRunner().invoke(main, ["run", f])
    assert r.exit_code == 2 and "sources" in r.output
