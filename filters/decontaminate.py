"""Benchmark decontamination by word n-gram overlap (GPT-3 / Llama style 13-grams).

The benchmark files named in the spec (`benchmarks: [glob, ...]`: JSONL, JSON array, CSV or Parquet, `.gz` or
`.zst` compressed JSONL/CSV too; local globs or URIs such as `s3://bucket/bench/*.jsonl`, read through
engine.storage) are read once per process into an index of n-gram hashes. Every string field
of a record, or each string of a list-of-strings field, is one *item* (`fields:` restricts which fields);
n-grams never cross items.

Normalization (benchmark and documents alike): Unicode NFKC, lowercase, words = runs of `\\w` characters, so
punctuation and whitespace differences do not matter (`<<16-3-4=9>>9` and `16 - 3 - 4 = 9 9` agree).

- Items of at least `ngram` words contribute all their `ngram`-word windows.
- Items shorter than `ngram` words but of at least `min_item_words` words are one n-gram each: the whole
  item, matched wherever it occurs in a document as a run of words.
- Items shorter than `min_item_words` (ids, entry points, answer letters, numbers, short choices) are
  ignored, and so are n-grams made only of numbers (`1 2 3 ... 13`, grids in HumanEval/129): they are not
  evidence of contamination and would match everywhere.

Hashes: each word is hashed with Python's string hash (64-bit SipHash, salted per process, so the index
is built in the process that uses it and never stored), n-grams combine word hashes with a polynomial
rolling hash mod 2^64, computed with numpy over a whole batch at once; lookups are a binary search in the
sorted index.

Signals: `decontam_match` = `<benchmark>:<item id or row index>` of the first matching n-gram in the
document (null if clean), `decontam_ngrams` = number of matching n-gram windows. `<benchmark>` is the file
name without extensions (`HumanEval.jsonl.gz` -> `HumanEval`); generic split names get their folder
prefixed (`gsm8k/test.jsonl` -> `gsm8k_test`). Item id: the record's `id_field`, else the first of
`id`, `task_id`, `question_id`, `qid`, `uid` it has, else its 0-based row number in the file.
Reason: `decontaminated:<benchmark>` when `decontam_ngrams >= min_matches`. `mode: tag` only sets signals.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine import storage
from filters.base import Filter, param, texts

_WORD = re.compile(r"\w+")
_P = np.uint64(0x100000001B3)          # FNV prime: odd multiplier of the rolling hash
_M1 = np.uint64(0xFF51AFD7ED558CCD)    # murmur3 finalizer constants
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
GENERIC_STEMS = {"test", "train", "dev", "val", "valid", "validation", "eval", "data", "questions", "dataset"}
ID_FIELDS = ("id", "task_id", "question_id", "qid", "uid")
_CHUNK_TOKENS = 2_000_000


def words(text: str) -> list[str]:
    """The normalized words of a text: NFKC, lowercase, runs of word characters."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _M1
    h = h ^ (h >> np.uint64(33))
    h = h * _M2
    return h ^ (h >> np.uint64(33))


def _token_hashes(tokens: list[str]) -> np.ndarray:
    return np.fromiter(map(hash, tokens), dtype=np.int64, count=len(tokens)).view(np.uint64)


def _windows(tok: np.ndarray, n: int) -> np.ndarray:
    """Hash of every n-word window of a token-hash array (len - n + 1 values)."""
    m = tok.size - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = tok[:m].copy()
    for j in range(1, n):
        acc *= _P
        acc += tok[j:j + m]
    return _mix(acc)


# ---------------------------------------------------------------------------------------------------------
# Benchmark files

def benchmark_name(path: str | Path) -> str:
    p = Path(path)
    stem = p.name.split(".")[0]
    if stem.lower() in GENERIC_STEMS and p.parent.name:
        stem = f"{p.parent.name}_{stem}"
    return stem


@contextlib.contextmanager
def _open_text(path: str) -> Iterator[io.TextIOBase]:
    """The file as text, read through engine.storage (a local path or a URI); newlines as `open` reads them."""
    with storage.open_input_stream(path) as raw:
        if path.endswith(".gz"):
            text = io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8")
        elif path.endswith(".zst"):
            import zstandard

            text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), encoding="utf-8")
        else:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        with text:
            yield text


def read_records(path: str) -> Iterator[dict]:
    """Records of a JSONL / JSON / CSV / Parquet file (compressed JSONL or CSV ok)."""
    base = path.removesuffix(".gz").removesuffix(".zst").lower()
    if base.endswith(".parquet"):
        import pyarrow.parquet as pq

        with storage.open_input_file(path) as f:
            yield from pq.read_table(f).to_pylist()
    elif base.endswith((".csv", ".tsv")):
        with _open_text(path) as f:
            yield from csv.DictReader(f, delimiter="\t" if base.endswith(".tsv") else ",")
    elif base.endswith((".jsonl", ".json", ".ndjson")):
        with _open_text(path) as f:
            head = f.read(1)
            while head and head.isspace():
                head = f.read(1)
            if head == "[":  # a JSON array of records
                yield from json.loads(head + f.read())
                return
            first = True
            for line in f:
                if first:
                    line, first = head + line, False
                if line.strip():
                    yield json.loads(line)
    else:
        raise ValueError(f"decontaminate: unsupported benchmark file type (JSONL, JSON, CSV or Parquet): {path}")


