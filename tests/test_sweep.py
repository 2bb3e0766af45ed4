"""Mix search: `tamis sweep` variants (feasible, reproducible, written from the stored stages, each the bytes a
run of its spec writes) and `tamis fit` (a known optimum found, feasibility kept, bad results refused)."""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.plan.budgets import plan_mix
from engine.spec import load_spec
from engine.sweep import SweepError
from engine.sweep.draws import draw_variants, quantize_rows, variant_spec
from engine.sweep.propose import propose
from engine.sweep.spec_text import set_top, set_weights
from engine.sweep.table import csv_text, meta_json

NAMES = ["a", "b", "c", "d"]
TOKENS = 1000
# what every source holds after filters: at 1,000 tokens and max_epochs 1, a <= 0.6, b <= 0.5, d <= 0.3
AVAILABLE = [{"source": s, "group": None, "docs": 100, "tokens": t, "synthetic_docs": 0, "synthetic_tokens": 0}
             for s, t in zip(NAMES, (600, 500, 2000, 300))]
TOY = """\
# a toy mix: four sources in one budget
name: toy
seed: 3
target_tokens: 1000      # tokens of the mix
output: {path: out}
sources:
""" + "".join(f"""\
  - name: {n}
    kind: jsonl
    paths: [data/*.jsonl]
    weight: {w}          # source {n}
""" for n, w in zip(NAMES, (0.4, 0.3, 0.2, 0.1)))


def _toy_sweep(folder: Path, n: int, hidden, seed: int = 0, noise: float = 0.005) -> tuple[Path, Path, object]:
    """A sweep folder of the toy spec (as `tamis sweep` writes it) and results from `hidden(weights)`."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "x.jsonl").write_text('{"text": "one two three"}\n')
    (folder / "toy.yaml").write_text(TOY)
    spec = load_spec(str(folder / "toy.yaml"))
    variants = draw_variants(spec, TOKENS, n, seed, 10.0, AVAILABLE)
    sweep = folder / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(meta_json(spec, TOKENS, seed, 10.0, NAMES, AVAILABLE, variants))
    (sweep / "sweep.csv").write_text(csv_text(variants, NAMES, {v.id: TOKENS for v in variants}))
    X = np.array([[v.weights[k] for k in NAMES] for v in variants])
    y = hidden(X) + np.random.default_rng(100 + seed).normal(0, noise, len(X))
    results = folder / "results.csv"
    results.write_text("variant,loss\n" + "".join(f"{v.id},{m:.6f}\n" for v, m in zip(variants, y)))
    return sweep, results, spec


def _parse(text: str):
    from engine.spec.load import parse_spec

    return parse_spec(text, "toy.yaml", check_paths=False)


def _quadratic(opt):
    return lambda X: 2.0 + 5.0 * ((X - np.array(opt)) ** 2).sum(axis=1)


def test_draws_are_feasible_distinct_reproducible_and_span_the_corners():
    spec = _parse(TOY)
    v1 = draw_variants(spec, TOKENS, 24, 5, 10.0, AVAILABLE)
    assert [v.weights for v in v1] == [v.weights for v in draw_variants(spec, TOKENS, 24, 5, 10.0, AVAILABLE)]
    assert [v.weights for v in v1] != [v.weights for v in draw_variants(spec, TOKENS, 24, 6, 10.0, AVAILABLE)]
    assert len({tuple(v.weights.values()) for v in v1}) == 24 and [v.id for v in v1][:2] == ["v000", "v001"]
    assert v1[0].origin == "spec" and v1[0].weights == {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}
    corners = {v.origin: v.weights for v in v1 if v.origin.startswith("corner:")}
    assert corners["corner:c"]["c"] == 1.0                     # c alone is feasible (2,000 tokens)
    assert abs(corners["corner:a"]["a"] - 0.6) < 1e-3          # a stops at its 600 tokens
    for v in v1:
        assert abs(sum(v.weights.values()) - 1) < 1e-9
        plan = plan_mix(variant_spec(spec, v.weights, TOKENS), AVAILABLE)   # raises when infeasible
        assert plan.leaf("a").requested_tokens <= 600 and plan.leaf("d").requested_tokens <= 300
    with pytest.raises(SweepError, match="only .* feasible"):
        draw_variants(spec, 100_000, 4, 5, 10.0, AVAILABLE)   # nothing holds 100,000 tokens
    assert quantize_rows([[1 / 3, 1 / 3, 1 / 3]], 10).tolist() == [[4, 3, 3]]


def test_sweep_csv_has_a_column_per_source_and_group():
    spec = _parse("""\
