"""How well `lang_doubt` (filters/lang_checks.py) separates wrong language labels from right ones, and its speed.

    .venv/bin/python bench/bench_lang_doubt.py            # rates on documents of 5 sentences, then speed
    .venv/bin/python bench/bench_lang_doubt.py --sentences 1 --per-lang 300

Data: lingua's test sentences in ../shared/data/langid (75 languages; or $TAMIS_SHARED_DATA), grouped into
documents of `--sentences` sentences, `--per-lang` documents per language. Label sets, each scored with the
label as the document's `lang`:
- correct: the true language, for the 67 languages lid.176 knows (its spelling: `no` for `nb`);
- random_wrong: a random other language among those 67;
- second_choice: lid.176's most likely label other than the true one (the plausible mistake: `da` for `nb`,
  `pt` for `es`);
- unknown_lang: the 8 languages lid.176 does not know (lg mi sn st tn ts xh zu), labeled with what it
  predicts for them, the way such text enters a corpus;
- natural: lid.176's own top label on every document, split into its right and wrong predictions.
Printed: the share flagged per set, per language where it varies most, and the false-flag rate and recall
that `filters.lang_checks.label_precision` assumes. Speed: documents per CPU-second of `label_checks` (the
new signals; models loaded before timing) on real web documents and Stack Exchange posts.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filters.lang_checks import label_checks, second_lid, word_lists  # noqa: E402
from filters.language import default_lid_model_path, load_fasttext  # noqa: E402
from tests.diversity_sets import SHARED, stackexchange_docs, web_docs  # noqa: E402
from tests.label_sets import documents, label_sets, rates  # noqa: E402


def speed(n: int = 2000) -> dict:
    import pyarrow as pa

    from filters.language import Language

    texts = ((web_docs() + stackexchange_docs(limit=600)) * 4)[:n]
    t0 = time.process_time()
    word_lists(), second_lid(), load_fasttext(default_lid_model_path())   # once per worker: timed apart
    load = time.process_time() - t0
    t1 = time.process_time()
    label_checks(texts, ["en"] * len(texts), [False] * len(texts))
    checks = time.process_time() - t1
    t2 = time.process_time()
    Language().score(pa.table({"text": texts}))
    whole = time.process_time() - t2
    return {"docs": len(texts), "mean_chars": round(sum(map(len, texts)) / len(texts)),
            "checks_docs_per_cpu_second": round(len(texts) / checks),
            "filter_docs_per_cpu_second": round(len(texts) / whole), "load_cpu_seconds": round(load, 2)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sentences", type=int, default=5, help="sentences per document")
    ap.add_argument("--per-lang", type=int, default=100, help="documents per language")
    a = ap.parse_args(argv)
    docs, truth = documents(a.sentences, a.per_lang, SHARED)
    r = rates(docs, label_sets(docs, truth))
    print(f"lang_doubt on lingua documents of {a.sentences} sentence(s), {a.per_lang} per language")
    print(f"{'set':15s} {'docs':>6s} {'flagged':>8s}   lowest / highest per language")
    for name, v in r.items():
        per = sorted(v["per_lang"].items(), key=lambda kv: kv[1])
        ends = ", ".join(f"{k} {x:.2f}" for k, x in per[:4]) + "  ..  " + \
            ", ".join(f"{k} {x:.2f}" for k, x in per[-4:])
        print(f"{name:15s} {v['docs']:6d} {v['flagged']:8.3f}   {ends}")
    wrong = [r[k] for k in ("random_wrong", "second_choice", "unknown_lang")]
    recall = sum(w["flagged"] * w["docs"] for w in wrong) / sum(w["docs"] for w in wrong)
    print(f"false-flag rate (correct labels) {r['correct']['flagged']:.3f}; recall on wrong labels "
          f"(3 sets pooled) {recall:.3f}")
    s = speed()
    print(f"speed on {s['docs']} web/Q&A docs (mean {s['mean_chars']} chars), docs per CPU-second: new signals "
          f"(word list, second LID, doubt) {s['checks_docs_per_cpu_second']}; whole language filter (fastText, "
          f"script, checks) {s['filter_docs_per_cpu_second']}; lists and models load once per worker in "
          f"{s['load_cpu_seconds']} CPU-s")
    return {"rates": r, "recall": recall, "speed": s}


if __name__ == "__main__":
    main()
