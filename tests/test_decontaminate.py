"""Decontamination: GSM8K / HumanEval items planted in real web text are caught, real clean text is not."""
from __future__ import annotations

import glob
import gzip
import html
import json
import random
import re
import xml.etree.ElementTree as ET

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.schema import read_batch
from filters.chain import apply_chain
from filters.decontaminate import Decontaminate, benchmark_name, build_index, words
from tests.conftest import shared_data


def gsm8k() -> str:
    return str(shared_data("benchmarks", "gsm8k", "test.jsonl"))


def humaneval() -> str:
    return str(shared_data("benchmarks", "humaneval", "HumanEval.jsonl.gz"))


def dolma_docs() -> list[str]:
    out: dict[str, None] = {}
    for p in sorted(glob.glob(str(shared_data("jsonl")) + "/**/*.json*", recursive=True)):
        if any(s in p for s in ("/attributes/", "/expected/", "_dolma_test_configs")) or p.endswith(".zst"):
            continue
        with (gzip.open(p, "rt") if p.endswith(".gz") else open(p)) as f:
            for line in f:
                t = json.loads(line).get("text")
                if isinstance(t, str) and t.strip():
                    out.setdefault(t)
    return list(out)


def se_posts() -> list[str]:
    out = []
    for p in sorted(glob.glob(str(shared_data("stackexchange")) + "/*/Posts.xml")):
        for _, el in ET.iterparse(p):
            if el.tag == "row" and el.get("Body"):
                out.append(html.unescape(re.sub(r"<[^>]+>", " ", el.get("Body"))))
            el.clear()
    return out


def langid_sentences() -> list[str]:
    out = []
    for p in sorted(shared_data("langid", "sentences").glob("*.txt")):
        out += [ln for ln in p.read_text(encoding="utf-8").split("\n") if ln.strip()]
    return out


def code_files() -> list[str]:
    out = [t for t in pq.read_table(shared_data("code", "stack_style_code_sample.parquet")).column("content").to_pylist() if t]
    with gzip.open(shared_data("neardup", "vendored_python_code", "vendored_code_docs.jsonl.gz"), "rt") as f:
        out += [json.loads(line)["content"] for line in f]
    return out


@pytest.fixture(scope="module")
def filt() -> Decontaminate:
    return Decontaminate(benchmarks=[gsm8k(), humaneval()])


