"""Token counts: the Rust fast path equals bpe-openai's public `encode_ordinary`, on real text."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import shared_data
from engine import tokenize


def real_texts() -> list[str]:
    data = shared_data()
    texts = []
    for path in sorted((data / "jsonl").rglob("*.json*.gz"))[:2]:
        with gzip.open(path, "rt") as f:
            for line, _ in zip(f, range(300)):
                t = json.loads(line).get("text")
                if isinstance(t, str):
                    texts.append(t)
    for path in sorted((data / "langid" / "sentences").glob("*.txt"))[:40]:
        texts.append(path.read_text(encoding="utf-8")[:5000])
    return texts


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_counts_equal_encode_ordinary(name):
    texts = real_texts() + ["", " ", "a <|endoftext|> b <|fim_prefix|>", "\u00e9\u0301 \U0001F600 \u4e2d\u6587",
                            "x" * 50_000, "\r\n\t  \n", "don't I'll we've"]
    assert tokenize.rust_tokenizer(name) is not None
    got = tokenize.count_tokens(pa.array(texts + [None], pa.string()), name).to_pylist()
    want = [len(ids) for ids in tokenize.encoding(name).encode_ordinary_batch(texts, num_threads=1)]
    assert got == want + [None]
    assert sum(want) > 10_000


def test_fast_path_does_not_import_the_python_package():
    code = ("import sys, pyarrow as pa; from engine.tokenize import count_tokens; "
            "print(count_tokens(pa.array(['hello world']), 'cl100k_base').to_pylist(), 'bpe_openai' in sys.modules)")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root).stdout.split()
    assert out == ["[2]", "False"]
