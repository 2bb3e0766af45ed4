"""`tamis plan` predicts what `tamis run` realizes, on the real web-code-qa mix (WARC in three languages,
code, Stack Exchange, synthetic text under a 5% cap): expected total within 0.5% of target_tokens, realized
equal to it, leaf by leaf; and the plan's table explains every leaf within 100 columns."""
from __future__ import annotations

import importlib.util
import io

import pytest

from engine.spec import load_spec
from tests.conftest import ROOT, shared_data

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _web_code_qa(tmp_path):
    spec = load_spec(str(ROOT / "mixes" / "web-code-qa.yaml"), check_paths=False)
    for s in spec.sources:            # the spec reads ../shared/data beside the repo: the test data
        for p in s.paths:
            if "/shared/data/" in p:
                shared_data(p.split("/shared/data/", 1)[1].split("*")[0].rstrip("/"))
    data = ROOT / "mixes" / "sample" / "data"
    if not (data / "synthetic_markov.jsonl.gz").exists():   # the synthetic source: deterministic, gitignored
        mod = importlib.util.spec_from_file_location("sample_prepare", ROOT / "mixes" / "sample" / "prepare.py")
        prep = importlib.util.module_from_spec(mod)
        mod.loader.exec_module(prep)
        prep.main(str(data))
    spec = load_spec(str(ROOT / "mixes" / "web-code-qa.yaml"))
    out = spec.output.model_copy(update={"path": str(tmp_path / "out"), "work_dir": str(tmp_path / "work")})
    return spec.model_copy(update={"output": out})


def test_web_code_qa_plan_predicts_the_realized_total_within_half_a_percent(tmp_path):
    from engine.cli.plan import WIDTH, print_plan
    from engine.display import literal_console
    from engine.dry_run import compute_plan
    from engine.run import run

    spec = _web_code_qa(tmp_path)
    assert spec.cut == "nearest" and spec.target_tokens == 180_000
    res = compute_plan(spec)
    assert res.error is None
    plan = res.plan
    assert abs(plan.expected_tokens - spec.target_tokens) <= 0.005 * spec.target_tokens
    m = run(spec)
    realized = {(l["source"], l["group"]): l["realized_tokens"] for l in m["leaves"]}
    assert realized == {(l.source, l.group): l.expected_tokens for l in plan.leaves}
    assert m["mix"]["realized_tokens"] == plan.expected_tokens
    assert abs(m["mix"]["realized_tokens"] - spec.target_tokens) <= 0.005 * spec.target_tokens
    assert m["mix"]["synthetic_share_realized"] <= 0.05
    # every leaf's story adds up: read = dropped + duplicates + kept, kept = what the plan had available
    stories = {(st.source, st.group): st for st in res.stories}
    for l in plan.leaves:
        st = stories[(l.source, l.group)]
        assert st.read == st.dropped + st.duplicates + st.available_docs and st.read > 0
        assert (st.available_docs, st.available_tokens) == (l.available_docs, l.available_tokens)
        assert st.expected_tokens == l.expected_tokens == realized[(l.source, l.group)]
    buf = io.StringIO()
    print_plan(literal_console(file=buf, width=WIDTH), spec, res)
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "expected realized" in text and "(cut: nearest)" in text and "language:not_kept" in text
