"""Write the demo's inputs from what every Python install has: the reference manual's topics.

`pydoc_data.topics` holds the text of the Python language reference (PSF license), one entry per
topic. Each topic becomes one web-like document: mixes/sample/data/python_docs.jsonl.gz.

It also writes a genuinely model-generated set, mixes/sample/data/synthetic_markov.jsonl.gz: a word-level
trigram Markov model trained on those topics, sampled with a fixed seed. Every record names its generator
(`markov-trigram-v1`), its prompt (`prompt_id`: the two words it was started from, by topic and offset) and
the document that prompt came from (`seed_doc_id`), the provenance a `synthetic` source reads.
"""
from __future__ import annotations

import gzip
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

GENERATOR = "markov-trigram-v1"


def pydoc_topics() -> dict[str, str]:
    """{doc id: text} of the language reference topics, sorted by id."""
    from pydoc_data import topics

    return {f"pydoc/{name}": topics.topics[name] for name in sorted(topics.topics)}


class TrigramModel:
    """Word trigrams: P(w3 | w1, w2) from counts, sampled exactly (no smoothing)."""

    def __init__(self, docs: dict[str, str]):
        self.next: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.starts: list[tuple[str, int, tuple[str, str]]] = []   # (doc id, word offset, first two words)
        for doc_id in sorted(docs):
            words = docs[doc_id].split()
            for i in range(len(words) - 2):
                self.next[(words[i], words[i + 1])][words[i + 2]] += 1
                # a prompt: two words that open a sentence (after a full stop, or the document's start)
                if (i == 0 or words[i - 1].endswith(".")) and words[i][:1].isupper():
                    self.starts.append((doc_id, i, (words[i], words[i + 1])))
        # freeze: sorted successor lists make sampling independent of dict insertion order
        self.table = {k: sorted(v.items()) for k, v in self.next.items()}

    def sample(self, rng: random.Random, prompt: tuple[str, str], n_words: int) -> str:
        out = list(prompt)
        w1, w2 = prompt
        while len(out) < n_words:
            succ = self.table.get((w1, w2))
            if not succ:   # a dead end: restart from another sentence opening
                _, _, (w1, w2) = self.starts[int(rng.random() * len(self.starts))]
                out += [w1, w2]
                continue
            total = sum(c for _, c in succ)
            x = rng.random() * total
            for w, c in succ:
                x -= c
                if x < 0:
                    break
            out.append(w)
            w1, w2 = w2, w
        text = " ".join(out)
        # paragraphs at sentence ends, roughly every 60 words
        return re.sub(r"((?:\S+\s+){60,}?\S+\.)\s+", r"\1\n\n", text)


def markov_documents(n_docs: int = 400, seed: int = 20240601, min_words: int = 80, max_words: int = 400,
                     docs: dict[str, str] | None = None) -> list[dict]:
    """Sample `n_docs` synthetic documents (deterministic for the same seed and training text)."""
    model = TrigramModel(docs or pydoc_topics())
    rng = random.Random(seed)
    out = []
    for i in range(n_docs):
        doc_id, offset, prompt = model.starts[int(rng.random() * len(model.starts))]
        n_words = min_words + int(rng.random() * (max_words - min_words + 1))
        out.append({"id": f"markov/{i:06d}", "text": model.sample(rng, prompt, n_words), "generator": GENERATOR,
                    "prompt_id": f"{doc_id}@{offset}", "seed_doc_id": doc_id, "license": "PSF-2.0"})
    return out


def write_jsonl_gz(path: Path, records) -> Path:
    """Same records, same bytes; an unchanged file is left alone (its mtime keys tamis' stage reuse)."""
    import io

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as raw:
        for r in records:
            raw.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != buf.getvalue():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)
    return path


def main(out_dir: str) -> Path:
    out = Path(out_dir) / "python_docs.jsonl.gz"
    write_jsonl_gz(out, ({"id": doc_id, "text": text,
                          "url": f"https://docs.python.org/3/reference/#{doc_id.removeprefix('pydoc/')}"}
                         for doc_id, text in pydoc_topics().items()))
    write_jsonl_gz(Path(out_dir) / "synthetic_markov.jsonl.gz", markov_documents())
    return out


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent / "data")))