name: g
target_tokens: 1000
output: {path: out}
sources:
  - {name: web, kind: jsonl, paths: [x], weight: 0.7, group_by: lang, temperature: 0.5}
  - {name: code, kind: jsonl, paths: [x], weight: 0.3}
  - {name: fixed, kind: jsonl, paths: [x], tokens: 100, group_by: lang}
""")
    leaf = {"docs": 10, "synthetic_docs": 0, "synthetic_tokens": 0}
    available = [{"source": "web", "group": "de", "tokens": 900, **leaf},
                 {"source": "web", "group": "en", "tokens": 3600, **leaf},
                 {"source": "code", "group": None, "tokens": 2000, **leaf},
                 {"source": "fixed", "group": "en", "tokens": 500, **leaf}]
    variants = draw_variants(spec, TOKENS, 3, 0, 10.0, available)
    rows = list(csv.DictReader(csv_text(variants, ["web", "code"], {v.id: 1000 for v in variants}).splitlines()))
    assert list(rows[0]) == ["variant", "weight:web", "weight:code", "weight:web/de", "weight:web/en",
                             "realized_tokens"]
    assert rows[0]["weight:web"] == "0.700000" and rows[0]["weight:web/de"] == "0.233333"   # 0.7 x 1/3 (900**0.5)
    for r in rows:
        assert abs(float(r["weight:web/de"]) + float(r["weight:web/en"]) - float(r["weight:web"])) < 2e-6


@pytest.mark.parametrize("n", [32, 64])
def test_fit_finds_a_known_optimum(tmp_path, n):
    opt = [0.35, 0.25, 0.25, 0.15]                   # inside the feasible region
    sweep, results, _ = _toy_sweep(tmp_path, n, _quadratic(opt), seed=n)
    out = tmp_path / "proposed.yaml"
    info = propose(str(sweep), str(results), "loss", False, str(out))
    assert info["spearman"] >= 0.9, info["cv"]
    got = load_spec(str(out))                        # validates and plans like any spec
    w = [got.source(k).weight for k in NAMES]
    assert sum(abs(a - b) for a, b in zip(w, opt)) <= 0.05, w
    text = out.read_text()
    assert text.startswith("# tamis fit: weights proposed from the sweep")
    # the original with only the weights changed: every other line (comments included) as written
    body = text[text.index("# a toy mix"):]
    assert [l for l in body.splitlines() if "weight:" not in l] == [l for l in TOY.splitlines() if "weight:" not in l]
    plan_mix(got, AVAILABLE)


def test_fit_stays_feasible_when_the_optimum_is_not(tmp_path):
    opt = [0.1, 0.1, 0.3, 0.5]                       # d's 300 tokens cap it at 0.3
    sweep, results, spec = _toy_sweep(tmp_path, 40, _quadratic(opt), seed=1)
    r = CliRunner().invoke(main, ["fit", str(sweep), str(results), "--metric", "loss", "-o", str(tmp_path / "p.yaml")])
    assert r.exit_code == 0, r.output
    got = load_spec(str(tmp_path / "p.yaml"))
    assert 280 <= plan_mix(got, AVAILABLE).leaf("d").requested_tokens <= 300   # at the limit, not past it


def _bad(tmp_path: Path, body: str) -> str:
    sweep, _, _ = _toy_sweep(tmp_path, 8, _quadratic([0.25] * 4))
    f = tmp_path / "bad.csv"
    f.write_text(body)
    r = CliRunner().invoke(main, ["fit", str(sweep), str(f), "--metric", "loss", "-o", str(tmp_path / "p.yaml")])
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and not (tmp_path / "p.yaml").exists(), r.output
    return lines[0]


@pytest.mark.parametrize("body, message", [
    ("variant,loss\nv000,1\nv999,2\nv001,3\nv002,4\nv003,5\n", "bad.csv:3: unknown variant 'v999'"),
    ("variant,loss\nv000,1\nv001,\nv002,3\nv003,4\nv004,5\n", "bad.csv:3: variant v001: loss is missing"),
    ("variant,loss\nv000,1\nv001,2\nv002,abc\nv003,4\nv004,5\n",
     "bad.csv:4: variant v002: loss is not a number: 'abc'"),
    ("variant,loss\nv000,1\nv001,nan\n", "variant v001: loss is not a finite number"),
    ("variant,loss\nv000,1\nv001,2\nv002,3\nv003,4\n", "4 results for 4 weights: a fit needs at least 5"),
    ("variant,acc\nv000,1\n", "no column 'loss' (columns: variant, acc)"),
    ("variant,loss\nv000,1\nv000,2\n", "bad.csv:3: variant v000 appears twice (first at line 2)"),
    ("variant,loss\nv000,1\nv001,1\nv002,1\nv003,1\nv004,1\n", "loss is 1 for every variant: nothing to fit"),
])
def test_fit_refuses_bad_results_in_one_line(tmp_path, body, message):
    line = _bad(tmp_path, body)
    assert line.startswith("error: ") and message in line, line


def test_fit_refuses_a_folder_that_is_no_sweep(tmp_path):
    (tmp_path / "r.csv").write_text("variant,loss\n")
    r = CliRunner().invoke(main, ["fit", str(tmp_path), str(tmp_path / "r.csv"), "--metric", "loss", "-o",
                                  str(tmp_path / "p.yaml")])
    assert r.exit_code == 2 and "not a sweep folder" in r.output, r.output


def test_spec_text_edits_only_the_values():
    text = "name: x  # the name\nsources:\n  - {name: a, weight: 0.5}   # flow\n  - name: b\n    weight: 0.5 # keep\n"
    out = set_top(set_weights(text, {"a": 0.25, "b": 0.75}), "target_tokens", "1000")
    assert out == ("name: x  # the name\ntarget_tokens: 1000\nsources:\n  - {name: a, weight: 0.25}   # flow\n"
                   "  - name: b\n    weight: 0.75 # keep\n")
    assert set_top(out, "target_tokens", "5") == out.replace("target_tokens: 1000", "target_tokens: 5")


# ---------------------------------------------------------------- Spark: one small sweep, run twice


def _sweep_spec(folder: Path, out: Path, work: Path) -> Path:
    f = folder / "mix.yaml"
    f.write_text(f"""\
