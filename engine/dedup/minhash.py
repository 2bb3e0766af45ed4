"""MinHash signatures in vectorized numpy: shingles, 64-bit shingle hashes, datasketch-compatible permutations.

No pyspark here: dedup's `mapInArrow` tasks call these on Arrow batches, tests call them on lists.

Pipeline for a batch of documents (all in flat numpy arrays, no Python loop per shingle or per token):

1. normalize: Unicode NFKC (only where CPython's quick check says it changes something), then lowercase.
2. tokens: over the UTF-8 bytes of a run of documents (about 1 MB at a time), with byte-class masks.
   - `token` mode (default, also code): a token is a run of word bytes (ASCII letters, digits, `_`, and any
     non-ASCII byte) or one ASCII punctuation mark; whitespace and control bytes separate tokens.
     These are the "5-gram tokens" of the vendored-code near-dup set (regex `\\w+|[^\\w\\s]`): on that set
     token 5-grams separate near-duplicates perfectly where character 5-grams gave 5 false pairs.
   - `char` mode (languages written without spaces: zh, ja, th, ...): a token is one code point;
     whitespace is dropped.
3. token hash: the token read as 8-byte little-endian words (zero padded) through an unaligned uint64 view,
   `sum_k w_k P^k + len mod 2^64`, then the MurmurHash3 64-bit finalizer. One gather for the (many) tokens
   of up to 8 bytes, one vectorized pass over the extra words of longer ones.
4. shingle hash: `n` consecutive token hashes combined polynomially, finalized, salted by mode
   (a document with fewer than `n` tokens is one shingle of all its tokens).
5. signature: datasketch 2.0's default scheme `affine32` bit for bit: the low 32 bits of the shingle hash
   are mixed with the 32-bit MurmurHash3 finalizer, then `a_k * h + b_k mod 2^32` with datasketch's
   `(a_k, b_k)` from `np.random.RandomState(seed)`; `affine64` works too. The permutation runs in
   cache-sized chunks laid out (num_perm, shingles) so `np.minimum.reduceat` runs along contiguous rows.

`reference_shingles` / `reference_hash64` are the same definitions written plainly in Python: the tests
feed them to `datasketch.MinHash(hashfunc=...)` and require identical signatures.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

U64 = np.uint64
U32 = np.uint32
U8 = np.uint8
_MASK64 = (1 << 64) - 1

# Languages written without spaces between words: shingles are code point n-grams.
NO_SPACE_LANGS = frozenset({"zh", "ja", "th", "km", "lo", "my", "bo", "dz", "yue", "wuu", "gan", "hak", "nan"})

# Odd multipliers (invertible mod 2^64) for the polynomial hashes; salts separate the two shingle modes.
_P = 0x9E3779B97F4A7C15            # token words
_Q = 0xC2B2AE3D27D4EB4F            # tokens -> shingle
_R = 0x165667B19E3779F9            # signature rows -> band key
_SALT = {False: 0x243F6A8885A308D3, True: 0x13198A2E03707344}   # token mode, char mode

# datasketch's "legacy" scheme (mod 2^61-1, truncated to 32 bits) is not offered: it is biased on large sets
# (datasketch issue #212) and datasketch 2.0 no longer uses it by default.
SCHEMES = ("affine32", "affine64")

# Work sizes: text bytes tokenized at a time, shingles permuted at a time (num_perm x chunk stays in L2/L3).
_SLICE_BYTES = 1 << 20
_PERM_CHUNK = 8192


# ---------------------------------------------------------------- mixing functions (as datasketch's _fmix)

def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> U64(33))
    h = h * U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> U64(33))
    h = h * U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> U64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> U32(16))
    h = h * U32(0x85EBCA6B)
    h = h ^ (h >> U32(13))
    h = h * U32(0xC2B2AE35)
    return h ^ (h >> U32(16))


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


@functools.lru_cache(maxsize=8)
def _powers(base: int, n: int) -> np.ndarray:
    """base^0 .. base^(n-1) mod 2^64 (uint64 cumprod wraps, which is the modulo)."""
    p = np.full(n, base, dtype=U64)
    p[0] = 1
    return np.cumprod(p, dtype=U64)


def _pow_table(base: int, n: int) -> np.ndarray:
    # sizes in powers of two, so a handful of cached tables serve every call
    return _powers(base, max(1024, 1 << (n - 1).bit_length()))[:n]


# ---------------------------------------------------------------- text -> tokens -> shingle hashes

def char_mode(langs) -> np.ndarray:
    """Per document: True for code point shingles (languages written without spaces), False for tokens.

    Code uses tokens, like text: words and punctuation marks are the natural units of source code, and on the
    vendored-code near-dup set token 5-grams matched the labelled pairs exactly where char 5-grams did not
    (5 false pairs below Jaccard 0.6 at threshold 0.8).
    """
    langs = [(l or "").lower().replace("_", "-").split("-")[0] for l in _pylist(langs)]
    return np.array([l in NO_SPACE_LANGS for l in langs], dtype=bool)


def _pylist(a):
    if isinstance(a, (pa.Array, pa.ChunkedArray)):
        return a.to_pylist()
    return list(a)


def normalize(texts) -> pa.Array:
    """Unicode NFKC, then lowercase (Arrow's utf8proc kernels); null -> ''. The text every shingle and every
    exact key is made from. NFKC runs only on documents with non-ASCII bytes (it is the identity on ASCII
    and the costliest step)."""
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    arr = pc.fill_null(arr, "")
    # which documents NFKC would change: none of the ASCII ones; of the others, those that fail CPython's
    # quick check (3x faster than normalizing them all with utf8proc, which is the slowest step here)
    todo = np.zeros(len(arr), dtype=bool)
    non_ascii = np.flatnonzero(~pc.string_is_ascii(arr).to_numpy(zero_copy_only=False))
    if len(non_ascii):
        texts = arr.take(pa.array(non_ascii)).to_pylist()
        todo[non_ascii] = [not unicodedata.is_normalized("NFKC", t) for t in texts]
    if todo.all():
        arr = pc.utf8_normalize(arr, form="NFKC")
    elif todo.any():
        mask = pa.array(todo)
        arr = pc.replace_with_mask(arr, mask, pc.utf8_normalize(arr.filter(mask), form="NFKC"))
    return pc.utf8_lower(arr)


def _bytes_and_offsets(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a (null-free) string array and int64 offsets starting at 0."""
    otype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=otype)[arr.offset: arr.offset + len(arr) + 1].astype(np.int64)
    if len(offsets) == 0:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0]: offsets[-1]]
    return data, offsets - offsets[0]