def plant(host: str, item: str) -> str:
    mid = host.find(" ", len(host) // 2)
    mid = len(host) // 2 if mid < 0 else mid
    return f"{host[:mid]}\n\n{item}\n\n{host[mid:]}"


def test_planted_benchmark_items_are_caught(filt):
    rng = random.Random(7)
    hosts = [t for t in dolma_docs() + se_posts() if len(t.split()) >= 150]
    gsm = [json.loads(line) for line in open(gsm8k())]
    he = [json.loads(line) for line in gzip.open(humaneval(), "rt")]
    planted, expect = [], []
    for i, rec in enumerate(rng.sample(gsm, 150)):
        # half with the worked answer, as a homework-help page would show it
        item = rec["question"] + ("\n" + rec["answer"] if i % 2 else "")
        planted.append(plant(rng.choice(hosts), item))
        expect.append("gsm8k_test")
    for rec in rng.sample(he, 150):
        planted.append(plant(rng.choice(hosts), rec["prompt"]))
        expect.append("HumanEval")
    out = filt.score(pa.table({"text": planted}))
    matches = out["decontam_match"].to_pylist()
    caught = [m is not None and m.split(":")[0] == e for m, e in zip(matches, expect)]
    assert len(planted) == 300
    assert sum(caught) / len(planted) >= 0.95, sum(caught)
    assert min(c for c, m in zip(out["decontam_ngrams"].to_pylist(), matches) if m) >= 1
    reasons = filt.decide(pa.table(out)).to_pylist()
    assert reasons[0] == "decontaminated:gsm8k_test" and reasons[-1] == "decontaminated:HumanEval"


def test_real_clean_text_is_not_flagged(filt):
    corpus = dolma_docs() + se_posts() + langid_sentences() + code_files()
    assert len(corpus) > 75_000
    out = filt.score(pa.table({"text": corpus}))
    flagged = [(m, t[:80]) for m, t in zip(out["decontam_match"].to_pylist(), corpus) if m]
    assert len(flagged) / len(corpus) <= 0.005, flagged[:10]


def test_item_labels_and_ids(filt):
    idx = filt.index()
    assert idx.labels[0] == "gsm8k_test:0" and idx.labels[-1] == "HumanEval:HumanEval/163"
    assert benchmark_name("/x/mmlu/test/astronomy.csv") == "astronomy"
    assert benchmark_name("/x/gsm8k/train.jsonl") == "gsm8k_train"
    he = [json.loads(line) for line in gzip.open(humaneval(), "rt")]
    out = filt.score(pa.table({"text": ["Intro text. " + he[12]["prompt"] + " More text."]}))
    assert out["decontam_match"].to_pylist() == ["HumanEval:HumanEval/12"]


def test_normalization_punctuation_case_unicode(filt):
    q = json.loads(open(gsm8k()).readline())["question"]  # Janet's ducks...
    mangled = q.upper().replace(".", " ;; ").replace("’", "'").replace(" ", "\u00a0 ")  # NFKC: NBSP -> space
    assert words(mangled) == words(q.replace("’", "'"))
    out = filt.score(pa.table({"text": [f"Blog post. {mangled} The end."]}))
    assert out["decontam_match"].to_pylist() == ["gsm8k_test:0"]


def test_short_items_whole_item_and_min_words(tmp_path):
    bench = tmp_path / "tiny.jsonl"
    rows = [{"id": "a", "q": "what is the capital city of the republic of kiribati"},   # 10 words < 13
            {"id": "b", "q": "name it"},                                                # 2 words: ignored
            {"id": "c", "q": "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", "choices": ["x y z"]}]  # numbers only
    bench.write_text("\n".join(json.dumps(r) for r in rows))
    f = Decontaminate(benchmarks=[str(bench)])
    texts = ["Quiz: What is the capital city of the Republic of Kiribati? Answer below.",
             "what is the capital city of the republic of",   # a part of the short item is not a match
             "Please name it now.", "Count: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16."]
    out = f.score(pa.table({"text": texts}))
    assert out["decontam_match"].to_pylist() == ["tiny:a", None, None, None]
    assert out["decontam_ngrams"].to_pylist() == [1, 0, 0, 0]
    assert build_index((str(bench),), None, 13, 8).lengths == (13, 10)


def test_fields_csv_parquet_and_globs(tmp_path):
    (tmp_path / "b").mkdir()
    q = "a farmer has seventeen sheep and all but nine run away how many are left"
    (tmp_path / "b" / "quiz.csv").write_text(f"question,answer\n{q},nine sheep are left over in the field today\n")
    pq.write_table(pa.table({"prompt": ["the quick brown fox jumps over the lazy dog while the cat sleeps soundly"],
                             "other": ["ignored field with enough words to count as an item of text"]}),
                   tmp_path / "b" / "pp.parquet")
    f = Decontaminate(benchmarks=[str(tmp_path / "b" / "*")], fields=["question", "prompt"])
    out = f.score(pa.table({"text": [f"Riddle: {q}?", "The quick brown fox jumps over the lazy dog while the cat sleeps soundly.",
                                     "ignored field with enough words to count as an item of text",
                                     "nine sheep are left over in the field today"]}))
    assert out["decontam_match"].to_pylist() == ["quiz:0", "pp:0", None, None]
    with pytest.raises(FileNotFoundError):
        Decontaminate(benchmarks=[str(tmp_path / "nope*.jsonl")]).index()


def test_tag_mode_and_decide_from_signals(filt):
    q = json.loads(open(gsm8k()).readline())["question"]
    docs = pa.Table.from_batches([read_batch([{"id": "1", "text": "x " + q}, {"id": "2", "text": "clean text"}])])
    tagged = apply_chain([Decontaminate(benchmarks=[gsm8k()], mode="tag")], docs)
    assert tagged.column("reason").to_pylist() == [None, None]
    assert tagged.column("decontam_match").to_pylist() == ["gsm8k_test:0", None]
    dropped = apply_chain([Decontaminate(benchmarks=[gsm8k()])], docs)
    assert dropped.column("reason").to_pylist() == ["decontaminated:gsm8k_test", None]
    t = pa.table({"decontam_match": ["HumanEval:HumanEval/3", "gsm8k_test:1", None],
                  "decontam_ngrams": pa.array([5, 1, 0], pa.int64())})
    assert Decontaminate(benchmarks=["unused"], min_matches=2).decide(t).to_pylist() == \
        ["decontaminated:HumanEval", None, None]
