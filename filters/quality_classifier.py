"""Model-based quality filter: any fastText classifier (DCLM's, FineWeb-Edu-style, or one trained with
`train_quality` / `tamis train-quality`). `model` is a local path or a URI (`s3://...`: a local copy is
fetched into the cache folder, see engine.storage.local_copy).

Signal: the probability of the positive `label` (`__label__hq` by default), in the column named by `signal`
(`quality_score` by default; names must start with `quality_` so two classifiers can sit in one chain).

Threshold, one of:
- `min_score: x` drops documents scoring below x (reason `<signal>:low_score`);
- `top_percent: x` keeps the best x % of the source. The threshold is a quantile of the whole source, so the
  Spark pipeline computes it after scoring: `global_quantile` gives `(signal, q)`, the pipeline computes the
  q-quantile of that column and calls `with_threshold(value)`, which returns a copy with `min_score=value`
  whose `decide` is then replayable from the stored column like any other filter.

Text given to the model: newlines become spaces; with `normalize: true` (default, and what `train_quality`
trains on) also NFKC, lowercase, and punctuation split from words (`word.` -> `word .`), as fastText
splits on whitespace only. Use `normalize: false` for models trained on raw text (e.g. DCLM's).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator, model_validator

from filters.base import Filter, GlobalThreshold, param, texts
from filters.language import load_fasttext

_TOKEN = re.compile(r"\w+|[^\w\s]")


def normalize_text(text: str, max_chars: int | None = 100_000) -> str:
    """The text as the classifier sees it: NFKC, lowercase, punctuation split off, one line."""
    if max_chars is not None:
        text = text[:max_chars]
    return " ".join(_TOKEN.findall(unicodedata.normalize("NFKC", text).lower()))


def _one_line(text: str, max_chars: int | None = 100_000) -> str:
    if max_chars is not None:
        text = text[:max_chars]
    return " ".join(text.split())


class QualityClassifier(Filter, GlobalThreshold):
    kind: Literal["quality_classifier"] = "quality_classifier"
    model: str = param(..., "a fastText classifier file (e.g. from `tamis train-quality`)", "DCLM (Li et al. 2024)")
    label: str = param("__label__hq", "the positive label (`__label__` is added if missing)", "tamis train-quality")
    signal: str = param("quality_score", "the signal column (must start with `quality_`)", "tamis",
                        pattern=r"^quality_[a-z0-9_]+$")
    min_score: float | None = param(None, "drop documents scoring below this", "tamis")
    top_percent: float | None = param(None, "keep the best x % of the source (a quantile computed on Spark)",
                                      "DCLM (Li et al. 2024): top 10 %", gt=0.0, le=100.0)
    normalize: bool = param(True, "NFKC, lowercase, punctuation split off (as train-quality trains); false for "
                                  "models trained on raw text (DCLM's)", "tamis train-quality")
    # fastText's cost is linear in length
    max_chars: int | None = param(100_000, "characters of a document given to the model", "tamis")

    summary: ClassVar[str] = "any fastText quality classifier: a score threshold or the source's top x %"
    literature: ClassVar[str] = "DCLM (Li et al. 2024) fastText classifier"
    reasons: ClassVar[tuple[str, ...]] = ("<signal>:low_score",)

    # `signal` names the stored column: score-side
    decide_params: ClassVar[tuple[str, ...]] = ("min_score", "top_percent")
    signal_types: ClassVar[dict[str, pa.DataType]] = {"quality_score": pa.float64()}

    @field_validator("label")
    @classmethod
    def _label_prefix(cls, v: str) -> str:
        return v if v.startswith("__label__") else f"__label__{v}"

    @model_validator(mode="after")
    def _threshold(self):
        if self.mode == "drop" and self.min_score is None and self.top_percent is None:
            raise ValueError("quality_classifier: set min_score or top_percent (or mode: tag)")
        return self

    def signal_fields(self) -> list[pa.Field]:
        return [pa.field(self.signal, pa.float64())]

    # --- global threshold (top_percent): the GlobalThreshold protocol
    @property
    def global_quantile(self) -> tuple[str, float] | None:
        """(signal column, quantile) whose value over the whole source must become `min_score`, or None when
        the threshold is already known."""
        if self.top_percent is None or self.min_score is not None:
            return None
        return self.signal, 1.0 - self.top_percent / 100.0

    def with_threshold(self, value: float) -> "QualityClassifier":
        return self.model_copy(update={"min_score": float(value)})

    # --- scoring
    def _model(self):
        m = load_fasttext(os.path.expanduser(self.model))
        if self.label not in _labels(m):
            raise ValueError(f"quality_classifier: label {self.label!r} not in the model's labels {sorted(_labels(m))}")
        return m

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        model = self._model()
        prep = normalize_text if self.normalize else _one_line
        lines = [prep(t, self.max_chars) for t in texts(docs)]
        return {self.signal: pa.array(predict_label_prob(model, lines, self.label), pa.float64())}

    def decide(self, table: pa.Table) -> pa.Array:
        if self.min_score is None:
            if self.mode == "tag":
                return pa.nulls(table.num_rows, pa.string())
            raise ValueError(f"quality_classifier: top_percent={self.top_percent} needs the source-wide threshold: "
                             f"call with_threshold() with the {self.global_quantile} quantile first")
        low = pc.fill_null(pc.less(table.column(self.signal), self.min_score), True)
        return pc.if_else(low, pa.scalar(f"{self.signal}:low_score", pa.string()), pa.scalar(None, pa.string()))


def _labels(model) -> frozenset[str]:
    return frozenset(model.get_labels())


def predict_label_prob(model, lines: list[str], label: str) -> list[float]:
    """P(label) for each one-line text (0 for empty text), one batched fastText call."""
    k = len(_labels(model))
    out = [0.0] * len(lines)
    idx = [i for i, t in enumerate(lines) if t]
    if idx:
        labs, probs = model.predict([lines[i] for i in idx], k=k)
        for i, ls, ps in zip(idx, labs, probs):
            for lab, p in zip(ls, ps):
                if lab == label:
                    out[i] = min(float(p), 1.0)
                    break
    return out


# ---------------------------------------------------------------------------------------------------------
# Training

def iter_documents(paths: Iterable[str | os.PathLike], text_field: str = "text") -> Iterator[str]:
    """Texts of document files: JSONL/JSON (`text_field`; .gz/.zst ok), Parquet (`text_field` column), or
    plain text (.txt etc.: one document per non-empty line). Directories are walked, globs expanded."""
    import glob as _glob

    files: list[str] = []
    for p in map(str, paths):
        p = os.path.expanduser(p)
        if os.path.isdir(p):
            files += sorted(str(f) for f in Path(p).rglob("*") if f.is_file())
        elif any(c in p for c in "*?["):
            files += sorted(_glob.glob(p, recursive=True))
        else:
            if not os.path.exists(p):
                raise FileNotFoundError(f"train_quality: no such file: {p}")
            files.append(p)
    for f in files:
        base = f.removesuffix(".gz").removesuffix(".zst").lower()
        if base.endswith(".parquet"):
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(f).iter_batches(columns=[text_field]):
                yield from (t for t in batch.column(0).to_pylist() if t)
            continue
        if f.endswith(".gz"):
            fh = gzip.open(f, "rt", encoding="utf-8")
        elif f.endswith(".zst"):
            import zstandard

            fh = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(f, "rb")), encoding="utf-8")
        else:
            fh = open(f, encoding="utf-8")
        with fh:
            if base.endswith((".jsonl", ".json", ".ndjson")):
                for line in fh:
                    if line.strip():
                        t = json.loads(line).get(text_field)
                        if isinstance(t, str) and t.strip():
                            yield t
            else:
                yield from (line.rstrip("\n") for line in fh if line.strip())


_TRAIN_CHILD = """
import json, sys
import fasttext
model = fasttext.train_supervised(input=sys.argv[1], verbose=0, **json.loads(sys.argv[3]))
model.save_model(sys.argv[2])
"""


@dataclass
class TrainReport:
    """What `train_quality` did; `valid_*` are set when `valid_fraction > 0` (positive label as the class)."""
    model_path: str
    n_pos: int
    n_neg: int
    labels: tuple[str, str]
    valid_n: int = 0
    valid_precision: float | None = None
    valid_recall: float | None = None
    params: dict = field(default_factory=dict)


def train_quality(
    pos_paths: Iterable[str | os.PathLike],
    neg_paths: Iterable[str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    text_field: str = "text",
    label: str = "hq",
    neg_label: str = "lq",
    balance: bool = True,
    max_docs: int | None = None,
    valid_fraction: float = 0.0,
    epoch: int = 5,
    lr: float = 0.1,
    word_ngrams: int = 2,
    dim: int = 100,
    min_count: int = 1,
    bucket: int = 1_000_000,
    threads: int | None = None,
    seed: int = 0,
    max_chars: int | None = 100_000,
) -> TrainReport:
    """Train a fastText quality classifier from positive and negative document sets (DCLM style).

    pos_paths / neg_paths: files, directories or globs of JSONL (field `text_field`), Parquet (column
    `text_field`) or plain text (one document per line). Texts are normalized exactly as
    `QualityClassifier(normalize=True)` does at scoring time (NFKC, lowercase, punctuation split).
    balance: downsample the larger class to the size of the smaller (seeded); max_docs caps each class.
    valid_fraction: hold out that share of each class and report precision/recall of the positive label.
    epoch, lr, word_ngrams, dim, min_count, bucket: fastText supervised parameters (defaults: fastText's
    supervised ones plus word bigrams, as DCLM's classifier; bucket 1 M keeps the model near 400 MB, lower
    it for small data). threads: training threads (default: all cores). Training runs in a child process.
    Returns a TrainReport; the model is written to out_path (`.bin`). Score with
    `{kind: quality_classifier, model: out_path, label: <label>, ...}`.
    """
    lab_pos, lab_neg = (f"__label__{x.removeprefix('__label__')}" for x in (label, neg_label))
    train, valid, n_pos, n_neg = _training_sets(pos_paths, neg_paths, text_field, max_chars, (lab_pos, lab_neg),
                                                random.Random(seed), balance, max_docs, valid_fraction)
    params = dict(epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, minCount=min_count, bucket=bucket,
                  thread=threads or os.cpu_count() or 1, seed=seed, loss="softmax")
    out_path = str(out_path)
    _fit_fasttext(train, out_path, params)
    model = load_fasttext(out_path)
    report = TrainReport(out_path, n_pos, n_neg, (lab_pos, lab_neg), params=params)
    if valid:
        _validate(report, model, valid, lab_pos)
    return report


def _training_sets(pos_paths, neg_paths, text_field: str, max_chars: int | None, labels: tuple[str, str],
                   rng: random.Random, balance: bool, max_docs: int | None, valid_fraction: float):
    """(train, valid, training positives, training negatives): (label, normalized text) pairs, shuffled."""
    lab_pos, lab_neg = labels
    pos = [normalize_text(t, max_chars) for t in iter_documents(pos_paths, text_field)]
    neg = [normalize_text(t, max_chars) for t in iter_documents(neg_paths, text_field)]
    pos, neg = [t for t in pos if t], [t for t in neg if t]
    if not pos or not neg:
        raise ValueError(f"train_quality: need documents of both classes (got {len(pos)} positive, {len(neg)} negative)")
    rng.shuffle(pos)
    rng.shuffle(neg)
    cap = min(len(pos), len(neg)) if balance else None
    if max_docs is not None:
        cap = min(cap or max_docs, max_docs)
    if cap is not None:
        pos, neg = pos[:cap], neg[:cap]
    nv_pos, nv_neg = int(len(pos) * valid_fraction), int(len(neg) * valid_fraction)
    valid = [(lab_pos, t) for t in pos[:nv_pos]] + [(lab_neg, t) for t in neg[:nv_neg]]
    train = [(lab_pos, t) for t in pos[nv_pos:]] + [(lab_neg, t) for t in neg[nv_neg:]]
    rng.shuffle(train)
    return train, valid, len(pos) - nv_pos, len(neg) - nv_neg


def _fit_fasttext(train: list[tuple[str, str]], out_path: str, params: dict) -> None:
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as tmp:
        tmp.writelines(f"{lab} {t}\n" for lab, t in train)
    try:
        # fastText trains in a fresh process: in a process that already trained or holds much memory,
        # fasttext 0.9.2 sporadically fails with "Encountered NaN" (state left from earlier runs); the first
        # training of a process does not. A fresh process is also what a CLI command would be.
        proc = subprocess.run([sys.executable, "-c", _TRAIN_CHILD, tmp.name, out_path, json.dumps(params)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            err = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"train_quality: fastText training failed: {err}")
    finally:
        os.unlink(tmp.name)


def _validate(report: TrainReport, model, valid: list[tuple[str, str]], lab_pos: str) -> None:
    """Precision and recall of the positive label on the held-out documents, into `report`."""
    probs = np.array(predict_label_prob(model, [t for _, t in valid], lab_pos))
    truth = np.array([lab == lab_pos for lab, _ in valid])
    pred = probs >= 0.5
    report.valid_n = len(valid)
    report.valid_precision = float((pred & truth).sum() / max(pred.sum(), 1))
    report.valid_recall = float((pred & truth).sum() / max(truth.sum(), 1))