def record_items(rec: dict, fields: tuple[str, ...] | None) -> Iterator[str]:
    for key in (fields if fields is not None else rec.keys()):
        v = rec.get(key)
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            yield from (x for x in v if isinstance(x, str))


def record_id(rec: dict, row: int, id_field: str | None) -> str:
    for key in ((id_field,) if id_field else ID_FIELDS):
        v = rec.get(key)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v):
            return str(v)
    return str(row)


def expand_benchmarks(patterns: tuple[str, ...]) -> list[str]:
    """The benchmark files the patterns name (local globs, or URIs listed on their store), in order."""
    files: list[str] = []
    for pat in patterns:
        pat = pat if storage.is_uri(pat) else os.path.expanduser(pat)
        hits = storage.glob(pat)
        if not hits:
            raise FileNotFoundError(f"decontaminate: no benchmark file matches {pat!r}")
        files += [h for h in hits if storage.isfile(h) and h not in files]
    return files


@dataclass(frozen=True)
class NgramIndex:
    hashes: np.ndarray        # sorted uint64
    owners: np.ndarray        # int32: item label index of each hash (the first item that had it)
    labels: list[str]         # "<benchmark>:<id>"
    lengths: tuple[int, ...]  # window lengths to scan documents with: ngram, then the short items' lengths
    n_items: int
    # one byte per bucket of the hash's top `bits` bits: a cheap pre-test before the binary search
    buckets: np.ndarray
    bits: int

    @classmethod
    def build(cls, hashes, owners, labels, lengths, n_items) -> "NgramIndex":
        bits = int(min(26, max(16, np.ceil(np.log2(max(hashes.size, 1) * 16)))))
        buckets = np.zeros(1 << bits, dtype=bool)
        buckets[hashes >> np.uint64(64 - bits)] = True
        return cls(hashes, owners, labels, lengths, n_items, buckets, bits)

    def lookup(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hit mask, owner label index per query; meaningful where hit)."""
        hit = np.zeros(h.shape, dtype=bool)
        owner = np.zeros(h.shape, dtype=np.int32)
        if self.hashes.size == 0 or h.size == 0:
            return hit, owner
        cand = np.nonzero(self.buckets[h >> np.uint64(64 - self.bits)])[0]
        if cand.size:
            pos = np.minimum(np.searchsorted(self.hashes, h[cand]), self.hashes.size - 1)
            hit[cand] = self.hashes[pos] == h[cand]
            owner[cand] = self.owners[pos]
        return hit, owner


@functools.cache
def build_index(benchmarks: tuple[str, ...], fields: tuple[str, ...] | None, ngram: int, min_item_words: int,
                id_field: str | None = None) -> NgramIndex:
    """The n-gram index of the benchmark files, built once per process."""
    labels: list[str] = []
    all_h: list[np.ndarray] = []
    all_o: list[np.ndarray] = []
    lengths = {ngram}
    n_items = 0
    for path in expand_benchmarks(benchmarks):
        name = benchmark_name(path)
        for row, rec in enumerate(read_records(path)):
            if not isinstance(rec, dict):
                continue
            owner = len(labels)
            used = False
            for item in record_items(rec, fields):
                toks = words(item)
                if len(toks) < min_item_words:
                    continue
                n = min(ngram, len(toks))
                h = _windows(_token_hashes(toks), n)
                # windows made only of numbers ("1 2 3 ... 13", grids, tables) match unrelated documents
                numeric = np.fromiter(map(str.isdigit, toks), dtype=bool, count=len(toks))
                if numeric.any():
                    words_before = np.concatenate(([0], np.cumsum(~numeric)))
                    h = h[words_before[n:] - words_before[:-n] > 0]
                if h.size == 0:
                    continue
                lengths.add(n)
                all_h.append(h)
                all_o.append(np.full(h.size, owner, dtype=np.int32))
                used = True
                n_items += 1
            if used:
                labels.append(f"{name}:{record_id(rec, row, id_field)}")
    if all_h:
        h, o = np.concatenate(all_h), np.concatenate(all_o)
        order = np.argsort(h, kind="stable")  # stable: a hash shared by items keeps the first item's label
        h, o = h[order], o[order]
        first = np.concatenate(([True], h[1:] != h[:-1]))
        h, o = h[first], o[first]
    else:
        h, o = np.zeros(0, np.uint64), np.zeros(0, np.int32)
    return NgramIndex.build(h, o, labels, tuple(sorted(lengths, reverse=True)), n_items)


def scan(index: NgramIndex, docs: list[str]) -> tuple[list[str | None], list[int]]:
    """(first matching item label or None, number of matching windows) per document."""
    match: list[str | None] = [None] * len(docs)
    counts = np.zeros(len(docs), dtype=np.int64)
    start = 0
    while start < len(docs):
        toks: list[str] = []
        lens: list[int] = []
        stop = start
        while stop < len(docs) and (stop == start or len(toks) < _CHUNK_TOKENS):
            w = words(docs[stop]) if docs[stop] else []
            toks += w
            lens.append(len(w))
            stop += 1
        _scan_chunk(index, toks, np.array(lens, dtype=np.int64), start, match, counts)
        start = stop
    return match, counts.tolist()


def _scan_chunk(index: NgramIndex, toks: list[str], lens: np.ndarray, offset: int,
                match: list[str | None], counts: np.ndarray) -> None:
    if not toks:
        return
    tok = _token_hashes(toks)
    ends = np.cumsum(lens)
    doc_of = np.repeat(np.arange(lens.size), lens)
    first_pos = np.full(lens.size, np.iinfo(np.int64).max, dtype=np.int64)
    first_owner = np.full(lens.size, -1, dtype=np.int64)
    for n in index.lengths:
        h = _windows(tok, n)
        if h.size == 0:
            continue
        starts = np.arange(h.size)
        hit, owner = index.lookup(h)
        hit &= starts + n <= ends[doc_of[:h.size]]  # the window must not cross into the next document
        pos = starts[hit]
        if pos.size == 0:
            continue
        d = doc_of[pos]
        counts[offset:offset + lens.size] += np.bincount(d, minlength=lens.size)
        # first hit per document in this pass (positions are ascending)
        ud, first = np.unique(d, return_index=True)
        better = pos[first] < first_pos[ud]
        first_pos[ud[better]] = pos[first][better]
        first_owner[ud[better]] = owner[hit][first][better]
    for i in np.nonzero(first_owner >= 0)[0]:
        match[offset + int(i)] = index.labels[int(first_owner[i])]


# ---------------------------------------------------------------------------------------------------------

class Decontaminate(Filter):
    kind: Literal["decontaminate"] = "decontaminate"
    benchmarks: list[str] = param(..., "benchmark files (globs): JSONL, JSON, CSV or Parquet", "tamis",
                                  min_length=1)
    fields: list[str] | None = param(None, "record fields holding benchmark text; null: every string or "
                                           "list-of-strings field", "tamis")
    ngram: int = param(13, "words per n-gram", "GPT-3 (Brown et al. 2020) 13-gram overlap", ge=1)
    min_item_words: int = param(8, "benchmark items with fewer words are ignored (shorter than `ngram`: matched "
                                   "whole)", "tamis", ge=1)
    min_matches: int = param(1, "matching n-grams that drop a document", "GPT-3 (Brown et al. 2020)", ge=1)
    id_field: str | None = param(None, "field naming a benchmark item; null: id, task_id, question_id, qid, uid, "
                                       "else the row number", "tamis")

    summary: ClassVar[str] = "drop documents sharing a word n-gram with a benchmark"
    literature: ClassVar[str] = "GPT-3 (Brown et al. 2020), Llama 2 (Touvron et al. 2023): 13-gram overlap"
    # bare `decontaminated`: a count without a stored match (signals written by hand or by another version)
    reasons: ClassVar[tuple[str, ...]] = ("decontaminated:<benchmark>", "decontaminated")

    decide_params: ClassVar[tuple[str, ...]] = ("min_matches",)
    signal_types: ClassVar[dict[str, pa.DataType]] = {"decontam_match": pa.string(), "decontam_ngrams": pa.int64()}

    def index(self) -> NgramIndex:
        return build_index(tuple(self.benchmarks), tuple(self.fields) if self.fields is not None else None,
                           self.ngram, min(self.min_item_words, self.ngram), self.id_field)

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        match, counts = scan(self.index(), texts(docs))
        return {"decontam_match": pa.array(match, pa.string()), "decontam_ngrams": pa.array(counts, pa.int64())}

    def decide(self, table: pa.Table) -> pa.Array:
        fails = pc.fill_null(pc.greater_equal(table.column("decontam_ngrams"), self.min_matches), False)
        match = pc.fill_null(table.column("decontam_match"), "")
        bench = pc.list_element(pc.split_pattern(match, ":", max_splits=1), 0)
        reason = pc.binary_join_element_wise(pa.scalar("decontaminated"), bench, ":")
        reason = pc.if_else(pc.equal(bench, ""), pa.scalar("decontaminated"), reason)
        return pc.if_else(fails, reason, pa.scalar(None, pa.string()))
