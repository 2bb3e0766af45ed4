"""`tamis plan` without a JVM (the Spark part stubbed), the example mix spec, and the synthetic sample data."""
from __future__ import annotations

import importlib.util
import os
import io
import json

import pytest
from click.testing import CliRunner

import engine.cli.plan as cli_plan
from engine.cli import main
from engine.plan.budgets import InfeasibleMix, plan_mix
from engine.spec import load_spec
from tests.conftest import ROOT


def write(tmp_path, body: str) -> str:
    f = tmp_path / "mix.yaml"
    f.write_text("name: t\nseed: 1\noutput: {path: out}\n" + body)
    return str(f)


AVAILABLE = [
    {"source": "web", "group": "en", "docs": 900, "tokens": 90_000, "synthetic_docs": 0, "synthetic_tokens": 0},
    {"source": "web", "group": "sw", "docs": 10, "tokens": 1_000, "synthetic_docs": 0, "synthetic_tokens": 0},
    {"source": "synth", "group": None, "docs": 50, "tokens": 5_000, "synthetic_docs": 50, "synthetic_tokens": 5_000},
]


@pytest.fixture
def stub_spark(monkeypatch):
    """compute_plan without Spark: the plan from fixed availability, stages reported as reused."""
    def fake(spec, master=None, say=lambda *_: None, inputs=None):
        try:
            return cli_plan.PlanResult(plan_mix(spec, AVAILABLE), None, {"annotate": True}, "/w", None)
        except InfeasibleMix as e:
            return cli_plan.PlanResult(e.plan, e, {"annotate": True}, "/w", None)

    monkeypatch.setattr(cli_plan, "compute_plan", fake)


def spec_body(max_epochs: int) -> str:
    return f"""\
target_tokens: 10000
sources:
  - {{name: web, kind: jsonl, paths: [a.jsonl], weight: 0.8, group_by: lang, temperature: 0.3, max_epochs: {max_epochs}}}
  - {{name: synth, kind: synthetic, paths: [s.jsonl], weight: 0.2}}
"""


def touch(tmp_path):
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "s.jsonl").write_text("")


def test_plan_feasible_prints_every_leaf_and_exits_0(tmp_path, stub_spark):
    touch(tmp_path)
    r = CliRunner().invoke(main, ["plan", write(tmp_path, spec_body(3))])
    assert r.exit_code == 0, r.output
    rows = [[c.strip() for c in l.split("│")[1:-1]] for l in r.output.splitlines() if l.startswith("│")]
    by = {(row[0], row[1]): row for row in rows}
    assert set(by) == {("web", "en"), ("web", "sw"), ("synth", "")}
    # 90,000^0.3 = 30.638, 1,000^0.3 = 7.943: sw gets 20.6% of 8,000 = 1,647 tokens, 1.647 epochs
    assert by[("web", "sw")][4] == "1,647" and by[("web", "sw")][6] == "1.647" and by[("web", "sw")][8] == "upsampled"
    assert by[("web", "en")][4] == "6,353" and by[("web", "en")][8] == "sampled"
    assert "requested 10,000 of 96,000 available tokens (target_tokens 10,000)" in r.output
    assert "stages: annotate reused" in r.output


def test_plan_infeasible_exits_2_naming_source_and_group(tmp_path, stub_spark):
    touch(tmp_path)
    r = CliRunner().invoke(main, ["plan", write(tmp_path, spec_body(1))])
    assert r.exit_code == 2
    assert ("error: infeasible mix: source 'web' group 'sw' needs 1,647 tokens but has 1,000 "
            "(max_epochs 1 allows 1,000, needs 1.65 epochs)") in r.output
    assert "infeasible" in [c.strip() for c in next(l for l in r.output.splitlines() if "│ sw" in l).split("│")]


def test_plan_json(tmp_path, stub_spark):
    touch(tmp_path)
    r = CliRunner().invoke(main, ["plan", write(tmp_path, spec_body(1)), "--json"])
    assert r.exit_code == 2
    p = json.loads(r.output[r.output.index("{"):r.output.rindex("}") + 1])
    assert not p["feasible"] and p["problems"][0].startswith("source 'web' group 'sw' needs")
    assert {(l["source"], l["group"]) for l in p["leaves"]} == {("web", "en"), ("web", "sw"), ("synth", None)}


def test_plan_runtime_failure_is_one_line_exit_1(tmp_path, monkeypatch):
    touch(tmp_path)

    def boom(*a, **k):
        raise RuntimeError("executor lost\n  at some.java.Frame")

    monkeypatch.setattr(cli_plan, "compute_plan", boom)
    r = CliRunner().invoke(main, ["plan", write(tmp_path, spec_body(3))])
    assert r.exit_code == 1 and "plan failed: RuntimeError: executor lost" in r.output
    assert "java.Frame" not in r.output


def test_plan_bad_spec_exits_2(tmp_path):
    r = CliRunner().invoke(main, ["plan", write(tmp_path, "sources:\n  - {name: a, kind: jsonl, paths: [x], wieght: 1}\n")])
    assert r.exit_code == 2 and "sources[0].wieght: unknown field" in r.output


def test_plan_prints_the_dedup_estimate():
    from rich.console import Console

    from engine.plan.budgets import MixPlan

    con = Console(record=True, width=300, file=io.StringIO())
    res = cli_plan.PlanResult(MixPlan(), None, {"annotate": False}, "/w",
                              {"docs": 10, "total_shuffle_bytes": 2_500_000, "python_worker_mb": 229})
    cli_plan.print_plan(con, load_example(check_paths=False), res)
    text = con.export_text()
    assert "dedup estimate: docs 10, total_shuffle 2.5 MB, python_worker_mb 229" in text


# ---------------------------------------------------------------- the example and its synthetic data


