"""A spec cannot exhaust memory or time (size, YAML nodes, aliases, nesting), nor get a NaN or a token budget
that no input can meet past `validate`: each is refused in seconds with exit 2 and one line naming the field,
by `validate`, `plan` and `run` alike (no Spark is started)."""
from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.spec.yaml_load import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_NODES

TAMIS = str(Path(sys.executable).with_name("tamis"))


def _lines(r) -> list[str]:
    return [l for l in r.output.splitlines() if l.strip()]


def _refused_everywhere(f: Path, expected: str):
    """validate, plan and run: exit 2, one line `file:line: ...` holding `expected`, quickly."""
    for cmd in ("validate", "plan", "run"):
        started = time.time()
        r = CliRunner().invoke(main, [cmd, str(f)])
        lines = _lines(r)
        assert r.exit_code == 2 and len(lines) == 1, (cmd, r.exit_code, r.output[:2000])
        assert lines[0].startswith(f"{f}:") and expected in lines[0], (cmd, lines)
        assert time.time() - started < 20, (cmd, time.time() - started)


def _bomb(levels: int = 9) -> str:
    """Billion laughs: 9 levels of 9 aliases, ~400 bytes that expand to 9**9 (387 million) strings."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nname: t\noutput: {path: out}\nsources: []\n"


def test_alias_bomb_is_refused_in_bounded_memory(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(_bomb())
    cap = 1_500_000_000   # without the bound this grew past 3.4 GB, then died with a MemoryError traceback

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    started = time.time()
    r = subprocess.run([TAMIS, "validate", str(f)], capture_output=True, text=True, preexec_fn=limit, timeout=120)
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr[-2000:])
    assert f"too many YAML aliases (they expand the spec past {MAX_NODES:,} nodes)" in lines[0]
    assert time.time() - started < 60
    _refused_everywhere(f, "too many YAML aliases")


@pytest.mark.parametrize("case,expected", [
    ("aliases", f"too many YAML aliases (more than {MAX_ALIASES:,}); specs may use at most {MAX_ALIASES:,}"),
    ("recursive", "recursive YAML alias *x"),
    ("deep", f"YAML nested more than {MAX_DEPTH} levels deep"),
    ("nodes", f"too many YAML nodes (more than {MAX_NODES:,} nodes)"),
    ("bytes", f"specs may be at most 1 MB ({MAX_BYTES:,} bytes)"),
])
def test_yaml_resource_bounds(tmp_path, case, expected):
    f = tmp_path / f"{case}.yaml"
    head = "name: t\noutput: {path: out}\nsources: []\n"
    f.write_text({
        "aliases": head + "x: [&a 1, " + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n",
        "recursive": head + "x: &x [1, *x]\n",
        "deep": head + "x: " + "[" * 5000 + "]" * 5000 + "\n",   # was a RecursionError traceback
        "nodes": head + "x: [" + ", ".join(["1"] * MAX_NODES) + "]\n",
        "bytes": head + "# " + "x" * MAX_BYTES + "\n",
    }[case])
    _refused_everywhere(f, expected)


def test_a_spec_that_is_not_utf8_is_one_line(tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes("name: caf\xe9\n".encode("latin-1"))
    _refused_everywhere(f, "not UTF-8 text")


def test_aliases_within_bounds_still_work(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    f = tmp_path / "mix.yaml"
    f.write_text("name: t\noutput: {path: out}\nsources:\n"
                 "  - {name: a, kind: jsonl, paths: [a.jsonl], filters: &f [{kind: length, min_words: 1}]}\n"
                 "  - {name: b, kind: jsonl, paths: [a.jsonl], filters: *f}\n")
    r = CliRunner().invoke(main, ["validate", str(f)])
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("field,source_extra,top_extra", [
    ("sources[0].weight", "weight: .nan", ""),
    ("sources[0].weight", "weight: .inf", ""),
    ("sources[0].max_epochs", "max_epochs: .inf", ""),
    ("sources[0].temperature", "group_by: lang, temperature: .nan", ""),
    ("sources[0].group_weights.en", "group_by: lang, group_weights: {en: .nan}", ""),
    ("limits.synthetic_max_share", "", "limits: {synthetic_max_share: .nan}\n"),
    ("output.shard_mb", "", ""),
])
def test_nan_and_inf_are_refused_as_not_finite(tmp_path, field, source_extra, top_extra):
    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    f = tmp_path / "mix.yaml"
    shard = ", shard_mb: .nan" if field == "output.shard_mb" else ""
    extra = f", {source_extra}" if source_extra else ""
    f.write_text(f"name: t\n{top_extra}output: {{path: out{shard}}}\nsources:\n"
                 f"  - {{name: a, kind: jsonl, paths: [a.jsonl]{extra}}}\n")
    _refused_everywhere(f, f": {field}: must be a finite number")   # not "≤ 1": NaN is no number at all


# ---------------------------------------------------------------- budgets no input can meet


@pytest.mark.parametrize("top,a,b,expected", [
    # the case: refused by `run` only after ~25 s of Spark reading every input
    ("target_tokens: 1000\n", "weight: 0", "tokens: 0",
     ":5: sources[0].weight: the weights are all 0 but 1,000 tokens of target_tokens are left to share"),
    ("", "weight: 0", "tokens: 0", ":4: sources[0].weight: weight 0 needs target_tokens"),
    ("target_tokens: 1000\n", "tokens: 0", "tokens: 0", ":2: target_tokens: target_tokens 1,000: the sources' tokens give only 0"),
    ("target_tokens: 1000\n", "tokens: 1500", "weight: 1", ":2: target_tokens: target_tokens 1,000 is less than the sources' tokens"),
])
def test_budgets_that_no_input_can_meet_are_refused_by_validate(tmp_path, top, a, b, expected):
    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    f = tmp_path / "mix.yaml"
    f.write_text(f"name: t\n{top}output: {{path: out}}\nsources:\n"
                 f"  - {{name: a, kind: jsonl, paths: [a.jsonl], {a}}}\n"
                 f"  - {{name: b, kind: jsonl, paths: [a.jsonl], {b}}}\n")
    _refused_everywhere(f, expected)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.work").exists()


def test_a_zero_weight_next_to_a_positive_one_is_valid(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    f = tmp_path / "mix.yaml"
    f.write_text("name: t\ntarget_tokens: 1000\noutput: {path: out}\nsources:\n"
                 "  - {name: a, kind: jsonl, paths: [a.jsonl], weight: 0}\n"
                 "  - {name: b, kind: jsonl, paths: [a.jsonl], weight: 1}\n")
    r = CliRunner().invoke(main, ["validate", str(f)])
    assert r.exit_code == 0, r.output
