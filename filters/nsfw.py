"""NSFW filter: blocklisted URL domains, banned words in the URL, and a ratio of listed words in the text.

1. URL domain blocklist: the UT1 `adult` list (4.5 M domains, Université Toulouse 1 Capitole, CC BY-SA) that
   ships inside datatrove's package (`datatrove/assets/url_filterblacklistsv0_3_0.tar.gz`: `domains` and
   `urls`). A URL is blocked when its full host, any parent of the host down to the registered domain
   (found with tldextract's bundled public-suffix snapshot, no network), or its host + path is listed.
   Lists are stored as sorted 64-bit hashes (36 MB), loaded once per process: a few seconds the first
   time, then milliseconds from a cache file (`$TAMIS_CACHE_DIR`, else `~/.cache/tamis`).
   `domain_lists: {category: file}` and `extra_domains` add lists of your own (category `custom`); list files
   (here and in `wordlists`) may be URIs, read through engine.storage.
2. Banned URL words, as datatrove's URLFilter (FineWeb, RefinedWeb): a word of `banned_words.txt` among the
   URL's alphanumeric tokens (`banned_word`), `soft_word_threshold` words of `soft_banned_words.txt`
   (`soft_banned_words`), or a string of `banned_subwords.txt` inside the URL stripped to [a-z0-9]
   (`banned_subword`). Lists from datatrove's assets.
3. Word ratio in the text: listed words (and multi-word phrases) per word of the text, with a list per
   language chosen by the document's `lang` column (set it with the `language` filter first).
   `wordlists: {de: path, ...}` gives lists (one term per line, e.g. the LDNOOBW lists); `en` defaults to
   datatrove's hard URL lists (banned words + banned phrases: explicit terms only, no "sex"/"naked"-like
   soft words). A document whose language has no list is checked with the English list. Languages written
   without spaces (zh, ja, th, ko, lo, km, my, bo) match terms of 2+ characters as substrings, ratio =
   matched characters per non-space character.

Signals: `nsfw_url_category` (`adult`, a `domain_lists` category, `custom`, `banned_word`,
`soft_banned_words`, `banned_subword`; null when the URL is clean or absent) and `nsfw_word_ratio`.
Reasons: `nsfw_url` (a blocklisted domain or URL), `nsfw_url_words` (banned words in the URL), `nsfw_words`
(`nsfw_word_ratio` > `max_word_ratio`).
"""
from __future__ import annotations

import functools
import io
import os
import re
import tarfile
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from engine import storage
from engine.settings import settings
from filters.base import Filter, first_reason, param, texts

URL_LIST_CATEGORIES = ("banned_word", "soft_banned_words", "banned_subword")
UNSEGMENTED_LANGS = frozenset({"zh", "ja", "th", "ko", "lo", "km", "my", "bo", "wuu", "yue"})

_WORD = re.compile(r"\w+")
_URL_SPLIT = re.compile(r"[^a-z0-9]+")


def datatrove_assets() -> Path:
    """datatrove's assets folder, found without importing datatrove (its import is slow)."""
    import importlib.util

    spec = importlib.util.find_spec("datatrove")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("datatrove is not installed: it ships the UT1 URL blocklist and the banned word lists")
    return Path(list(spec.submodule_search_locations)[0]) / "assets"


# ---------------------------------------------------------------------------------------------------------
# Domain / URL blocklists: sorted uint64 hashes

