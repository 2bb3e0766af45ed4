"""MinHash signatures in vectorized numpy, datasketch-compatible; band keys and LSH parameters.

No pyspark here: dedup's `mapInArrow` tasks call these on Arrow batches, tests call them on lists. Shingles
and their 64-bit hashes come from engine.dedup.shingles.

signature: datasketch 2.0's default scheme `affine32` bit for bit: the low 32 bits of the shingle hash are
mixed with the 32-bit MurmurHash3 finalizer, then `a_k * h + b_k mod 2^32` with datasketch's `(a_k, b_k)`
from `np.random.RandomState(seed)`; `affine64` works too. The permutation runs in cache-sized chunks laid
out (num_perm, shingles) so `np.minimum.reduceat` runs along contiguous rows.
"""
from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from engine.dedup.shingles import _MASK64, U64, fmix64, iter_shingle_hashes, normalize

U32 = np.uint32

_R = 0x165667B19E3779F9            # signature rows -> band key

# datasketch's "legacy" scheme (mod 2^61-1, truncated to 32 bits) is not offered: it is biased on large sets
# (datasketch issue #212) and datasketch 2.0 no longer uses it by default.
SCHEMES = ("affine32", "affine64")

# Shingles permuted at a time (num_perm x chunk stays in L2/L3).
_PERM_CHUNK = 8192


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> U32(16))
    h = h * U32(0x85EBCA6B)
    h = h ^ (h >> U32(13))
    h = h * U32(0xC2B2AE35)
    return h ^ (h >> U32(16))


# ---------------------------------------------------------------- signatures

def permutations(num_perm: int, seed: int = 1, scheme: str = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """datasketch 2.0's affine permutation parameters (a odd, b), drawn the way `MinHash` draws them."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}")
    width, dtype = (32, U32) if scheme == "affine32" else (64, U64)
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
    b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
    return a, b


class MinHasher:
    """Signatures of many documents at once, equal to datasketch `MinHash(num_perm, seed, scheme=...)`
    fed the same 32-bit (affine32) or 64-bit (affine64) shingle hashes."""

    def __init__(self, num_perm: int = 128, seed: int = 1, scheme: str = "affine32"):
        self.num_perm, self.seed, self.scheme = num_perm, seed, scheme
        self.a, self.b = permutations(num_perm, seed, scheme)
        self.dtype = U32 if scheme == "affine32" else U64
        self.max_hash = self.dtype(np.iinfo(self.dtype).max)

    def signatures(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(n_docs, num_perm) signatures from shingle hashes (uint64) and their per-document offsets.

        A document without shingles gets the empty signature (all max), as an empty datasketch MinHash.
        """
        n_docs = len(offsets) - 1
        sig_t = np.full((self.num_perm, n_docs), self.max_hash, dtype=self.dtype)
        if len(hashes) == 0:
            return sig_t.T.copy()
        hv = hashes.astype(U32) if self.dtype is U32 else hashes   # affine32 keeps the low 32 bits
        hv = fmix32(hv) if self.dtype is U32 else fmix64(hv)
        a = self.a[:, None]
        b = self.b[:, None]
        nonempty = np.flatnonzero(np.diff(offsets) > 0)
        doc_starts = offsets[nonempty]
        buf = np.empty((self.num_perm, min(_PERM_CHUNK, len(hv))), dtype=self.dtype)
        for s0 in range(0, len(hv), _PERM_CHUNK):
            s1 = min(len(hv), s0 + _PERM_CHUNK)
            k = s1 - s0
            view = buf[:, :k]
            np.multiply(a, hv[None, s0:s1], out=view)   # wraps mod 2^w: the permutation
            np.add(view, b, out=view)
            # documents with shingles in [s0, s1): the one that started before s0, then those starting inside
            lo = int(np.searchsorted(doc_starts, s0, side="right")) - 1
            hi = int(np.searchsorted(doc_starts, s1, side="left"))
            docs = nonempty[max(lo, 0):hi]
            seg = np.maximum(offsets[docs], s0) - s0
            red = np.minimum.reduceat(view, seg, axis=1)
            sig_t[:, docs] = np.minimum(sig_t[:, docs], red)
        return np.ascontiguousarray(sig_t.T)

    def text_signatures(self, texts, chars=None, ngram: int = 5, normalized: bool = False):
        """(signatures (n_docs, num_perm), shingles per document) straight from texts, a slice at a time."""
        n = len(texts)
        sigs = np.empty((n, self.num_perm), dtype=self.dtype)
        n_sh = np.zeros(n, np.int64)
        chars = np.zeros(n, dtype=bool) if chars is None else np.asarray(chars, dtype=bool)
        arr = texts if normalized else normalize(texts)
        if chars.any() and not chars.all():
            # signatures are per document: each mode on its own documents takes the single-mode tokenizer,
            # cheaper than splitting a mixed slice and merging its spans (bench/README.md)
            if not isinstance(arr, (pa.Array, pa.ChunkedArray)):
                arr = pa.array(arr, pa.string())
            for mode in (False, True):
                idx = np.flatnonzero(chars == mode)
                s, c = self.text_signatures(arr.take(pa.array(idx)), chars[idx], ngram, normalized=True)
                sigs[idx], n_sh[idx] = s, c
            return sigs, n_sh
        for lo, hi, h, sh_off in iter_shingle_hashes(arr, chars, ngram, normalized=True):
            sigs[lo:hi] = self.signatures(h, sh_off)
            n_sh[lo:hi] = np.diff(sh_off)
        return sigs, n_sh


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) int64: a 64-bit hash of each band's `rows` signature values.

    Two documents share a bucket in band i exactly when their band values are equal (as datasketch's
    `MinHashLSH` byte keys), up to 64-bit hash collisions.
    """
    n = sigs.shape[0]
    out = np.empty((n, bands), dtype=U64)
    for i in range(bands):
        g = np.zeros(n, dtype=U64)
        rk = 1
        for j in range(rows):
            g += sigs[:, i * rows + j].astype(U64) * U64(rk)
            rk = (rk * _R) & _MASK64
        out[:, i] = fmix64(g ^ U64(rows))
    return out.view(np.int64)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two shingle-hash multisets taken as sets."""
    ua, ub = np.unique(a), np.unique(b)
    if len(ua) == 0 and len(ub) == 0:
        return 1.0
    inter = len(np.intersect1d(ua, ub, assume_unique=True))
    return inter / (len(ua) + len(ub) - inter)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


