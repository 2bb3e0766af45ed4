"""Diversity of a set of documents, for synthetic data against the human-written sources of the same mix.

Model-generated text drifts toward its generator's mode ("mode collapse"): fewer distinct phrasings, the
same openings, templates. Shaib et al. (2024, "Standardizing the Measurement of Text Diversity") show that
compression ratio tracks n-gram homogeneity and is the cheap one to report; the Vendi score (Friedman &
Dieng 2023) measures diversity from a similarity kernel without a reference set. Here, on a bounded sample
of one group of documents (engine/spark/diversity.py draws it on Spark):

The sample is cut into passages first: consecutive PASSAGE_WORDS-word windows of each document (lowercased
words; at most PER_DOC of them per document, so long documents do not fill the sample), in sample order, at
most MAX_PASSAGES. Every metric reads passages, so groups compare on equal amounts of text whatever their
document lengths (distinct-n falls and compression rises with more text); a smaller group is measured on
what it has (`passages` says how much). Formatting does not count: text is compared as words.

| metric | what | diverse text |
|---|---|---|
| `compression_ratio` | bytes / zstd (level 19) bytes of the passages joined, first COMPRESS_BYTES | low |
| `distinct_1`..`distinct_4` | distinct word n-grams / all word n-grams within passages (Li et al. 2016) | high |
| `near_dup_rate` | share of documents in a near-duplicate cluster of 2+ (the MinHash stage's clusters) | low |
| `self_repetition` | share of the passages' distinct word 4-grams that also occur in another document's passage (the self-repetition score of Salkar et al. 2022, one of Shaib et al.'s) | low |
| `vendi` | exp(entropy of the eigenvalues of K/n), K the cosine kernel of hashed word 1-3-gram counts of the first VENDI_DOCS passages (n of them): the effective number of distinct passages | high |
| `vendi_share` | vendi / n: comparable between groups of different n (limits and rankings use it) | high |

Pure Python and numpy: no Spark, no model, nothing downloaded.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter

import numpy as np

PASSAGE_WORDS = 100
PER_DOC = 4
MAX_PASSAGES = 500
COMPRESS_BYTES = 100_000
SELF_REP_N = 4
VENDI_DOCS = 500
VENDI_DIM = 1 << 16            # hashed n-gram features
HIGHER_IS_DIVERSE = {"compression_ratio": False, "distinct_1": True, "distinct_2": True, "distinct_3": True,
                     "distinct_4": True, "near_dup_rate": False, "self_repetition": False, "vendi_share": True}

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def passages(texts: list[str]) -> tuple[list[list[str]], list[int]]:
    """(passages as word lists, the index of each one's document): see the module doc."""
    out, doc = [], []
    for i, t in enumerate(texts):
        w = words(t)
        for k in range(0, min(len(w), PASSAGE_WORDS * PER_DOC), PASSAGE_WORDS):
            if len(out) >= MAX_PASSAGES:
                return out, doc
            out.append(w[k:k + PASSAGE_WORDS])
            doc.append(i)
    return out, doc


def compression_ratio(ps: list[list[str]], max_bytes: int = COMPRESS_BYTES) -> float | None:
    """zstd, not gzip as in Shaib et al.: its window spans the whole sample, so a phrase a generator repeats
    across documents far apart counts (gzip sees 32 KB back)."""
    import zstandard

    raw = "\n".join(" ".join(p) for p in ps).encode("utf-8")[:max_bytes]
    return round(len(raw) / len(zstandard.ZstdCompressor(level=19).compress(raw)), 6) if raw else None


def _grams(p: list[str], n: int):
    return zip(*(p[i:] for i in range(n)))


def distinct_n(ps: list[list[str]], n: int) -> float | None:
    grams = [g for p in ps for g in _grams(p, n)]
    return round(len(set(grams)) / len(grams), 6) if grams else None


def self_repetition(ps: list[list[str]], doc: list[int], n: int = SELF_REP_N) -> float | None:
    """Distinct n-grams of each passage that some passage of another document also has, over all of them.
    A generator reuses its favourite phrasings across documents; human documents share few 4-grams. A whole-
    sample count, not random pairs: pairs of 100-word passages almost never share an n-gram, so a pair
    sample measures noise (it tied the demo's Markov text with its training text)."""
    if len(set(doc)) < 2:
        return None
    first_doc: dict = {}
    shared: set = set()
    sets = [set(_grams(p, n)) for p in ps]
    for grams, d in zip(sets, doc):
        for g in grams:
            seen = first_doc.setdefault(g, d)
            if seen != d:
                shared.add(g)
    total = sum(len(g) for g in sets)
    return round(sum(len(g & shared) for g in sets) / total, 6) if total else None


def vendi(ps: list[list[str]], max_docs: int = VENDI_DOCS, dim: int = VENDI_DIM) -> float | None:
    """Vendi score with an n-gram kernel: passages as L2-normalized counts of hashed word 1-, 2- and 3-grams,
    K = X X^T (cosine), score = exp(-sum(l log l)) over the eigenvalues l of K/n. 1 = all passages alike,
    n = all orthogonal."""
    from scipy.sparse import csr_matrix

    rows = [Counter(zlib.crc32(" ".join(g).encode()) % dim for n in (1, 2, 3) for g in _grams(p, n))
            for p in ps[:max_docs]]
    rows = [r for r in rows if r]
    if len(rows) < 2:
        return None
    cols = [c for r in rows for c in r]
    data = [v for r in rows for v in r.values()]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    x = csr_matrix((np.asarray(data, np.float64), np.asarray(cols), indptr), shape=(len(rows), dim))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = csr_matrix(x.multiply(1.0 / norms[:, None]))
    lam = np.clip(np.linalg.eigvalsh((x @ x.T).toarray() / len(rows)), 0.0, None)
    lam = lam[lam > 1e-12]
    return round(float(np.exp(-(lam * np.log(lam)).sum())), 6)


def metrics(texts: list[str]) -> dict:
    """Every text metric of the module on one sample (documents in sample order); near_dup_rate comes from
    the dedup stage, not from here."""
    ps, doc = passages(texts)
    return {
        "sample_docs": len(texts), "passages": len(ps),
        "compression_ratio": compression_ratio(ps),
        **{f"distinct_{n}": distinct_n(ps, n) for n in (1, 2, 3, 4)},
        "self_repetition": self_repetition(ps, doc),
        "vendi": (v := vendi(ps)),
        "vendi_share": None if v is None else round(v / min(len(ps), VENDI_DOCS), 6),
    }


def less_diverse(a: dict, b: dict) -> dict[str, bool]:
    """Per metric present in both: is `a` less diverse than `b` (strictly)?"""
    out = {}
    for m, higher in HIGHER_IS_DIVERSE.items():
        if a.get(m) is not None and b.get(m) is not None:
            out[m] = a[m] < b[m] if higher else a[m] > b[m]
    return out


# ---------------------------------------------------------------------------------------------------------
# Limits of the spec (engine/spec/models.py LimitsSpec): a generator past one is refused

# limit field -> (metric, "min" | "max", what the one-line message calls it)
LIMITS = {"synthetic_min_distinct_4": ("distinct_4", "min", "distinct-4"),
          "synthetic_max_compression": ("compression_ratio", "max", "compression ratio")}


def _infeasible():
    from engine.plan.budgets import InfeasibleMix

    return InfeasibleMix


class DiversityLimit(_infeasible()):
    """A synthetic generator past a diversity limit of the spec: the run stops before anything is written
    (exit 2, like an infeasible mix). Refused rather than capped: no share of a collapsed generator is right
    by default, and a cap would hide the problem in a smaller number; the message says what to change."""


def limit_problems(div: dict, limits) -> list[str]:
    """One line per (generator, limit) it fails; [] when it passes or the limit is off."""
    syn = (div or {}).get("synthetic_diversity") or {}
    human = syn.get("human") or {}
    out = []
    for field, (metric, side, name) in LIMITS.items():
        bound = getattr(limits, field, None)
        if bound is None:
            continue
        for g in syn.get("generators", []):
            v = g.get(metric)
            if v is None or (v >= bound if side == "min" else v <= bound):
                continue
            where = f"source {g['source']!r}, generator {g['generator']!r}" + \
                (f", lang {g['lang']!r}" if g.get("lang") else "")
            base = f"; human sources: {human[metric]:.3f}" if human.get(metric) is not None else ""
            out.append(f"limits.{field} {bound:g}: {where} has {name} {v:.3f} on {g.get('sample_docs', 0)} sampled "
                       f"documents{base}: leave the generator out, or change the limit")
    return out


def check_limits(div: dict, spec) -> None:
    """Raise DiversityLimit when a generator fails a limit of `spec.limits`."""
    problems = limit_problems(div, spec.limits)
    if problems:
        raise DiversityLimit(problems)