name: sw
seed: 7
output: {{path: {out}, work_dir: {work}, shard_mb: 0.05}}
sources:
""" + "".join(f"""\
  - name: {n}
    kind: jsonl
    paths: ["{folder}/{n}/*.jsonl"]
    weight: {w}
    max_epochs: 10
    filters:
      - {{kind: length, max_words: 150}}
""" for n, w in (("a", 0.6), ("b", 0.4))))
    return f


def _hashes(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("v*/*.parquet"))}


@pytest.mark.spark
def test_sweep_writes_variants_from_the_stored_stages(spark, tmp_path):
    """Two sweeps of a tiny spec: stages computed by the first, reused by the second (every manifest says so),
    the same sweep.csv and shards; the spec's weights, the corners, tokens within 0.5%. (That a variant is the
    bytes `tamis run` writes for its spec is checked by bench/bench_sweep.py, to keep this test short.)"""
    from engine.sweep.run import sweep
    from tests.test_cluster import make_inputs

    make_inputs(tmp_path / "a", n_files=6, docs_per_file=20)
    make_inputs(tmp_path / "b", n_files=4, docs_per_file=20)
    spec_file = _sweep_spec(tmp_path, tmp_path / "out", tmp_path / "work")
    folder, tokens = tmp_path / "sweep", 25_000
    first = sweep(load_spec(str(spec_file)), 4, tokens, folder=str(folder))
    csv_bytes, hashes = (folder / "sweep.csv").read_bytes(), _hashes(folder)
    again = sweep(load_spec(str(spec_file)), 4, tokens, folder=str(folder), overwrite=True)
    assert first["stages"]["score"] is False and again["stages"]["score"] is True      # computed once, then reused
    assert (folder / "sweep.csv").read_bytes() == csv_bytes and _hashes(folder) == hashes and len(hashes) >= 4
    rows = list(csv.DictReader(open(folder / "sweep.csv")))
    assert [r["variant"] for r in rows] == ["v000", "v001", "v002", "v003"]
    assert {r["weight:a"] for r in rows} >= {"0.600000", "1.000000", "0.000000"}    # the spec's, the corners
    for r in rows:
        m = json.loads((folder / r["variant"] / "manifest.json").read_text())
        assert (folder / r["variant"] / "_SUCCESS").exists() and (folder / r["variant"] / "datasheet.md").exists()
        assert m["stages"]["score"]["reused"] is True and m["sweep"]["variant"] == r["variant"]
        assert m["totals"]["tokens_written"] == int(r["realized_tokens"])
        assert abs(int(r["realized_tokens"]) - tokens) <= 0.005 * tokens