def _h(s: str | bytes) -> int:
    return xxhash.xxh3_64_intdigest(s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    if values.size:
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return values


def _hash_lines(data: bytes) -> np.ndarray:
    """Hashes of the entries of a list file: lowercase, without `www.` and trailing `/`, `#` = comment."""
    data = b"\n" + data.lower().replace(b"\r", b"") + b"\n"
    lines = data.split(b"\n")
    # the slow per-line clean-up only when the file needs it (checked at C speed on the whole buffer)
    if any(s in data for s in (b"\nwww.", b"/\n", b" ", b"\t", b"\n#")):
        lines = [ln.strip().removeprefix(b"www.").rstrip(b"/") for ln in lines if not ln.startswith(b"#")]
    lines = [ln for ln in lines if ln]
    return _sorted_unique(np.fromiter(map(xxhash.xxh3_64_intdigest, lines), dtype=np.uint64, count=len(lines)))


def _cache_dir() -> Path:
    return settings().cache_dir


@functools.cache
def ut1_adult_hashes() -> tuple[np.ndarray, np.ndarray]:
    """(domain hashes, url hashes) of the UT1 adult list shipped with datatrove; sorted uint64.

    Hashing 4.5 M domains takes a few seconds: the result is kept in a cache file (`$TAMIS_CACHE_DIR`, else
    `~/.cache/tamis`) keyed by the tarball's size and mtime, so later processes load it in milliseconds.
    A cache that cannot be read or written is simply not used.
    """
    tar_path = datatrove_assets() / "url_filterblacklistsv0_3_0.tar.gz"
    st = tar_path.stat()
    cache = _cache_dir() / f"ut1_adult.{st.st_size}.{int(st.st_mtime)}.v1.npz"
    try:
        with np.load(cache) as z:
            return z["domains"], z["urls"]
    except Exception:
        pass
    with tarfile.open(tar_path, "r:gz") as tar:
        domains = _hash_lines(tar.extractfile("domains").read())
        urls = _hash_lines(tar.extractfile("urls").read())
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, domains=domains, urls=urls)
        os.replace(tmp, cache)
    except OSError:
        pass
    return domains, urls


@functools.cache
def domain_list_hashes(path: str) -> np.ndarray:
    """A domain list file (a local path or a URI, read through engine.storage; `.gz` ok), hashed."""
    data = storage.read_bytes(path)
    if path.endswith(".gz"):
        import gzip
        data = gzip.decompress(data)
    return _hash_lines(data)


@functools.cache
def _tld_extractor():
    import tldextract

    # bundled public-suffix snapshot: no fetch (suffix_list_urls=()), no cache file (cache_dir=None)
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


@functools.lru_cache(maxsize=100_000)
def host_candidates(host: str) -> tuple[int, ...]:
    """Hashes of the host and each parent domain down to its registered domain (`a.b.example.co.uk` ->
    a.b.example.co.uk, b.example.co.uk, example.co.uk)."""
    host = host.strip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    ext = _tld_extractor()(host)
    registered = ext.top_domain_under_public_suffix if hasattr(ext, "top_domain_under_public_suffix") \
        else ext.registered_domain
    out = [host]
    if registered and host.endswith("." + registered):
        labels = host[: -len(registered) - 1].split(".")
        out += [".".join(labels[i:] + [registered]) for i in range(1, len(labels))] + [registered]
    return tuple(_h(c) for c in out)


def _in_sorted(sorted_hashes: np.ndarray, queries: np.ndarray) -> np.ndarray:
    if sorted_hashes.size == 0 or queries.size == 0:
        return np.zeros(queries.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_hashes, queries), sorted_hashes.size - 1)
    return sorted_hashes[pos] == queries


def _url_key(url: str) -> tuple[str, str | None]:
    """(host, 'host/path' as UT1's `urls` list writes it) of a URL; host '' when unparseable."""
    u = url.strip()
    if "://" not in u:
        u = "http://" + u
    try:
        parts = urlsplit(u)
        host = parts.hostname or ""
    except ValueError:
        return "", None
    if host.startswith("www."):
        host = host[4:]
    path = parts.path.rstrip("/")
    if parts.query:
        path += "?" + parts.query
    return host, (host + path) if path else None


def _expand(path: str) -> str:
    return path if storage.is_uri(path) else os.path.expanduser(path)


# ---------------------------------------------------------------------------------------------------------
# Word lists

def _read_terms(path: str | Path) -> list[str]:
    """The terms of a list file (a local path or a URI): one per line, `#` = comment."""
    with io.TextIOWrapper(storage.open_input_stream(str(path)), encoding="utf-8") as f:
        return [t.strip().lower() for t in f if t.strip() and not t.startswith("#")]


@functools.cache
def url_word_lists() -> tuple[frozenset[str], frozenset[str], re.Pattern | None]:
    """datatrove's URL lists: (banned words, soft banned words, banned-subword regex), normalized as datatrove
    does (lowercase, non-alphanumerics removed; `#`-prefixed entries are disabled)."""
    a = datatrove_assets()
    norm = functools.partial(re.compile(r"[^a-z0-9]+").sub, "")
    words = frozenset(norm(w) for w in _read_terms(a / "banned_words.txt")) - {""}
    soft = frozenset(norm(w) for w in _read_terms(a / "soft_banned_words.txt")) - {""}
    subs = sorted({norm(w) for w in _read_terms(a / "banned_subwords.txt")} - {""}, key=len, reverse=True)
    return words, soft, re.compile("|".join(map(re.escape, subs))) if subs else None


