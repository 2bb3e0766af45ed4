"""The shingle and hash definitions of engine.dedup.shingles written plainly in Python: test_minhash feeds them to
`datasketch.MinHash(hashfunc=...)` and requires signatures identical to engine.dedup.minhash's.
(bench/bench_dedup.py times them as the shingling a datasketch user pays for.)"""
from __future__ import annotations

import re

from engine.dedup.shingles import _MASK64, _P, _Q, _SALT, normalize


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


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
