"""Dominant Unicode script of a text, fast: a numpy lookup table over code points.

Scripts are named by their ISO 15924 codes (the ones GlotLID and NLLB put in their labels): `Latn`, `Cyrl`,
`Grek`, `Arab`, `Hebr`, `Deva`, `Beng`, `Hani`, `Jpan` (Japanese: kana, with or without kanji), `Hang`,
`Thai`, `Geor`, `Armn`, `Ethi`, `Taml`, `Telu`, ... Only letters and combining marks count (category L* or
M* inside a script's blocks): digits, punctuation, spaces, symbols and emoji are ignored. A text without
any such letter has no script (None).

Han is shared by Chinese and Japanese: when kana make up at least `KANA_SHARE` of the Han + kana letters,
the Han letters count for `Jpan` too (kanji), otherwise kana alone count for `Jpan` and Han for `Hani`.
"""
from __future__ import annotations

import functools
import unicodedata

import numpy as np

# Code points past this (CJK Extension G and later, private use) count as "other".
TABLE_SIZE = 0x30000
KANA_SHARE = 0.1

# (ISO 15924 code, [(first, last) code point ranges, inclusive])
_RANGES: list[tuple[str, list[tuple[int, int]]]] = [
    ("Latn", [(0x0041, 0x024F), (0x0250, 0x02AF), (0x1D00, 0x1DBF), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F),
              (0xA720, 0xA7FF), (0xAB30, 0xAB6F), (0xFB00, 0xFB06), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)]),
    ("Grek", [(0x0370, 0x03FF), (0x1F00, 0x1FFF)]),
    ("Cyrl", [(0x0400, 0x052F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)]),
    ("Armn", [(0x0530, 0x058F), (0xFB13, 0xFB17)]),
    ("Hebr", [(0x0590, 0x05FF), (0xFB1D, 0xFB4F)]),
    ("Arab", [(0x0600, 0x06FF), (0x0750, 0x077F), (0x0870, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)]),
    ("Syrc", [(0x0700, 0x074F)]),
    ("Thaa", [(0x0780, 0x07BF)]),
    ("Nkoo", [(0x07C0, 0x07FF)]),
    ("Deva", [(0x0900, 0x097F), (0xA8E0, 0xA8FF)]),
    ("Beng", [(0x0980, 0x09FF)]),
    ("Guru", [(0x0A00, 0x0A7F)]),
    ("Gujr", [(0x0A80, 0x0AFF)]),
    ("Orya", [(0x0B00, 0x0B7F)]),
    ("Taml", [(0x0B80, 0x0BFF)]),
    ("Telu", [(0x0C00, 0x0C7F)]),
    ("Knda", [(0x0C80, 0x0CFF)]),
    ("Mlym", [(0x0D00, 0x0D7F)]),
    ("Sinh", [(0x0D80, 0x0DFF)]),
    ("Thai", [(0x0E00, 0x0E7F)]),
    ("Laoo", [(0x0E80, 0x0EFF)]),
    ("Tibt", [(0x0F00, 0x0FFF)]),
    ("Mymr", [(0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F)]),
    ("Geor", [(0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F)]),
    ("Hang", [(0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF),
              (0xFFA0, 0xFFDC)]),
    ("Ethi", [(0x1200, 0x139F), (0x2D80, 0x2DDF), (0xAB00, 0xAB2F)]),
    ("Cher", [(0x13A0, 0x13FF), (0xAB70, 0xABBF)]),
    ("Cans", [(0x1400, 0x167F), (0x18B0, 0x18FF)]),
    ("Khmr", [(0x1780, 0x17FF), (0x19E0, 0x19FF)]),
    ("Mong", [(0x1800, 0x18AF)]),
    ("Tfng", [(0x2D30, 0x2D7F)]),
    ("Kana", [(0x3040, 0x309F), (0x30A0, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9D)]),  # kana → Jpan
    ("Bopo", [(0x3100, 0x312F), (0x31A0, 0x31BF)]),
    ("Hani", [(0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B), (0x3400, 0x4DBF),
              (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, TABLE_SIZE - 1)]),
]

