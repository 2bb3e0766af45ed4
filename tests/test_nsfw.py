"""NSFW filter: UT1 adult domains (datatrove's copy), banned URL words, per-language word ratios (LDNOOBW)."""
from __future__ import annotations

import glob
import gzip
import html
import json
import re
import tarfile
import xml.etree.ElementTree as ET

import pyarrow as pa
import pytest

from engine.schema import read_batch
from filters.chain import apply_chain
from filters.nsfw import Nsfw, WordList, datatrove_assets, load_wordlist
from tests.conftest import shared_data


def ldnoobw(lang: str) -> str:
    return str(shared_data("blocklists", "ldnoobw", lang))


def sentences(lang: str) -> list[str]:
    path = shared_data("langid", "sentences", f"{lang}.txt")
    return [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]


def ut1_sample(n: int = 2000) -> list[str]:
    """The first lines of the UT1 adult `domains` list as shipped in datatrove's package."""
    with tarfile.open(datatrove_assets() / "url_filterblacklistsv0_3_0.tar.gz", "r:gz") as tar:
        head = tar.extractfile("domains").read(64 * 1024).decode()
    return [d for d in head.split("\n")[:n] if d]


def docs(texts, urls=None, langs=None) -> pa.Table:
    """Documents in the reader schema (so the chain's `reason` column exists)."""
    n = len(texts)
    urls, langs = urls or [None] * n, langs or [None] * n
    return pa.Table.from_batches([read_batch([{"id": str(i), "text": t, "url": u, "lang": lg}
                                              for i, (t, u, lg) in enumerate(zip(texts, urls, langs))])])


def test_ut1_adult_domain_dropped_with_reason_nsfw_url():
    listed = ut1_sample()
    assert "0-1avsex.com" in listed  # a real entry of the list
    picked = listed[1000]
    urls = ["http://0-1avsex.com/", f"https://www.{picked}/some/page?x=1", f"https://cdn.images.{picked}/a.jpg",
            "https://en.wikipedia.org/wiki/Cat", "http://www.bbc.co.uk/news/uk-england-sussex-123", None]
    texts = ["Plain words about the weather today."] * len(urls)
    out = apply_chain([Nsfw()], docs(texts, urls))
    assert out.column("nsfw_url_category").to_pylist()[:3] == ["adult"] * 3
    assert out.column("reason").to_pylist() == ["nsfw_url", "nsfw_url", "nsfw_url", None, None, None]


def test_real_urls_of_clean_documents_pass():
    urls = []
    for p in glob.glob(str(shared_data("jsonl", "provided", "documents")) + "/*.gz"):
        urls += [json.loads(ln)["id"] for ln in gzip.open(p, "rt")]
    urls += list(json.loads(shared_data("html", "evaldata_cache_subset.json").read_text()))
    cats = Nsfw().url_categories(urls)
    assert len(urls) > 100 and sum(c is not None for c in cats) <= 1, [(u, c) for u, c in zip(urls, cats) if c]


def test_banned_url_words():
    f = Nsfw()
    urls = ["http://example.com/free-porn-videos", "http://example.com/hot-chick-blog",
            "http://example.com/sexy-nude-pics", "http://example.com/sussex-news/essex"]
    assert f.url_categories(urls) == ["banned_word", "banned_subword", "soft_banned_words", None]
    out = f.decide(pa.table(f.score(docs(["text"] * 4, urls))))
    assert out.to_pylist() == ["nsfw_url_words"] * 3 + [None]
    assert Nsfw(url_words=False).url_categories(urls) == [None] * 4


def test_extra_domains_and_lists(tmp_path):
    lst = tmp_path / "gambling.txt"
    lst.write_text("# comment\nwww.casino-example.org\n\nbet-example.net/\n")
    f = Nsfw(ut1_adult=False, url_words=False, domain_lists={"gambling": str(lst)}, extra_domains=["bad.example"])
    assert f.url_categories(["https://casino-example.org/x", "http://a.b.bet-example.net", "http://bad.example/",
                             "http://example.com"]) == ["gambling", "gambling", "custom", None]


def test_word_ratio_english_ldnoobw():
    en = sentences("en")
    wl = load_wordlist(ldnoobw("en"), "en")
    hits = [s for s in en if wl.ratio(s) > 0]
    clean = [s for s in en if wl.ratio(s) == 0]
    assert 3 <= len(hits) <= 20  # real sentences that contain LDNOOBW terms
    explicit = " ".join(hits)  # dense: > 1 % listed words
    normal = " ".join(clean[:40] + hits[:1])  # one hit in ~900 words
    f = Nsfw(wordlists={"en": ldnoobw("en")})
    out = apply_chain([f], docs([explicit, normal, " ".join(clean[:40])], langs=["en"] * 3))
    ratios = out.column("nsfw_word_ratio").to_pylist()
    assert ratios[0] > 0.01 and 0 < ratios[1] < 0.005 and ratios[2] == 0
    assert out.column("reason").to_pylist() == ["nsfw_words", None, None]
    # multi-word phrases of the list count all their words
    assert WordList(["blow job", "2 girls 1 cup"]).ratio("a blow job and 2 girls 1 cup") == pytest.approx(6 / 8)


def test_word_ratio_german_ldnoobw_by_lang_column():
    de = sentences("de")
    text = "Fick mich jetzt! " + " ".join(s for s in de if "nackt" in s.lower())[:400]
    assert "Fick mich jetzt!" in de  # real sentence
    f = Nsfw(wordlists={"de": ldnoobw("de"), "en": ldnoobw("en")})
    out = f.score(docs([text, text], langs=["de", "en"]))
    de_ratio, en_ratio = out["nsfw_word_ratio"].to_pylist()
    assert de_ratio > 0.01 and en_ratio == 0  # the German list applies only to German documents
    assert f.decide(pa.table(out)).to_pylist() == ["nsfw_words", None]


def test_word_ratio_japanese_substrings():
    ja = sentences("ja")
    wl = load_wordlist(ldnoobw("ja"), "ja")
    hits = [s for s in ja if wl.ratio(s) > 0]
    assert 1 <= len(hits) <= 20
    f = Nsfw(wordlists={"ja": ldnoobw("ja")}, max_word_ratio=0.02)
    out = f.score(docs(hits[:3] + ja[:3], langs=["ja"] * 6))
    r = out["nsfw_word_ratio"].to_pylist()
    assert all(x > 0 for x in r[:3]) and r[3:] == [0.0, 0.0, 0.0]


def test_few_real_clean_posts_dropped_by_default():
    texts = []
    for p in glob.glob(str(shared_data("stackexchange")) + "/*/Posts.xml"):
        for _, el in ET.iterparse(p):
            if el.tag == "row" and el.get("Body"):
                texts.append(html.unescape(re.sub(r"<[^>]+>", " ", el.get("Body"))))
            el.clear()
    reasons = Nsfw().decide(pa.table(Nsfw().score(docs(texts)))).to_pylist()
    dropped = sum(r is not None for r in reasons)
    assert len(texts) > 3000 and dropped / len(texts) <= 0.005, dropped


def test_decide_from_signal_columns_only():
    t = pa.table({"nsfw_url_category": ["adult", "banned_subword", None, None, "gambling"],
                  "nsfw_word_ratio": [0.0, 0.0, 0.05, 0.001, 0.2]})
    assert Nsfw().decide(t).to_pylist() == ["nsfw_url", "nsfw_url_words", "nsfw_words", None, "nsfw_url"]
    assert Nsfw(max_word_ratio=0.1).decide(t).to_pylist()[2] is None