class WordList:
    """Single words in a set, multi-word phrases by their first word; or substrings for unsegmented scripts."""

    def __init__(self, terms: list[str], unsegmented: bool = False):
        self.unsegmented = unsegmented
        self.singles: set[str] = set()
        self.phrases: dict[str, set[tuple[str, ...]]] = {}
        if unsegmented:
            # one-character terms are ignored: 性 ('sex') is also in 性能 ('performance'), 一次性 ('disposable')
            subs = sorted({t.replace(" ", "") for t in terms if len(t.replace(" ", "")) > 1}, key=len, reverse=True)
            self.regex = re.compile("|".join(map(re.escape, subs))) if subs else None
            return
        for t in terms:
            toks = _WORD.findall(t)
            if len(toks) == 1:
                self.singles.add(toks[0])
            elif len(toks) > 1:
                self.phrases.setdefault(toks[0], set()).add(tuple(toks[1:]))
        self.firsts = self.singles | set(self.phrases)

    def ratio(self, text: str) -> float:
        if self.unsegmented:
            letters = len(text) - sum(map(str.isspace, text)) if text else 0
            if not letters or self.regex is None:
                return 0.0
            matched = sum(m.end() - m.start() for m in self.regex.finditer(text.lower()))
            return min(matched / letters, 1.0)
        words = _WORD.findall(text.lower())
        if not words or self.firsts.isdisjoint(words):
            return 0.0
        matched = sum(map(self.singles.__contains__, words)) if self.singles else 0
        if self.phrases:
            for i, w in enumerate(words):
                tails = self.phrases.get(w)
                if tails:
                    for tail in tails:
                        if tuple(words[i + 1:i + 1 + len(tail)]) == tail:
                            matched += 1 + len(tail)
                            break
        return min(matched / len(words), 1.0)


@functools.cache
def default_english_terms() -> tuple[str, ...]:
    a = datatrove_assets()
    return tuple(_read_terms(a / "banned_words.txt") + _read_terms(a / "banned_subwords.txt"))


@functools.cache
def load_wordlist(path: str | None, lang: str) -> WordList:
    """A word list file (one term per line) or, for path None, the default English list."""
    terms = list(default_english_terms()) if path is None else _read_terms(path)
    return WordList([t.lstrip("#") for t in terms if not t.startswith("#")], unsegmented=lang in UNSEGMENTED_LANGS)


# ---------------------------------------------------------------------------------------------------------

