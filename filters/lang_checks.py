"""Checks of a document's language label that do not trust the model that gave it.

Web LID is confidently wrong on text in languages it was not trained on and on romanized or mixed text;
Caswell et al. (2020) and Kreutzer et al. (2022, "Quality at a Glance") found whole corpora subsets in the
wrong language, and fixed most of it with word lists. Two independent checks, computed per batch:

- word list (`lang_wordlist_score`): the share of the text's word tokens that are in the labeled
  language's frequent-word list (wordfreq's top `TOP_N` words where wordfreq has the language, else the
  stopwords-iso list; a user's list by path replaces either). Space-less scripts (Han, kana, Thai, ...) count
  characters, not words, against the characters of the list. Null when no list exists for the language.
- a second LID model (`lang_second`, `lang_agree`): py3langid's naive Bayes over byte n-grams (Lui & Baldwin
  2012, langid.py; a different model family and training set than fastText), scored here in numpy for a
  whole batch at once. `lang_agree` is null when that model does not know the labeled language.

`lang_doubt_score` (0-1, higher = more doubt) combines them with the script check; `lang_doubt` is
`lang_doubt_score >= DOUBT_AT`. See `label_checks` for the rule and bench/bench_lang_doubt.py for its rates.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import regex

TOP_N = 2000          # words per wordfreq list: covers ~55-75 % of running text in the big languages
DOUBT_AT = 0.5        # lang_doubt = lang_doubt_score >= this
WORD_CHARS = 1000     # characters of each text the word list sees (~150 words: enough to tell)
LID_BYTES = 600       # UTF-8 bytes of each text the second model sees (its cost is linear in bytes)

# scripts written without spaces between words: their letters are tokens one by one
_SPACELESS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"
_TOKEN = regex.compile(rf"[{_SPACELESS}]|[[\p{{L}}\p{{M}}]--[{_SPACELESS}]]+", regex.V1)
_CHAR_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu"})

# a label -> the list that stands for it (the lists' own codes: wordfreq's `sh` is Serbo-Croatian in Latin
# script, `fil` is Tagalog, `nb` is what lid.176 calls `no`)
_LIST_ALIAS = {"no": "nb", "tl": "fil", "hr": "sh", "bs": "sh", "sr": "sh", "sh": "sh"}
# labels that do not doubt each other: spellings of one written language (lid.176's `no` is Bokmål, the
# second model's `sh` family), and Malay / Indonesian, standard varieties of one macrolanguage that both
# checks confuse on most texts (a `ms` label on Malay would be doubted two times in three)
_SAME = {"no": {"nb", "nn"}, "nb": {"no"}, "nn": {"no"}, "sh": {"sr", "hr", "bs"}, "sr": {"sh", "hr", "bs"},
         "hr": {"sh", "sr", "bs"}, "bs": {"sh", "sr", "hr"}, "tl": {"fil"}, "fil": {"tl"}, "zh": {"wuu", "yue"},
         "ms": {"id"}, "id": {"ms"}}

# Serbian Cyrillic -> Latin (one-to-one but for three digraphs): the `sh` list also checks Cyrillic text
_SR_CYRL = dict(zip("абвгдђежзијклљмнњопрстћуфхцчџш",
                    ["a", "b", "v", "g", "d", "đ", "e", "ž", "z", "i", "j", "k", "l", "lj", "m", "n", "nj", "o",
                     "p", "r", "s", "t", "ć", "u", "f", "h", "c", "č", "dž", "š"]))


def tokens(text: str) -> list[str]:
    """Lowercased word tokens (letters with their combining marks), letters one by one in space-less
    scripts; digits and punctuation are no tokens."""
    return _TOKEN.findall(text[:WORD_CHARS].lower())


# ---------------------------------------------------------------------------------------------------------
# Word lists: one vocabulary for all languages, so a batch's coverage by every list is one sparse product


@dataclass(frozen=True, eq=False)
class WordLists:
    langs: tuple[str, ...]            # list codes, column order of `member`
    vocab: dict                       # token -> row of `member`
    member: object                    # scipy CSR (tokens x langs), 1.0 where the token is in the list
    source: dict                      # lang -> "wordfreq" | "stopwords-iso" | "user"
    memo: dict = field(default_factory=dict)   # label -> `others(label)`

    def column(self, label: str | None) -> int | None:
        if label is None:
            return None
        code = _LIST_ALIAS.get(label, label)
        try:
            return self.langs.index(code)
        except ValueError:
            return None

    def others(self, label: str) -> list[int]:
        """The columns a text labeled `label` is compared with: every list but its own and its siblings'."""
        if label not in self.memo:
            mine = {_LIST_ALIAS.get(x, x) for x in _SAME.get(label, set()) | {label}}
            self.memo[label] = [j for j, lang in enumerate(self.langs) if lang not in mine]
        return self.memo[label]