def _byte_classes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(word, punct) masks by arithmetic on uint8 (4x faster than a lookup table); the rest is space."""
    word = ((data | U8(0x20)) - U8(0x61)) < U8(26)          # ASCII letters, either case
    word |= (data - U8(0x30)) < U8(10)                      # digits
    word |= data >= U8(0x80)                                # any byte of a non-ASCII code point
    word |= data == U8(0x5F)                                # _
    punct = (data - U8(0x21)) < U8(0x5E)                    # printable ASCII ...
    punct &= ~word                                          # ... that is not a word byte
    return word, punct


def _word_spans(data: np.ndarray, offsets: np.ndarray, skip: np.ndarray | None = None):
    """Token mode: runs of word bytes and single punctuation marks; none in the bytes where `skip` is set."""
    nonempty = np.diff(offsets) > 0
    word, punct = _byte_classes(data)
    prev_word = np.empty_like(word)
    prev_word[0] = False
    prev_word[1:] = word[:-1]
    prev_word[offsets[:-1][nonempty]] = False          # tokens never cross documents
    next_word = np.empty_like(word)
    next_word[-1] = False
    next_word[:-1] = word[1:]
    next_word[offsets[1:][nonempty] - 1] = False
    start = (word & ~prev_word) | punct
    end = (word & ~next_word) | punct
    if skip is not None:
        start &= ~skip
        end &= ~skip
    return np.flatnonzero(start), np.flatnonzero(end) + 1


def _char_spans(data: np.ndarray, offsets: np.ndarray):
    """Char mode: one token per code point, whitespace and control characters dropped.

    A code point starts at every byte that is not a continuation byte 10xxxxxx, and (should the UTF-8 be
    broken) at each document start, so it always ends where the next one starts: never in the next document.
    """
    boundary = (data & U8(0xC0)) != U8(0x80)
    boundary[offsets[:-1][np.diff(offsets) > 0]] = True
    b = np.flatnonzero(boundary)
    e = np.empty_like(b)
    e[:-1] = b[1:]
    e[-1:] = len(data)
    lead = data[b]
    keep = ~((lead <= U8(0x20)) | (lead == U8(0x7F)))
    return b[keep], e[keep]


def _char_spans_of(data: np.ndarray, offsets: np.ndarray, docs: np.ndarray):
    """_char_spans of some documents only: on a compact copy of their bytes, mapped back."""
    lengths = np.diff(offsets)[docs]
    sub_off = np.zeros(len(docs) + 1, np.int64)
    np.cumsum(lengths, out=sub_off[1:])
    index = np.repeat(offsets[docs] - sub_off[:-1], lengths) + np.arange(sub_off[-1], dtype=np.int64)
    if len(index) == 0:
        z = np.zeros(0, np.int64)
        return z, z
    s, e = _char_spans(data[index], sub_off)
    return index[s], index[e - 1] + 1


def _merge_sorted(s1, e1, s2, e2):
    """Two sorted, disjoint lists of spans as one sorted list (a linear merge, no sort)."""
    at = np.searchsorted(s1, s2) + np.arange(len(s2))
    first = np.ones(len(s1) + len(s2), dtype=bool)
    first[at] = False
    starts = np.empty(len(first), np.int64)
    ends = np.empty(len(first), np.int64)
    starts[at], ends[at] = s2, e2
    starts[first], ends[first] = s1, e1
    return starts, ends


def _token_spans(data: np.ndarray, offsets: np.ndarray, chars: np.ndarray):
    """Start and end byte of every token of every document, in order; plus tokens per document."""
    if len(data) == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(len(offsets) - 1, np.int64)
    if not chars.any():
        starts, ends = _word_spans(data, offsets)
    elif chars.all():
        starts, ends = _char_spans(data, offsets)
    else:   # mixed: words over all bytes but the char documents', code points over those only
        s1, e1 = _word_spans(data, offsets, skip=np.repeat(chars, np.diff(offsets)))
        s2, e2 = _char_spans_of(data, offsets, np.flatnonzero(chars))
        starts, ends = _merge_sorted(s1, e1, s2, e2)
    counts = np.diff(np.searchsorted(starts, offsets))      # tokens are sorted, documents contiguous
    return starts.astype(np.int64, copy=False), ends.astype(np.int64, copy=False), counts


# MASKS[k] keeps the low k bytes of a little-endian 8-byte word
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [_MASK64], dtype=U64)


def _token_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """fmix64(sum_k w_k * P^k + len) for every token, w_k its k-th 8-byte little-endian word (zero padded).

    Reads each token as whole 8-byte words through an unaligned uint64 view of the bytes: one gather per
    token of up to 8 bytes (most words), then one vectorized pass over the extra words of longer tokens.
    """
    n_bytes = len(data)
    lengths = ends - starts
    padded = np.zeros(n_bytes + 8, dtype=U8)
    padded[:n_bytes] = data
    words = np.ndarray((n_bytes + 1,), dtype="<u8", buffer=padded, strides=(1,))   # words[i] = bytes i..i+7
    h = words[starts] & _MASKS[np.minimum(lengths, 8)]
    long = np.flatnonzero(lengths > 8)
    if len(long):
        extra = (lengths[long] + 7) // 8 - 1                   # words after the first
        seg = np.zeros(len(long), np.int64)
        np.cumsum(extra[:-1], out=seg[1:])
        total = int(seg[-1] + extra[-1])
        tok = np.repeat(long, extra)
        k = np.arange(total, dtype=np.int64) - np.repeat(seg, extra) + 1
        rem = lengths[tok] - 8 * k
        w = words[starts[tok] + 8 * k] & _MASKS[np.minimum(rem, 8)]
        w *= _pow_table(_P, int(k.max()) + 1)[k]
        h[long] += np.add.reduceat(w, seg)
    h += lengths.astype(U64)
    return fmix64(h)


def _slice_bounds(offsets: np.ndarray, budget: int) -> list[int]:
    """Document boundaries cutting a batch into runs of about `budget` bytes (at least one document each).

    Small working sets matter: numpy temporaries of a few MB stay in cache and are reused by malloc, where
    fresh pages for a 100 MB temporary cost more than the arithmetic (first touch is slow in VMs)."""
    if offsets[-1] <= budget:
        return [0, len(offsets) - 1]
    cuts = np.searchsorted(offsets, np.arange(budget, offsets[-1], budget), side="left")
    return sorted(set([0, len(offsets) - 1, *cuts.tolist()]))


def _shingles_of_slice(data: np.ndarray, offsets: np.ndarray, chars: np.ndarray, ngram: int):
    n_docs = len(offsets) - 1
    starts, ends, counts = _token_spans(data, offsets, chars)
    tok = _token_hashes(data, starts, ends)
    n_tok = len(tok)
    # shingles per document: m - n + 1 windows, or 1 for a short non-empty document
    short = (counts > 0) & (counts < ngram)
    per_doc = np.where(counts >= ngram, counts - ngram + 1, short.astype(np.int64))
    sh_off = np.zeros(n_docs + 1, np.int64)
    np.cumsum(per_doc, out=sh_off[1:])
    total = int(sh_off[-1])
    if total == 0:
        return np.zeros(0, U64), sh_off
    # window sums at every token position, from contiguous shifted slices (no gathers) ...
    pad = np.zeros(n_tok + ngram - 1, dtype=U64)
    pad[:n_tok] = tok
    win = tok.copy()
    qk = 1
    for k in range(1, ngram):
        qk = (qk * _Q) & _MASK64
        win += pad[k:k + n_tok] * U64(qk)
    tok_off = np.zeros(n_docs + 1, np.int64)
    np.cumsum(counts, out=tok_off[1:])
    first = np.repeat(tok_off[:-1] - sh_off[:-1], per_doc) + np.arange(total, dtype=np.int64)
    g = win[first]
    # ... then the few short documents again, with only their own tokens
    for d in np.flatnonzero(short):
        t0, m, acc, qk = int(tok_off[d]), int(counts[d]), 0, 1
        for k in range(m):
            acc = (acc + int(tok[t0 + k]) * qk) & _MASK64
            qk = (qk * _Q) & _MASK64
        g[sh_off[d]] = acc
    salt = np.where(np.repeat(chars, per_doc), U64(_SALT[True]), U64(_SALT[False]))
    return fmix64(g ^ salt), sh_off


def iter_shingle_hashes(texts, chars=None, ngram: int = 5, normalized: bool = False,
                        budget: int = _SLICE_BYTES):
    """Yields (doc_lo, doc_hi, hashes, offsets) for runs of documents of about `budget` bytes:
    document lo + i owns hashes[offsets[i]:offsets[i + 1]] (64-bit shingle hashes)."""
    arr = texts if normalized else normalize(texts)
    n_docs = len(arr)
    chars = np.zeros(n_docs, dtype=bool) if chars is None else np.asarray(chars, dtype=bool)
    data, offsets = _bytes_and_offsets(arr)
    bounds = _slice_bounds(offsets, budget)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        o = offsets[lo:hi + 1]
        h, sh_off = _shingles_of_slice(data[o[0]:o[-1]], o - o[0], chars[lo:hi], ngram)
        yield lo, hi, h, sh_off


def shingle_hashes(texts, chars=None, ngram: int = 5, normalized: bool = False):
    """64-bit hashes of the shingles of every document.

    texts: strings (Arrow array or list); chars: per-document bool (code point shingles), default all False.
    Returns (hashes uint64, offsets int64 of length n_docs + 1): document i owns hashes[offsets[i]:offsets[i+1]].
    Duplicated shingles stay (a MinHash ignores them); an empty document has none.
    """
    parts, offs, base = [], [np.zeros(1, np.int64)], 0
    for _, _, h, sh_off in iter_shingle_hashes(texts, chars, ngram, normalized):
        parts.append(h)
        offs.append(sh_off[1:] + base)
        base += len(h)
    if not parts:
        return np.zeros(0, U64), np.zeros(1, np.int64)
    return np.concatenate(parts), np.concatenate(offs)


# ---------------------------------------------------------------- the plain-Python definition (tests, parity)

_TOKEN_RE = re.compile(rb"[0-9A-Za-z_\x80-\xff]+|[!-/:-@\[-^`{-~]")


def reference_tokens(text: str, char: bool = False) -> list[bytes]:
    t = normalize([text])[0].as_py()
    if char:
        return [c.encode("utf-8", "surrogatepass") for c in t if not (ord(c) <= 0x20 or ord(c) == 0x7F)]
    return _TOKEN_RE.findall(t.encode("utf-8", "surrogatepass"))


def reference_shingles(text: str, char: bool = False, ngram: int = 5) -> list[bytes]:
    """Each shingle as its tokens joined by NUL (no token contains NUL), in document order."""
    toks = reference_tokens(text, char)
    if not toks:
        return []
    if len(toks) < ngram:
        return [b"\x00".join(toks)]
    return [b"\x00".join(toks[i:i + ngram]) for i in range(len(toks) - ngram + 1)]


def _reference_token_hash(tok: bytes) -> int:
    padded = tok + b"\x00" * (-len(tok) % 8)
    h, p = 0, 1
    for k in range(0, len(padded), 8):
        h = (h + int.from_bytes(padded[k:k + 8], "little") * p) & _MASK64
        p = (p * _P) & _MASK64
    return _fmix64_int((h + len(tok)) & _MASK64)


def reference_hash64(shingle: bytes, char: bool = False) -> int:
    g, q = 0, 1
    for tok in shingle.split(b"\x00"):
        g = (g + _reference_token_hash(tok) * q) & _MASK64
        q = (q * _Q) & _MASK64
    return _fmix64_int(g ^ _SALT[bool(char)])


def reference_hash32(shingle: bytes, char: bool = False) -> int:
    return reference_hash64(shingle, char) & 0xFFFFFFFF


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
            # which is twice as fast as splitting a mixed slice and merging its spans
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


# How far below the threshold verified dedup draws its candidates. Measured (tests/test_minhash.py) on
# 3000 pairs with true Jaccard 0.80-0.85 at num_perm 128: banding at the threshold, datasketch's (9, 13),
# finds 54% of them; at -0.1, (14, 9): 93%; at -0.2, (18, 7): 99.4%. Checking candidates by the signatures'
# estimated Jaccard instead of the true one caps recall near 74% whatever the bands (the estimate's standard
# error at J = 0.82 is 0.034), so candidates are checked against the true shingle sets.
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