class Nsfw(Filter):
    kind: Literal["nsfw"] = "nsfw"
    ut1_adult: bool = param(True, "block the UT1 `adult` domains and URLs (the list shipped in datatrove)",
                            "UT1 blocklist (Université Toulouse 1 Capitole)")
    domain_lists: dict[str, str] = param({}, "more blocked domains: {category: file} (one domain per line, .gz ok)",
                                         "tamis")
    extra_domains: list[str] = param([], "domains to block (category `custom`)", "tamis")
    url_words: bool = param(True, "block URLs holding a banned word, soft words or a banned subword",
                            "datatrove URLFilter (FineWeb, RefinedWeb)")
    soft_word_threshold: int = param(2, "soft-banned URL words that block a URL",
                                     "datatrove URLFilter (FineWeb, RefinedWeb)")
    wordlists: dict[str, str] = param({}, "word list per language: {lang: file}; `en` replaces datatrove's list",
                                      "tamis")
    # 1 % is ~5 explicit terms in a 500-word page: news, medical or LGBT pages that mention sex stay below it
    # (C4's any-word rule does not).
    max_word_ratio: float = param(0.01, "listed words per word of text above which a document is dropped",
                                  "tamis", ge=0.0, le=1.0)

    summary: ClassVar[str] = "blocklisted URL domains, banned words in the URL, listed words in the text"
    literature: ClassVar[str] = "UT1 blocklist; datatrove URLFilter (FineWeb, RefinedWeb); LDNOOBW-style lists"
    reasons: ClassVar[tuple[str, ...]] = ("nsfw_url", "nsfw_url_words", "nsfw_words")

    # the URL lists, `url_words` and `soft_word_threshold` decide which category is stored: score-side
    decide_params: ClassVar[tuple[str, ...]] = ("max_word_ratio",)
    signal_types: ClassVar[dict[str, pa.DataType]] = {"nsfw_url_category": pa.string(), "nsfw_word_ratio": pa.float64()}

    # --- URL
    def _domain_lists(self) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
        lists = []
        if self.ut1_adult:
            d, u = ut1_adult_hashes()
            lists.append(("adult", d, u))
        for cat, path in self.domain_lists.items():
            lists.append((cat, domain_list_hashes(_expand(path)), None))
        if self.extra_domains:
            extra = _sorted_unique(np.array([_h(d.strip().lower().removeprefix("www.")) for d in self.extra_domains],
                                            dtype=np.uint64))
            lists.append(("custom", extra, None))
        return lists

    def url_categories(self, urls: list[str | None]) -> list[str | None]:
        out: list[str | None] = [None] * len(urls)
        keys = [(_url_key(u) if u else ("", None)) for u in urls]
        # 1. domain and URL lists: every candidate of every row in one vectorized lookup per list
        rows, cands, url_rows, url_hashes = [], [], [], []
        for i, (host, hp) in enumerate(keys):
            if host:
                c = host_candidates(host)
                rows += [i] * len(c)
                cands += c
            if hp:
                url_rows.append(i)
                url_hashes.append(_h(hp))
        rows_a, cands_a = np.array(rows, dtype=np.int64), np.array(cands, dtype=np.uint64)
        url_rows_a, url_hashes_a = np.array(url_rows, dtype=np.int64), np.array(url_hashes, dtype=np.uint64)
        for cat, dom, url_list in self._domain_lists():
            hit_rows = set(rows_a[_in_sorted(dom, cands_a)].tolist())
            if url_list is not None:
                hit_rows |= set(url_rows_a[_in_sorted(url_list, url_hashes_a)].tolist())
            for i in hit_rows:
                if out[i] is None:
                    out[i] = cat
        # 2. banned words in the URL
        if self.url_words:
            words, soft, subs = url_word_lists()
            for i, u in enumerate(urls):
                if out[i] is not None or not u:
                    continue
                low = u.lower()
                toks = set(_URL_SPLIT.split(low))
                if not words.isdisjoint(toks):
                    out[i] = "banned_word"
                elif len(soft & toks) >= self.soft_word_threshold:
                    out[i] = "soft_banned_words"
                elif subs is not None and subs.search(_URL_SPLIT.sub("", low)):
                    out[i] = "banned_subword"
        return out

    # --- text
    def word_ratios(self, docs: list[str], langs: list[str | None]) -> list[float]:
        en = load_wordlist(self.wordlists.get("en"), "en")
        lists: dict[str | None, WordList] = {}
        out = []
        for text, lang in zip(docs, langs):
            wl = lists.get(lang)
            if wl is None:
                path = self.wordlists.get(lang) if lang else None
                wl = lists[lang] = load_wordlist(_expand(path), lang) if path else en
            out.append(wl.ratio(text) if text else 0.0)
        return out

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        n = docs.num_rows
        urls = docs.column("url").to_pylist() if "url" in docs.column_names else [None] * n
        langs = docs.column("lang").to_pylist() if "lang" in docs.column_names else [None] * n
        return {
            "nsfw_url_category": pa.array(self.url_categories(urls), pa.string()),
            "nsfw_word_ratio": pa.array(self.word_ratios(texts(docs), langs), pa.float64()),
        }

    def decide(self, table: pa.Table) -> pa.Array:
        cat = table.column("nsfw_url_category")
        url_words = pc.is_in(cat, value_set=pa.array(URL_LIST_CATEGORIES, pa.string()))
        listed = pc.and_(pc.is_valid(cat), pc.invert(pc.fill_null(url_words, False)))
        return first_reason(table.num_rows, [
            (listed, "nsfw_url"),
            (url_words, "nsfw_url_words"),
            (pc.greater(table.column("nsfw_word_ratio"), self.max_word_ratio), "nsfw_words"),
        ])