def _read_user_list(path: str) -> list[str]:
    from engine.storage import is_remote
    from engine.storage.local_copy import local_copy

    path = local_copy(path) if is_remote(path) else os.path.expanduser(path)
    with open(path, encoding="utf-8") as f:
        return [w.strip() for w in f if w.strip() and not w.startswith("#")]


# Loading the packages' data costs ~3 CPU-seconds per Python worker (wordfreq's full frequency lists, the
# LZMA-packed model): what is kept of it is written once to the cache folder (`$TAMIS_CACHE_DIR`, like the
# NSFW lists), keyed by package version or model file, and later workers load it in milliseconds (the model's
# arrays memory-mapped, so the workers of a machine share them). A cache that cannot be read or written is
# not used.

def _cached_json(name: str, build):
    from engine.settings import settings

    path = settings().cache_dir / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except Exception:
        pass
    data = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return data


def _package_lists() -> tuple[dict[str, list[str]], dict[str, str]]:
    from importlib.metadata import version

    name = f"lang_lists.{version('wordfreq')}.{version('stopwordsiso')}.{TOP_N}.v1.json"
    data = _cached_json(name, lambda: dict(zip(("lists", "source"), _build_package_lists())))
    return data["lists"], data["source"]


def _build_package_lists() -> tuple[dict[str, list[str]], dict[str, str]]:
    import stopwordsiso
    import wordfreq

    out, source = {}, {}
    for lang in sorted(wordfreq.available_languages("best")):
        out[lang], source[lang] = wordfreq.top_n_list(lang, TOP_N), "wordfreq"
    covered = set(out) | {k for k, v in _LIST_ALIAS.items() if v in out}
    for lang in sorted(stopwordsiso.langs()):
        if lang not in covered:
            out[lang], source[lang] = sorted(stopwordsiso.stopwords(lang)), "stopwords-iso"
    out["sh"] = out["sh"] + [_cyrillic(w) for w in out["sh"]]   # Serbian is written in both scripts
    return out, source


def _cyrillic(word: str) -> str:
    """A Serbo-Croatian Latin word in Serbian Cyrillic (the inverse of `_SR_CYRL`)."""
    inv = {v: k for k, v in _SR_CYRL.items()}
    out, i = [], 0
    while i < len(word):
        two = word[i:i + 2]
        if two in inv:
            out.append(inv[two])
            i += 2
        else:
            out.append(inv.get(word[i], word[i]))
            i += 1
    return "".join(out)


@functools.cache
def word_lists(user: tuple[tuple[str, str], ...] = ()) -> WordLists:
    """The lists (package ones, then the user's `(lang, path)` pairs replacing them), once per process."""
    from scipy.sparse import csr_matrix

    from filters.language import normalize_lang

    lists, source = _package_lists()
    for lang, path in user:
        code = normalize_lang(lang)[0]
        code = _LIST_ALIAS.get(code, code)
        lists[code], source[code] = _read_user_list(path), "user"
    langs = tuple(sorted(lists))
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for j, lang in enumerate(langs):
        entries = {t for w in lists[lang] for t in tokens(unicodedata.normalize("NFC", w))} \
            if lang in _CHAR_LANGS else {unicodedata.normalize("NFC", w).lower() for w in lists[lang]}
        for t in entries:
            rows.append(vocab.setdefault(t, len(vocab)))
            cols.append(j)
    member = csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(vocab) + 1, len(langs)))
    return WordLists(langs, vocab, member, source)