def load_example(check_paths=True):
    return load_spec(str(ROOT / "mixes" / "web-code-qa.yaml"), check_paths=check_paths)


def test_example_spec_blends_web_code_qa_and_synthetic():
    s = load_example(check_paths=False)
    kinds = {src.name: src.kind for src in s.sources}
    assert kinds == {"web": "warc", "code": "code", "qa": "stackexchange", "synthetic": "synthetic"}
    web = s.source("web")
    assert web.group_by == "lang" and web.temperature == 0.3
    assert s.target_tokens and s.limits.synthetic_max_share
    assert sum(src.weight for src in s.sources) == pytest.approx(1)
    shared = os.path.realpath(ROOT.parent / "shared" / "data")   # spec paths are resolved through symlinks
    assert all(p.startswith(shared) or "/mixes/sample/data/" in p for src in s.sources for p in src.paths)


def _prepare():
    spec = importlib.util.spec_from_file_location("sample_prepare", ROOT / "mixes" / "sample" / "prepare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_markov_synthetic_documents_are_generated_deterministically_with_provenance(tmp_path):
    prep = _prepare()
    a = prep.markov_documents(n_docs=20, seed=3)
    assert a == prep.markov_documents(n_docs=20, seed=3)
    assert a != prep.markov_documents(n_docs=20, seed=4)
    topics = prep.pydoc_topics()
    for r in a:
        assert r["generator"] == "markov-trigram-v1"
        doc_id, offset = r["prompt_id"].rsplit("@", 1)
        assert doc_id == r["seed_doc_id"] and doc_id in topics
        words = topics[doc_id].split()
        assert r["text"].split()[:2] == words[int(offset):int(offset) + 2]     # starts from its prompt
        assert 80 <= len(r["text"].split()) <= 402
        assert r["text"] not in topics.values()
    # generated, not copied: most 8-word windows of the output never occur in the training text
    corpus = " ".join(" ".join(t.split()) for t in topics.values())
    windows = [" ".join(r["text"].split()[i:i + 8]) for r in a for i in range(0, 60, 8)]
    assert sum(w in corpus for w in windows) < 0.5 * len(windows)
    # main() writes both files; unchanged content is not rewritten (stage reuse keys on mtimes)
    prep.main(str(tmp_path))
    f = tmp_path / "synthetic_markov.jsonl.gz"
    mtime = f.stat().st_mtime_ns
    prep.main(str(tmp_path))
    assert f.stat().st_mtime_ns == mtime and (tmp_path / "python_docs.jsonl.gz").exists()


def test_plan_explains_every_leaf_and_the_expected_total(tmp_path, monkeypatch):
    """Where each leaf's documents went (top 3 reasons + other), and the expected realized total, in the table
    (within 100 columns, piped) and in --json."""
    from engine.plan.explain import explain

    rows = [  # (source, group, reason, docs): what engine.spark.explain.leaf_reasons counts
        ("web", "en", None, 900), ("web", "en", "gopher_repetition:duplicated_5_n_grams", 234),
        ("web", "en", "gopher_quality:short_doc", 20), ("web", "en", "c4_quality:lorem_ipsum", 5),
        ("web", "en", "fineweb_quality:short_lines", 3), ("web", "en", "nsfw_words", 2), ("web", "en", "duplicate", 7),
        ("web", "sw", None, 10), ("web", "ja", "language:not_kept", 40), ("synth", None, None, 50)]
    rows = [{"source": s, "group": g, "reason": r, "docs": n, "tokens": 100 * n if r is None else 0}
            for s, g, r, n in rows]

    def fake(spec, master=None, say=lambda *_: None, inputs=None):
        plan = plan_mix(spec, AVAILABLE)
        for l, e in zip(plan.leaves, (6_380, 1_640, 2_010)):
            l.expected_tokens, l.expected_docs = e, e // 100
        return cli_plan.PlanResult(plan, None, {"annotate": True}, "/w", None, explain(rows, plan))

    monkeypatch.setattr(cli_plan, "compute_plan", fake)
    touch(tmp_path)
    f = write(tmp_path, spec_body(3))
    r = CliRunner().invoke(main, ["plan", f])
    assert r.exit_code == 0, r.output
    assert max(len(line.rstrip()) for line in r.stdout.splitlines()) <= cli_plan.WIDTH
    lines = r.stdout.splitlines()
    en = next(i for i, l in enumerate(lines) if l.split()[:2] == ["web", "en"])
    # read 1,171 = 900 kept + 264 dropped + 7 duplicates; the top 3 reasons, then the rest as "other"
    assert lines[en].split()[:6] == ["web", "en", "1,171", "264", "234", "gopher_repetition:duplicated_5_n_grams"]
    assert lines[en + 1].split() == ["20", "gopher_quality:short_doc"]
    assert lines[en + 2].split() == ["5", "c4_quality:lorem_ipsum"] and lines[en + 3].split() == ["5", "other"]
    assert lines[en].split()[-3:] == ["7", "900", "90,000"]
    assert any(l.split()[:5] == ["web", "(all", "dropped)", "40", "40"] for l in lines)
    assert "expected realized 10,030 tokens: +30 (+0.3%) vs target (cut: nearest)" in r.output
    p = json.loads(CliRunner().invoke(main, ["plan", f, "--json"]).stdout)
    assert p["cut"] == "nearest" and p["expected_tokens"] == 10_030 and p["expected_overshoot"] == 30
    e = {(x["source"], x["group"]): x for x in p["explain"]}
    assert e[("web", "en")]["reasons"][-1] == ["other", 5] and e[("web", "en")]["duplicates"] == 7
    assert e[("web", "(all dropped)")]["dropped"] == 40 and e[("synth", None)]["available_docs"] == 50
