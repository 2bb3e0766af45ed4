"""Diversity metrics (engine/diversity.py) of human-written text and of synthetic sets, and their cost.

    .venv/bin/python bench/bench_diversity.py

Sets (tests/diversity_sets.py): human = the Python language reference topics, Stack Exchange posts
(beer.stackexchange.com) and the Common Crawl documents of ../shared/data (or $TAMIS_SHARED_DATA);
synthetic = the demo's trigram Markov text, the same model at temperature 0.3, a templated generator and
paraphrases of 20 posts repeated 20 times. Each set is shuffled with a fixed seed (a sample in hash order),
then measured as engine/spark/diversity.py measures a group's sample. Printed: one row per set, whether each
synthetic set is less diverse than every human set on every metric, and the CPU seconds per sample.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.diversity import HIGHER_IS_DIVERSE, less_diverse, metrics  # noqa: E402
from tests.diversity_sets import human_sets, synthetic_sets  # noqa: E402

COLUMNS = ["compression_ratio", "distinct_1", "distinct_2", "distinct_3", "distinct_4", "self_repetition",
           "vendi", "vendi_share"]


def measure() -> tuple[dict, dict, dict]:
    human, synthetic = human_sets(), synthetic_sets()
    out, cpu = {}, {}
    for name, docs in {**human, **synthetic}.items():
        docs = list(docs)
        random.Random(0).shuffle(docs)
        t = time.process_time()
        out[name] = metrics(docs)
        cpu[name] = time.process_time() - t
    return {k: out[k] for k in human}, {k: out[k] for k in synthetic}, cpu


def main() -> dict:
    human, synthetic, cpu = measure()
    arrows = {m: "^" if HIGHER_IS_DIVERSE.get(m, True) else "v" for m in COLUMNS}
    print("diversity per set (^ higher = more diverse, v lower = more diverse)")
    print(f"{'set':22s} {'docs':>5s} {'pass.':>5s} " + " ".join(f"{c[:15] + arrows[c]:>16s}" for c in COLUMNS)
          + f" {'cpu s':>6s}")
    for name, m in {**human, **synthetic}.items():
        kind = "human" if name in human else "synthetic"
        print(f"{kind[0]}:{name:20s} {m['sample_docs']:5d} {m['passages']:5d} "
              + " ".join(f"{m[c]:16.4f}" if m[c] is not None else f"{'-':>16s}" for c in COLUMNS)
              + f" {cpu[name]:6.2f}")
    print()
    ok = True
    for s, sm in synthetic.items():
        fails = {h: [k for k, v in less_diverse(sm, hm).items() if not v] for h, hm in human.items()}
        bad = {h: f for h, f in fails.items() if f}
        ok &= not bad
        print(f"{s:22s} less diverse than every human set on every metric: {'yes' if not bad else f'no {bad}'}")
    print(f"all synthetic sets below all human sets: {ok}")
    return {"human": human, "synthetic": synthetic, "cpu_seconds": cpu, "ordered": ok}


if __name__ == "__main__":
    main()