# index 0 = no script (not a letter); names[i] for i >= 1
SCRIPT_NAMES: list[str | None] = [None] + [name for name, _ in _RANGES]
_INDEX = {name: i for i, name in enumerate(SCRIPT_NAMES) if name}
_HANI, _KANA, _BOPO = _INDEX["Hani"], _INDEX["Kana"], _INDEX["Bopo"]
# Bopomofo is only used with Chinese: it counts as Hani.


@functools.cache
def script_table() -> np.ndarray:
    """uint8[TABLE_SIZE]: the script index of each code point (0 = not a letter or an unlisted script)."""
    table = np.zeros(TABLE_SIZE, dtype=np.uint8)
    for name, ranges in _RANGES:
        idx = _INDEX[name] if name != "Bopo" else _HANI
        for lo, hi in ranges:
            table[lo:hi + 1] = idx
    # keep letters and marks only: digits, punctuation and symbols inside script blocks do not vote
    letter = np.zeros(TABLE_SIZE, dtype=bool)
    for cp in range(TABLE_SIZE):
        if table[cp] and unicodedata.category(chr(cp))[0] in "LM":
            letter[cp] = True
    # unassigned code points in the big CJK planes: count them as Han (new Unicode versions add Han there)
    letter[0x20000:TABLE_SIZE] |= table[0x20000:TABLE_SIZE] == _HANI
    table[~letter] = 0
    return table


def script_counts(texts: list[str], max_chars: int | None = 20_000) -> np.ndarray:
    """int64[len(texts), n_scripts]: letters per script per text (column 0 = non-letters, unused).

    Only the first `max_chars` characters of each text are looked at (None = all): the dominant script
    of a document is settled long before that.
    """
    table = script_table()
    k = len(SCRIPT_NAMES)
    out = np.zeros((len(texts), k), dtype=np.int64)
    # encode in chunks of ~4M code points: one numpy pass per chunk, not one per document
    start, budget, parts, lengths = 0, 4_000_000, [], []
    for i, t in enumerate(texts):
        if max_chars is not None and len(t) > max_chars:
            t = t[:max_chars]
        parts.append(t.encode("utf-32-le", "surrogatepass"))
        lengths.append(len(t))
        budget -= len(t)
        if budget <= 0 or i == len(texts) - 1:
            _count_chunk(parts, lengths, table, out[start:i + 1], k)
            start, budget, parts, lengths = i + 1, 4_000_000, [], []
    return out


def _count_chunk(parts: list[bytes], lengths: list[int], table: np.ndarray, out: np.ndarray, k: int) -> None:
    cps = np.frombuffer(b"".join(parts), dtype="<u4")
    if cps.size == 0:
        return
    scripts = table[np.minimum(cps, TABLE_SIZE - 1)]
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    keep = scripts != 0
    flat = np.bincount(doc[keep] * k + scripts[keep], minlength=len(lengths) * k)
    out += flat.reshape(len(lengths), k)


def dominant_scripts(texts: list[str], max_chars: int | None = 20_000) -> list[str | None]:
    """The dominant script of each text (ISO 15924 code), None when it has no letters."""
    counts = script_counts(texts, max_chars)
    if counts.size == 0:
        return []
    han, kana = counts[:, _HANI].copy(), counts[:, _KANA].copy()
    japanese = (kana > 0) & (kana >= KANA_SHARE * (han + kana))
    # Japanese text: kanji count with kana; otherwise kana alone (rare) vote Jpan and Han votes Hani
    counts[:, _KANA] = np.where(japanese, han + kana, kana)
    counts[:, _HANI] = np.where(japanese, 0, han)
    counts[:, 0] = 0
    best = counts.argmax(axis=1)
    best[counts.max(axis=1) == 0] = 0
    names = [n if n != "Kana" else "Jpan" for n in SCRIPT_NAMES]
    return [names[b] for b in best]
