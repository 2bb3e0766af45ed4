"""Language ID accuracy, and docs/s per core of the language, nsfw and decontaminate filters vs datatrove.

    .venv/bin/python bench/bench_lang_nsfw_decontam.py               # both parts
    .venv/bin/python bench/bench_lang_nsfw_decontam.py accuracy      # LID accuracy table only
    .venv/bin/python bench/bench_lang_nsfw_decontam.py speed         # throughput only

Data: ../shared/data (or $TAMIS_SHARED_DATA). Accuracy: lingua's test sentences (75 languages x up to 1,000
sentences; label = file name; `no` counts as `nb`). Speed: the same real documents for both sides
(dolma's Common Crawl documents + Stack Exchange posts), each timed in this one process on one core;
figures are documents per CPU-second (process time, so other load on the machine does not count), model
and list loading excluded and reported apart.

datatrove's sides: `LanguageFilter` with the same lid.176.ftz injected (it would download lid.176.bin);
`URLFilter` with tldextract's bundled suffix list (its default fetches the list) - both need `fasteners`
and `pyahocorasick` installed; `NGramsDecontFilter` with an index written with datatrove's own
normalization and hashing (its indexer needs lighteval and the HF hub) and a whitespace word tokenizer
(its English tokenizer is NLTK's, which needs a download).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import html
import json
import os
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TAMIS_SHARED_DATA", ROOT.parent / "shared" / "data"))

from filters.decontaminate import Decontaminate  # noqa: E402
from filters.language import Language, default_lid_model_path, load_fasttext  # noqa: E402
from filters.nsfw import Nsfw, ut1_adult_hashes, url_word_lists  # noqa: E402

ALIASES = {"nb": {"no"}}


# ---------------------------------------------------------------------------------------------------------
def accuracy(folder: Path = SHARED / "langid" / "sentences") -> dict:
    f = Language()
    rows, total, correct = [], 0, 0
    supported = {lab.removeprefix("__label__") for lab in load_fasttext(default_lid_model_path()).get_labels()}
    sup_total = sup_correct = 0
    t0 = time.process_time()
    for path in sorted(folder.glob("*.txt")):
        lang = path.stem
        lines = [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]
        pred = f.score(pa.table({"text": lines}))["lang"].to_pylist()
        ok = [p == lang or p in ALIASES.get(lang, ()) for p in pred]
        wrong = Counter(p for p, good in zip(pred, ok) if not good).most_common(2)
        in_model = lang in supported or bool(ALIASES.get(lang, set()) & supported)
        rows.append((lang, len(lines), sum(ok) / len(lines), wrong, in_model))
        total += len(lines)
        correct += sum(ok)
        if in_model:
            sup_total += len(lines)
            sup_correct += sum(ok)
    dt = time.process_time() - t0
    print(f"\nLanguage ID accuracy, lid.176.ftz, {folder} ({total} sentences, {total / dt:,.0f} sentences/CPU-s)")
    print(f"{'lang':6} {'n':>5} {'acc':>6}  most frequent errors")
    for lang, n, acc, wrong, in_model in sorted(rows, key=lambda r: -r[2]):
        note = "" if in_model else "   (not a lid.176 label)"
        print(f"{lang:6} {n:5d} {acc:6.3f}  {', '.join(f'{p}:{c}' for p, c in wrong)}{note}")
    print(f"overall accuracy: {correct / total:.4f} ({len(rows)} languages)")
    print(f"overall on the {sum(r[4] for r in rows)} languages lid.176 knows: {sup_correct / sup_total:.4f}")
    return {"overall": correct / total, "supported": sup_correct / sup_total, "per_lang": {r[0]: r[2] for r in rows}}


# ---------------------------------------------------------------------------------------------------------
def real_docs() -> list[tuple[str, str]]:
    """(text, url) of real web documents: dolma's CC docs and Stack Exchange posts, with real URLs."""
    docs: dict[str, str] = {}
    for p in sorted(glob.glob(str(SHARED / "jsonl" / "**" / "*.json*"), recursive=True)):
        if any(s in p for s in ("/attributes/", "/expected/", "_dolma_test_configs")) or p.endswith(".zst"):
            continue
        with (gzip.open(p, "rt") if p.endswith(".gz") else open(p)) as fh:
            for line in fh:
                d = json.loads(line)
                if isinstance(d.get("text"), str) and d["text"].strip():
                    docs.setdefault(d["text"], d.get("id") or "")
    for p in sorted(glob.glob(str(SHARED / "stackexchange" / "*" / "Posts.xml"))):
        site = Path(p).parent.name
        for _, el in ET.iterparse(p):
            if el.tag == "row" and el.get("Body"):
                docs.setdefault(html.unescape(re.sub(r"<[^>]+>", " ", el.get("Body"))),
                                f"https://{site}/questions/{el.get('Id')}")
            el.clear()
    return list(docs.items())


def _rate(n: int, fn) -> float:
    t0 = time.process_time()
    fn()
    return n / (time.process_time() - t0)


