"""`lang_doubt` and its parts (filters/lang_checks.py), and the language filter's use of them; no JVM.

Figures on deliberately mislabeled real text (lingua's sentences): bench/bench_lang_doubt.py prints them on
every language; here a subset keeps the test fast."""
from __future__ import annotations

import pyarrow as pa
import pytest

from filters.lang_checks import label_checks, label_precision, second_lid, word_lists
from filters.language import Language
from tests.conftest import shared_data
from tests.label_sets import documents, label_sets, rates

# 20 languages: big and small, five scripts, the confusable pairs (da/nb, es/pt, cs/sk, hr/bs, ru/uk/bg), and
# four languages lid.176 does not know (lg sn xh zu)
LANGS = {"en", "de", "fr", "es", "pt", "da", "nb", "cs", "sk", "hr", "bs", "ru", "uk", "bg", "ar", "hi", "ja",
         "zh", "fi", "tr", "lg", "sn", "xh", "zu"}


def sentences(lang: str) -> list[str]:
    path = shared_data("langid", "sentences", f"{lang}.txt")
    return [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]


def test_flags_wrong_labels_and_spares_right_ones():
    docs, truth = documents(5, 12, shared_data(), LANGS)
    r = rates(docs, label_sets(docs, truth))
    assert r["correct"]["flagged"] <= 0.03, r["correct"]          # measured 0.000 here, 0.001 on all 67
    assert r["random_wrong"]["flagged"] >= 0.95                    # 0.99
    assert r["unknown_lang"]["flagged"] >= 0.80                    # 0.94
    wrong = [r[k] for k in ("random_wrong", "second_choice", "unknown_lang")]
    pooled = sum(w["flagged"] * w["docs"] for w in wrong) / sum(w["docs"] for w in wrong)
    assert pooled >= 0.80, pooled


def test_second_model_batch_equals_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    texts = [s for lang in ("en", "de", "ja", "ar", "sw", "zu") for s in sentences(lang)[:15]]
    texts += ["", "1234 5678", "HELLO THERE FRIENDS", " ".join(sentences("fr")[:8])]
    ref = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    lid = second_lid()
    probs = lid.probabilities(texts)
    for text, p in zip(texts, probs):
        lab, conf = ref.classify(text.encode()[:600].decode("utf-8", "ignore"))
        assert lid.labels[int(p.argmax())] == lab and p.max() == pytest.approx(conf, abs=1e-4), text[:40]


def test_signals_per_document():
    en, sr_cyrl = " ".join(sentences("en")[:5]), " ".join(sentences("sr")[:5])
    texts = [en, en, en, sr_cyrl, "", en]
    out = label_checks(texts, ["en", "de", "war", "sr", None, "ar"], [False, False, False, False, False, True])
    assert out["lang_doubt"] == [False, True, False, False, None, True]
    assert out["lang_second"][:4] == ["en", "en", "en", "sr"] and out["lang_second"][4] is None
    # war (Waray): no word list, unknown to the second model: nothing to doubt with, so no doubt
    assert out["lang_agree"][:3] == [True, False, None] and out["lang_wordlist_score"][2] is None
    assert out["lang_wordlist_score"][0] > 0.5 and out["lang_wordlist_score"][1] < out["lang_wordlist_score"][0] - 0.3
    # Serbian in Cyrillic checks against the Serbo-Croatian list transliterated
    assert out["lang_wordlist_score"][3] > 0.3
    assert out["lang_doubt_score"][5] == 1.0 and out["lang_doubt_score"][0] < 0.05 < 0.7 < out["lang_doubt_score"][1]


def test_user_word_list_replaces_the_packaged_one(tmp_path):
    listed = tmp_path / "en.txt"
    listed.write_text("# a tiny list\nzzz\n")
    en = [" ".join(sentences("en")[:5])]
    assert label_checks(en, ["en"], [False])["lang_wordlist_score"][0] > 0.5
    assert label_checks(en, ["en"], [False], (("en", str(listed)),))["lang_wordlist_score"][0] == 0.0
    assert word_lists((("en", str(listed)),)).source["en"] == "user"


def test_filter_decides_doubt_and_auto_threshold():
    de, en = " ".join(sentences("de")[:5]), " ".join(sentences("en")[:5])
    f = Language(drop_doubt=True)
    t = pa.table({"text": [de, en]})
    sig = f.score(t)
    table = pa.table({**{"text": t.column("text")}, **sig})
    assert f.decide(table).to_pylist() == [None, None]
    table = table.set_column(table.schema.get_field_index("lang_doubt"), "lang_doubt", pa.array([True, False]))
    assert f.decide(table).to_pylist() == ["language:doubt", None]
    assert Language().decide(table).to_pylist() == [None, None]
    auto = Language(min_score="auto", min_score_per_lang={"en": 0.99})
    with pytest.raises(ValueError, match="with_threshold"):
        auto.decide(table)
    decided = auto.with_threshold({"de": 0.5, "en": 0.2})
    assert decided.min_score == 0.3 and decided.min_score_per_lang == {"de": 0.5, "en": 0.99}
    assert decided.decide(table).to_pylist() == [None, "language:low_score"]
    assert auto.group_threshold(0.95, 0.02) == pytest.approx(0.9) and auto.group_threshold(0.5, 0.3) == 0.3
    assert auto.group_threshold(0.8, 0.1) == pytest.approx(0.7)


def test_label_precision_corrects_for_the_flag_error_rates():
    assert label_precision(0.0) == 1.0 and label_precision(0.01) == 1.0
    assert label_precision(0.91) == 0.0 and label_precision(1.0) == 0.0
    assert label_precision(0.10) == pytest.approx(1 - 0.09 / 0.90)