# ---------------------------------------------------------------- LSH parameters, as datasketch chooses them

def _false_positive_probability(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]


def _false_negative_probability(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)[0]


@functools.lru_cache(maxsize=64)
def optimal_param(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                  false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted false positive + false negative areas: datasketch's
    `MinHashLSH._optimal_param`, same grid, same integrals, same tie-breaking (first minimum wins)."""
    min_error, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _false_positive_probability(threshold, b, r)
            fn = _false_negative_probability(threshold, b, r)
            error = fp * false_positive_weight + fn * false_negative_weight
            if error < min_error:
                min_error, opt = error, (b, r)
    return opt


# How far below the threshold verified dedup draws its candidates. Banding at the threshold itself misses
# about half of the pairs just above it; banding lower finds nearly all of them, and the exact check drops
# the extra candidates (tests/test_minhash.py measures the recall; figures in bench/README.md). Checking
# candidates by the signatures' estimated Jaccard instead of the true one would cap recall whatever the
# bands (the estimate's standard error near the threshold is too wide), so candidates are checked against
# the true shingle sets.
VERIFY_MARGIN = 0.2


def lsh_params(threshold: float, num_perm: int, bands: int | None = None, rows: int | None = None,
               verify: bool = False) -> tuple[int, int]:
    """Bands and rows: given ones win; else datasketch's optimum at `threshold` (minus VERIFY_MARGIN when
    candidates are verified afterwards, trading more candidates for recall just above the threshold)."""
    if bands and rows:
        if bands * rows > num_perm:
            raise ValueError(f"bands * rows = {bands * rows} > num_perm {num_perm}")
        return bands, rows
    if bands or rows:
        given = bands or rows
        other = num_perm // given
        if other < 1:
            raise ValueError(f"{given} > num_perm {num_perm}")
        return (given, other) if bands else (other, given)
    t = max(0.05, threshold - VERIFY_MARGIN) if verify else threshold
    return optimal_param(round(t, 6), num_perm)