def list_coverage(texts: list[str], lists: WordLists) -> tuple[np.ndarray, np.ndarray]:
    """(share of each text's tokens in each list: texts x langs, tokens per text). A text without tokens
    has coverage 0 everywhere."""
    from scipy.sparse import csr_matrix

    unknown = len(lists.vocab)
    get = lists.vocab.get
    ids, counts = [], np.zeros(len(texts), np.int64)
    for i, t in enumerate(texts):
        toks = tokens(t)
        counts[i] = len(toks)
        ids.extend(get(w, unknown) for w in toks)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    x = csr_matrix((np.ones(len(ids), np.float32), np.asarray(ids, np.int64), indptr),
                   shape=(len(texts), unknown + 1))
    hits = (x @ lists.member).toarray()
    return hits / np.maximum(counts, 1)[:, None], counts


# ---------------------------------------------------------------------------------------------------------
# The second model: py3langid's byte n-gram naive Bayes, a whole batch per numpy step


@dataclass(frozen=True)
class SecondLid:
    labels: tuple[str, ...]     # distinct labels; `columns[label]` the model columns that name it
    columns: dict
    ptc: np.ndarray             # features x classes, float32
    pc: np.ndarray
    nextmove: np.ndarray        # DFA: state -> row base, row base + byte -> next state
    rowbase: np.ndarray
    output: np.ndarray          # state -> feature index or -1

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """texts x labels: py3langid's normalized probabilities (its `norm_probs=True`: scores scaled by
        1/sqrt(bytes), softmax), from the first LID_BYTES bytes of each text."""
        from scipy.sparse import csr_matrix

        enc = [_encode(t) for t in texts]
        lens = np.array([len(b) for b in enc], np.int64)
        order = np.argsort(-lens, kind="stable")        # longest first: the live texts are a prefix
        width = int(lens.max()) if len(enc) else 0
        grid = np.zeros((len(enc), width), np.uint8)
        for r, i in enumerate(order):
            grid[r, :lens[i]] = np.frombuffer(enc[i], np.uint8)
        live = np.searchsorted(-lens[order], -np.arange(width), side="right")  # texts longer than step t
        state = np.zeros(len(enc), np.int64)
        feats, docs = [], []
        for t in range(width):
            n = live[t]
            s = self.nextmove[self.rowbase[state[:n]] + grid[:n, t]]
            state[:n] = s
            f = self.output[s]
            hit = np.nonzero(f >= 0)[0]
            feats.append(f[hit])
            docs.append(hit)
        f = np.concatenate(feats) if feats else np.zeros(0, np.int64)
        d = np.concatenate(docs) if docs else np.zeros(0, np.int64)
        counts = csr_matrix((np.ones(len(f), np.float32), (d, f)), shape=(len(enc), self.ptc.shape[0]))
        counts.sum_duplicates()
        counts.data = np.log1p(counts.data)
        scores = np.asarray(counts @ self.ptc) + self.pc
        scores *= (1.0 / np.sqrt(np.maximum(lens[order], 1)))[:, None]
        scores[counts.getnnz(axis=1) == 0] = 0.0      # no feature: uniform, as py3langid
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        merged = np.stack([scores[:, cols].sum(axis=1) for cols in self.columns.values()], axis=1)
        out = np.empty_like(merged)
        out[order] = merged
        return out


def _encode(text: str) -> bytes:
    text = text[:LID_BYTES]
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")[:LID_BYTES]


_LID_ARRAYS = ("ptc", "pc", "nextmove", "rowbase", "output")


def _lid_arrays(model) -> tuple[dict, list[str]]:
    """The model's arrays as scoring uses them (float32 weights, the DFA), from the cache folder when there."""
    from engine.settings import settings
    from py3langid.modelio import load_model

    st = model.stat()
    folder = settings().cache_dir / f"py3langid.{st.st_size}.{int(st.st_mtime)}.v1"
    try:
        arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in _LID_ARRAYS}
        return arrays, json.loads((folder / "classes.json").read_text(encoding="utf-8"))
    except Exception:
        pass
    ptc, pc, classes, nextmove, row, output = load_model(model)
    arrays = {"ptc": np.asarray(ptc, np.float32), "pc": np.asarray(pc, np.float32),
              "nextmove": np.asarray(nextmove), "rowbase": np.asarray(row, np.int64) << 8,
              "output": np.asarray(output, np.int32)}
    classes = [str(c) for c in classes]
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for n, a in arrays.items():
            np.save(tmp / f"{n}.npy", a)
        (tmp / "classes.json").write_text(json.dumps(classes), encoding="utf-8")
        os.replace(tmp, folder)        # fails when another worker's folder is there first: that one stays
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return arrays, classes


