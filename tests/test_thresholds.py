"""Source-wide thresholds: quality_classifier `top_percent` keeps the top x% of a source, computed on Spark."""
from __future__ import annotations

import json

import duckdb
import pytest

from engine.spec import load_spec
from tests.conftest import shared_data

pytestmark = pytest.mark.spark


def test_top_percent_keeps_the_top_share_of_the_source(spark, tmp_path):
    from engine.run import run
    from filters.quality_classifier import train_quality

    sentences = shared_data("langid", "sentences")
    en = sentences.joinpath("en.txt").read_text().splitlines()
    de = sentences.joinpath("de.txt").read_text().splitlines()
    # a real fastText classifier: English is "high quality", German is not
    for name, lines in (("pos", en[:600]), ("neg", de[:600])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"text": l}) + "\n" for l in lines))
    model = tmp_path / "q.bin"
    train_quality([tmp_path / "pos.jsonl"], [tmp_path / "neg.jsonl"], model, epoch=10)
    # the source: 200 held-out English and 200 German sentences
    docs = [{"id": f"en{i}", "text": l} for i, l in enumerate(en[600:800])] + \
           [{"id": f"de{i}", "text": l} for i, l in enumerate(de[600:800])]
    (tmp_path / "src.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    spec = tmp_path / "mix.yaml"
    spec.write_text(f"""\
name: q
output: {{path: out, shard_mb: 1}}
sources:
  - name: s
    kind: jsonl
    paths: [src.jsonl]
    filters:
      - {{kind: quality_classifier, model: {model}, top_percent: 40}}
""")
    m = run(load_spec(str(spec)))
    kept = duckdb.sql(f"select json_extract_string(meta, '$.key') from '{tmp_path}/out/*.parquet'").fetchall()
    assert 0.38 * 400 <= len(kept) <= 0.42 * 400, len(kept)
    # the top 40% by a classifier that separates the two languages is (almost) all English
    assert sum(i.startswith("en") for (i,) in kept) >= 0.95 * len(kept)
    dropped = m["sources"]["s"]["docs_dropped"]
    assert sum(dropped.values()) == 400 - len(kept)
    assert m["stages"]["decide"]["reused"] is False
    # every kept document scores at least as high as every dropped one
    lo = duckdb.sql(f"select min(quality_score) from '{tmp_path}/out/*.parquet'").fetchall()[0][0]
    hi = duckdb.sql(f"select max(quality_score) from '{tmp_path}/out/rejects/*.parquet'").fetchall()[0][0]
    assert lo >= hi