def _load(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def speed(repeat: int = 3) -> None:
    docs = real_docs() * repeat
    texts = [t for t, _ in docs]
    urls = [u for _, u in docs]
    table = pa.table({"text": texts, "url": urls, "lang": pa.nulls(len(texts), pa.string())})
    words = sum(len(t.split()) for t in texts)
    print(f"\nThroughput on {len(docs)} real documents ({words / len(docs):.0f} words each on average), "
          f"docs per CPU-second, one core")
    print(f"{'filter':16} {'tamis':>10} {'datatrove':>10} {'ratio':>7}  loading (tamis / datatrove), notes")

    try:
        from datatrove.data import Document
    except Exception as e:  # pragma: no cover
        print(f"datatrove not importable: {e}")
        Document = None
    dt_docs = [Document(text=t, id=str(i), metadata={"url": u}) for i, (t, u) in enumerate(docs)] if Document else []

    def row(name, ours, theirs, load_ours, load_theirs, note=""):
        ratio = f"{ours / theirs:6.2f}x" if theirs else "    n/a"
        th = f"{theirs:10,.0f}" if theirs else f"{'n/a':>10}"
        lt = f"{load_theirs:.2f}s" if load_theirs is not None else "-"
        print(f"{name:16} {ours:10,.0f} {th} {ratio}  {load_ours:.2f}s / {lt}  {note}")

    # --- language
    lang = Language()
    load_ours = _load(lambda: lang.score(table.slice(0, 1)))
    ours = _rate(len(docs), lambda: lang.decide(pa.table({**{k: table[k] for k in table.column_names},
                                                           **lang.score(table)})))
    theirs = load_theirs = None
    note = "fastText lid.176.ftz both sides; tamis also computes the script and mismatch"
    try:
        from datatrove.pipeline.filters import LanguageFilter
        from fasttext.FastText import _FastText

        lf = LanguageFilter(language_threshold=0.65)
        load_theirs = _load(lambda: setattr(lf.model, "_model", _FastText(default_lid_model_path())))
        theirs = _rate(len(docs), lambda: [lf.filter(d) for d in dt_docs])
    except Exception as e:
        note = f"datatrove LanguageFilter unavailable: {type(e).__name__}: {e}"
    row("language", ours, theirs, load_ours, load_theirs, note)

    # --- nsfw (URL blocklist + URL words; tamis also computes the text word ratio)
    nsfw = Nsfw()
    load_ours = _load(lambda: (ut1_adult_hashes(), url_word_lists(), nsfw.score(table.slice(0, 1))))
    ours = _rate(len(docs), lambda: nsfw.decide(pa.table({**{k: table[k] for k in table.column_names},
                                                           **nsfw.score(table)})))
    ours_url = _rate(len(docs), lambda: nsfw.url_categories(urls))
    theirs = load_theirs = None
    note = (f"tamis URL part alone: {ours_url:,.0f}/s; tamis also scores the text word ratio; "
            f"tamis loads UT1 from its hash cache after the first run (first load 3-10 s)")
    try:
        import tldextract
        from datatrove.pipeline.filters import URLFilter

        uf = URLFilter()
        uf.tldextractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        load_theirs = _load(uf.download_data)
        theirs = _rate(len(docs), lambda: [uf.filter(d) for d in dt_docs])
    except Exception as e:
        note += f"; datatrove URLFilter unavailable: {type(e).__name__}: {e}"
    row("nsfw", ours, theirs, load_ours, load_theirs, note)

    # --- decontaminate
    bench = [str(SHARED / "benchmarks" / "gsm8k" / "test.jsonl"), str(SHARED / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz")]
    dec = Decontaminate(benchmarks=bench)
    load_ours = _load(dec.index)
    ours = _rate(len(docs), lambda: dec.decide(pa.table(dec.score(table))))
    theirs = load_theirs = None
    note = "13-grams, GSM8K test + HumanEval"
    try:
        theirs, load_theirs, dt_note = _datatrove_decont(bench, dt_docs)
        note += "; " + dt_note
    except Exception as e:
        note += f"; datatrove NGramsDecontFilter unavailable: {type(e).__name__}: {e}"
    row("decontaminate", ours, theirs, load_ours, load_theirs, note)


def _datatrove_decont(bench: list[str], dt_docs) -> tuple[float, float, str]:
    import numpy as np
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.text import ngrams, simplify_text
    from datatrove.utils.word_tokenizers import WordTokenizer

    from filters.decontaminate import read_records

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    cfg = NGramsDecontConfig(n_grams=13, find_query_ngrams=True)
    tok = Whitespace("en")
    raw_hash = create_hash_func(cfg.hash_config)
    try:
        raw_hash("probe")
        hash_func = raw_hash
        note = ""
    except TypeError:  # xxhash >= 3.5 refuses str: datatrove 0.10.1's n-gram filter fails as shipped
        def hash_func(s, _h=raw_hash):
            return _h(s.encode("utf-8"))
        note = "; its hash needed a str->bytes fix (xxhash refuses str, datatrove passes str)"
    folder = tempfile.mkdtemp(prefix="dt_decont_")

    def build():
        for path in bench:
            hashes = set()
            for rec in read_records(path):
                for v in rec.values():
                    if isinstance(v, str):
                        toks = tok.word_tokenize(simplify_text(v, cfg.norm_config))
                        hashes.update(hash_func(" ".join(g)) for g in ngrams(toks, cfg.n_grams))
            np.array(sorted(hashes), dtype=cfg.hash_config.np_descr).tofile(
                os.path.join(folder, Path(path).name.split(".")[0] + ".index.hashes"))
        flt = NGramsDecontFilter(index_folder=folder, config=cfg, language=tok)
        flt.hash_func = hash_func
        flt.load_index_hashes()
        return flt

    holder = {}
    load = _load(lambda: holder.setdefault("f", build()))
    rate = _rate(len(dt_docs), lambda: [holder["f"].filter(d) for d in dt_docs])
    return rate, load, "datatrove: its normalization and index, whitespace tokenizer (NLTK needs a download)" + note


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", nargs="?", choices=["accuracy", "speed", "all"], default="all")
    ap.add_argument("--repeat", type=int, default=3, help="copies of the real documents for the speed part")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"shared data not found: {SHARED}")
    if args.part in ("accuracy", "all"):
        accuracy()
    if args.part in ("speed", "all"):
        speed(args.repeat)