@functools.cache
def second_lid() -> SecondLid:
    """py3langid's bundled model (in the wheel: no download), loaded once per process."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    arrays, classes = _lid_arrays(MODEL_DIR / MODEL_FILE)
    columns: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        columns.setdefault(c, []).append(i)
    return SecondLid(labels=tuple(columns), columns=columns, **arrays)


# ---------------------------------------------------------------------------------------------------------
# Per batch: the signals

SECOND_WEIGHT = 0.6   # the second model's share of the doubt score when both checks apply
SMOOTH = 0.05         # coverage added to both sides of the word-list ratio: short texts decide nothing


def label_checks(texts: list[str], langs: list[str | None], mismatch: list[bool],
                 user_lists: tuple[tuple[str, str], ...] = ()) -> dict[str, list]:
    """The label-check signals of each text under its label `langs[i]` (null everywhere when the label is).

    - word list: r = (own + s) / (max(own, best other list) + s), s = SMOOTH; doubt 1 - r (another
      language's list covers the text better than the label's own: Danish labeled `nb`, Zulu labeled `sw`).
    - second model: doubt 1 - P(label), the second model's probability of the label (and its spellings).
    - lang_doubt_score: 1 on a script mismatch, else the weighted mean of the checks that apply
      (SECOND_WEIGHT for the model), 0 when none does (no list, unknown to the second model).
    """
    n = len(texts)
    out: dict[str, list] = {k: [None] * n for k in ("lang_wordlist_score", "lang_second", "lang_agree",
                                                     "lang_doubt_score", "lang_doubt")}
    idx = [i for i in range(n) if langs[i] is not None]
    if not idx:
        return out
    lists, lid = word_lists(user_lists), second_lid()
    sub = [texts[i] for i in idx]
    cov, ntok = list_coverage(sub, lists)
    probs = lid.probabilities(sub)
    top = probs.argmax(axis=1)
    label_cols = {lab: j for j, lab in enumerate(lid.labels)}
    for r, i in enumerate(idx):
        lang = langs[i]
        parts: list[tuple[float, float]] = []
        c = lists.column(lang)
        if c is not None and ntok[r]:
            own = float(cov[r, c])
            other = float(np.max(cov[r, lists.others(lang)], initial=0.0))
            out["lang_wordlist_score"][i] = own
            parts.append((1.0 - (own + SMOOTH) / (max(own, other) + SMOOTH), 1.0 - SECOND_WEIGHT))
        same = [label_cols[x] for x in _SAME.get(lang, set()) | {lang} if x in label_cols]
        second = lid.labels[top[r]]
        out["lang_second"][i] = second
        if same:
            out["lang_agree"][i] = int(top[r]) in same
            parts.append((1.0 - min(float(probs[r, same].sum()), 1.0), SECOND_WEIGHT))
        if mismatch[i]:
            score = 1.0
        elif parts:
            score = sum(d * w for d, w in parts) / sum(w for _, w in parts)
        else:
            score = 0.0
        score = round(min(max(score, 0.0), 1.0), 6)   # the flag follows the stored score exactly
        out["lang_doubt_score"][i] = score
        out["lang_doubt"][i] = score >= DOUBT_AT
    return out


# measured by bench/bench_lang_doubt.py on lingua's sentences (75 languages): the share of right labels
# flagged (0.001 on 5-sentence documents, 0.015 on single sentences) and of wrong labels flagged (0.91 pooled
# over random, plausible and unknown-language mislabels, on both)
FALSE_FLAG_RATE = 0.01
RECALL = 0.91


def label_precision(doubt_rate: float) -> float:
    """Estimated share of right labels among documents whose `lang_doubt` rate is `doubt_rate`.

    The flag is an imperfect test: rate = RECALL * wrong + FALSE_FLAG_RATE * (1 - wrong), so
    wrong = (rate - FALSE_FLAG_RATE) / (RECALL - FALSE_FLAG_RATE) (Rogan & Gladen 1978), clipped to [0, 1].
    Languages whose right labels get flagged more (ur, ca, yo on short text) read lower than they are."""
    wrong = (doubt_rate - FALSE_FLAG_RATE) / (RECALL - FALSE_FLAG_RATE)
    return round(1.0 - min(max(wrong, 0.0), 1.0), 6)
