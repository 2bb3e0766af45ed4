"""Shingles in vectorized numpy: normalization, tokens, 64-bit token and shingle hashes.

No pyspark here: dedup's `mapInArrow` tasks call these on Arrow batches, tests call them on lists. The
signatures built from these hashes are in engine.dedup.minhash.

For a batch of documents (all in flat numpy arrays, no Python loop per shingle or per token):

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

tests/minhash_reference.py writes the same definitions plainly in Python: the tests feed them to
`datasketch.MinHash(hashfunc=...)` and require identical signatures.
"""
from __future__ import annotations

import functools
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

U64 = np.uint64
U8 = np.uint8
_MASK64 = (1 << 64) - 1

# Languages written without spaces between words: shingles are code point n-grams.
NO_SPACE_LANGS = frozenset({"zh", "ja", "th", "km", "lo", "my", "bo", "dz", "yue", "wuu", "gan", "hak", "nan"})

# Odd multipliers (invertible mod 2^64) for the polynomial hashes; salts separate the two shingle modes.
_P = 0x9E3779B97F4A7C15            # token words
_Q = 0xC2B2AE3D27D4EB4F            # tokens -> shingle
_SALT = {False: 0x243F6A8885A308D3, True: 0x13198A2E03707344}   # token mode, char mode

# Text bytes tokenized at a time.
_SLICE_BYTES = 1 << 20


# ---------------------------------------------------------------- mixing (as datasketch's _fmix)

def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> U64(33))
    h = h * U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> U64(33))
    h = h * U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> U64(33))


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
    # quick check (cheaper than normalizing them all with utf8proc, which is the slowest step here)
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
    """(word, punct) masks by arithmetic on uint8 (faster than a lookup table); the rest is space."""
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
