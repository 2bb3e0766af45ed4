"""Deliberately mislabeled documents for `lang_doubt` (filters/lang_checks.py): lingua's test sentences in
../shared/data/langid grouped into documents, and label sets (right labels, random wrong ones, lid.176's
plausible second choice, languages lid.176 does not know). Used by tests/test_lang_doubt.py and
bench/bench_lang_doubt.py (tests never import bench/); the sets are described in the bench's doc."""
from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from filters.lang_checks import label_checks
from filters.language import default_lid_model_path, load_fasttext, normalize_lang, script_mismatch
from filters.scripts import dominant_scripts


def documents(sentences: int, per_lang: int, shared: Path,
              langs: set[str] | None = None) -> tuple[list[str], list[str]]:
    """(documents of `sentences` sentences, their true language), `per_lang` per language file."""
    docs, truth = [], []
    for path in sorted((shared / "langid" / "sentences").glob("*.txt")):
        if langs is not None and path.stem not in langs:
            continue
        lines = [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]
        grouped = [" ".join(lines[i:i + sentences]) for i in range(0, len(lines), sentences)][:per_lang]
        docs += grouped
        truth += [path.stem] * len(grouped)
    return docs, truth


def label_sets(docs: list[str], truth: list[str], seed: int = 3) -> dict[str, list[tuple[int, str, str]]]:
    """{set name: [(document index, label, true language)]}: correct, random_wrong, second_choice, unknown_lang,
    natural_right, natural_wrong (bench/bench_lang_doubt.py says what each holds)."""
    model = load_fasttext(default_lid_model_path())
    known = {normalize_lang(lab)[0] for lab in model.get_labels()}
    labels, _ = model.predict([d.replace("\n", " ") for d in docs], k=3)
    preds = [[normalize_lang(x)[0] for x in row] for row in labels]
    spell = {"nb": "no"}
    langs = sorted({t for t in truth if spell.get(t, t) in known})
    rng = random.Random(seed)
    sets: dict[str, list] = defaultdict(list)
    for i, t in enumerate(truth):
        right = spell.get(t, t)
        if t in langs:
            sets["correct"].append((i, right, t))
            sets["random_wrong"].append((i, spell.get(w := rng.choice([x for x in langs if x != t]), w), t))
            other = [p for p in preds[i] if p not in (right, t)]
            if other:
                sets["second_choice"].append((i, other[0], t))
            sets["natural_right" if preds[i][0] in (right, t) else "natural_wrong"].append((i, preds[i][0], t))
        else:
            sets["unknown_lang"].append((i, preds[i][0], t))
    return dict(sets)


def flags(docs: list[str], items: list[tuple[int, str, str]]) -> list[bool]:
    texts = [docs[i] for i, _, _ in items]
    langs = [lab for _, lab, _ in items]
    mismatch = [script_mismatch(lab, s) for lab, s in zip(langs, dominant_scripts(texts))]
    out = []
    for k in range(0, len(texts), 1000):    # batches as a Spark task would see them
        out += label_checks(texts[k:k + 1000], langs[k:k + 1000], mismatch[k:k + 1000])["lang_doubt"]
    return out


def rates(docs: list[str], sets: dict) -> dict:
    out = {}
    for name, items in sets.items():
        f = flags(docs, items)
        per = defaultdict(list)
        for (_, _, t), x in zip(items, f):
            per[t].append(x)
        out[name] = {"docs": len(items), "flagged": sum(f) / len(f),
                     "per_lang": {t: sum(v) / len(v) for t, v in sorted(per.items())}}
    return out
