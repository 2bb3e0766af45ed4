"""The audit report's first screen, from an output with the language-label checks, synthetic diversity, stage
reuse and a spec (written with pyarrow: no JVM), and from an older output without them: every fact it shows
against an independent query or the fixture's own numbers, the HTML's layout (first screen, folded
reference), escaping, thresholds drawn on histograms, and `--compare` inside the report.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import engine.audit as audit
from tests.audit_outputs import _listing, _synthetic

SPEC = """\
name: report
seed: 5
sources:
  - name: web
    kind: jsonl
    paths: [web.jsonl]
    filters:
      - {kind: language, keep: [en, fr, de], min_score: 0.7}
      - {kind: gopher_quality, min_doc_words: 40}
  - name: code
    kind: code
    paths: [code]
    filters:
      - {kind: code_quality}
  - name: synth
    kind: synthetic
    paths: [synth.jsonl]
"""
EVIL = "<script>alert(1)</script> see http://evil.example/x"


def _doc(i: int, source: str, lang, **kw) -> dict:
    d = {"id": f"{source}{i:02d}", "text": f"{source} document {i} " + "words " * 5, "source": source,
         "kind": {"code": "code", "synth": "synthetic"}.get(source, "web"), "lang": lang,
         "lang_score": 0.9 if lang else None, "n_tokens": 100, "epoch": 0, "meta": "{}",
         "lang_doubt": False if lang else None, "lang_doubt_score": 0.1 if lang else None,
         "lang_second": lang, "lang_agree": True if lang else None, "lang_wordlist_score": 0.5 if lang else None,
         "script": "Latn" if lang else None, "lang_script_mismatch": False if lang else None,
         "gopher_n_words": 30 + i * 10 if source == "web" else None, "code_lang": None,
         "dup_cluster": None, "dup_cluster_size": None}
    d.update(kw)
    return d


def _docs() -> list[dict]:
    docs = [_doc(i, "web", "en") for i in range(6)]
    docs[0].update(dup_cluster="web00", dup_cluster_size=3)     # survivor of a cluster of 3, in the output
    docs += [_doc(6 + i, "web", "fr") for i in range(4)]
    for d in docs[6:8]:   # English text labelled fr: both checks doubt it
        d.update(text="This is plainly English text " + d["id"], lang_doubt=True, lang_doubt_score=0.9,
                 lang_second="en", lang_agree=False, lang_wordlist_score=0.02)
    docs += [_doc(10 + i, "web", "de") for i in range(2)]
    docs += [_doc(i, "code", None, code_lang="python", meta=json.dumps({"code_lang": "Python"})) for i in range(3)]
    docs.append(_doc(3, "code", None, code_lang="rust"))
    docs.append(_doc(4, "code", None, meta=json.dumps({"code_lang": "Go"})))   # no signal: the reader's meta
    docs += [_doc(i, "synth", "en", meta=json.dumps({"generator": "gen-a" if i < 2 else "gen-b"}), n_tokens=50)
             for i in range(3)]
    docs.append({**docs[6], "epoch": 1})   # an upsampled fr copy
    return docs


def _rejects() -> list[dict]:
    def r(id_, source, reason, lang=None, text="dropped text", **kw):
        return {"id": id_, "text": text, "source": source, "kind": "web", "lang": lang, "reason": reason,
                "reasons": [reason], "code_lang": None, "dup_cluster": None, "dup_cluster_size": None, **kw}
    out = [r(f"s{i}", "web", "gopher_quality:short_doc", "de" if i < 2 else "en") for i in range(3)]
    out += [r(f"z{i}", "web", "language:not_kept", "zh", text=EVIL if i == 0 else "中文文本") for i in range(2)]
    out.append(r("l0", "web", "language:low_score", "fr"))
    out.append(r("c0", "code", "code_quality:max_line_length", code_lang="python"))
    out += [r(f"web00-copy{i}", "web", "duplicate:web00", "en", dup_cluster="web00", dup_cluster_size=3) for i in (1, 2)]
    out.append(r("gone-copy", "code", "duplicate:gone", code_lang="rust", dup_cluster="gone", dup_cluster_size=2))
    out.append({**r("bad", "web", "read:bad_json", text=None), "reasons": None})
    return out


def report_output(path: Path) -> Path:
    """An output as a run with the issue-18 signals writes it: `lang_doubt` and its parts, code documents
    without `lang`, synthetic generators, a cluster whose survivor the mix left out, and a manifest with
    `languages`, `synthetic_diversity`, `stages`, the mix's caps and the spec's text."""
    docs, rejects = _docs(), _rejects()
    (path / "rejects").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(docs), path / "shard-00000.parquet")
    pq.write_table(pa.Table.from_pylist(rejects), path / "rejects" / "rejects-00000.parquet")
    sources = {}
    for s in ("web", "code", "synth"):
        dropped: dict[str, int] = {}
        for x in rejects:
            if x["source"] == s:
                k = "duplicate" if x["reason"].startswith("duplicate:") else x["reason"]
                dropped[k] = dropped.get(k, 0) + 1
        kept = [d for d in docs if d["source"] == s and d["epoch"] == 0]
        written = [d for d in docs if d["source"] == s]
        sources[s] = {"kind": s, "docs_read": len(kept) + sum(dropped.values()), "docs_dropped": dropped,
                      "docs_kept": len(kept), "docs_written": len(written),
                      "tokens_written": sum(d["n_tokens"] for d in written), "epochs_used": 1}

    def tokens(src, lang=None):
        return sum(d["n_tokens"] for d in docs if d["source"] == src and (lang is None or d["lang"] == lang))
    leaves = [{"source": "web", "group": "en", "available_tokens": 900, "requested_tokens": tokens("web", "en"),
               "realized_tokens": tokens("web", "en"), "realized_docs": 6, "epochs": 0.7, "max_epochs": 2.0},
              {"source": "web", "group": "fr", "available_tokens": 400, "requested_tokens": 2000,
               "realized_tokens": tokens("web", "fr"), "realized_docs": 5, "epochs": 1.25, "max_epochs": 2.0},
              {"source": "web", "group": "de", "available_tokens": 200, "requested_tokens": 200,
               "realized_tokens": tokens("web", "de"), "realized_docs": 2, "epochs": 1.0, "max_epochs": 2.0},
              {"source": "code", "group": None, "available_tokens": 5000, "requested_tokens": 520,
               "realized_tokens": tokens("code"), "realized_docs": 5, "epochs": 0.1, "max_epochs": 1.0},
              {"source": "synth", "group": None, "available_tokens": 5000, "requested_tokens": 150,
               "realized_tokens": tokens("synth"), "realized_docs": 3, "epochs": 0.03, "max_epochs": 1.0}]
    total = sum(d["n_tokens"] for d in docs)
    manifest = {
        "name": "report", "seed": 5, "tokenizer": "cl100k_base", "spec_sha256": "1" * 64, "target_tokens": 3000,
        "seconds": 12.5, "master": "local[2]", "versions": {"tamis": "0.1.0", "pyspark": "4.3.0"},
        "stages": {"score": {"reused": False, "sources": {"web": {"files_reused": 2, "files_computed": 1},
                                                          "code": {"files_reused": 1, "files_computed": 0},
                                                          "synth": {"files_reused": 0, "files_computed": 1}}},
                   "dedup": {"reused": True}, "decide": {"reused": False}},
        "sources": sources, "leaves": leaves,
        "mix": {"mode": "budget", "target_tokens": 3000, "cut": "nearest", "requested_tokens": 3000,
                "realized_tokens": total, "synthetic_max_share": 0.1, "synthetic_capped": True,
                "synthetic_share_requested": 0.05, "synthetic_share_realized": 150 / total,
                "notes": ["limits.synthetic_max_share 0.1: synthetic tokens cut from 400 to 150"]},
        # as engine/spark/diversity.py writes them
        "languages": [_lang("web", "fr", 4, 0.5, 0.55), _lang("web", "en", 6, 0.0, 0.98),
                      _lang("synth", "en", 3, 0.0, 0.9)],
        "synthetic_diversity": {
            "generators": [{"source": "synth", "generator": "gen-a", "lang": None, "docs": 2, **_div(6.0, 0.2, 0.1, 0.4),
                            "less_diverse_than_human": {"distinct_4": True}},
                           {"source": "synth", "generator": "gen-b", "lang": None, "docs": 1, **_div(2.0, 0.9, 0.8, 0.01)}],
            "human": {"sources": ["web"], "docs": 12, **_div(2.5, 0.85, 0.7, 0.02)},
            "human_sources": [{"source": "web", "docs": 12, **_div(2.5, 0.85, 0.7, 0.02)}]},
        "datasheet": {"spec": {"path": "report.yaml", "text": SPEC}},
        "shards": _listing(path, "shard-*.parquet"), "rejects": _listing(path / "rejects", "*.parquet"),
        "totals": {"docs_written": len(docs), "rejects": len(rejects)}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "_SUCCESS").write_text("")
    return path


def _lang(source: str, lang: str, docs: int, doubt: float, precision: float) -> dict:
    return {"source": source, "lang": lang, "docs_read": docs + 1, "tokens_read": 100 * docs + 100, "docs_kept": docs,
            "tokens_kept": 100 * docs, "doubt_rate_read": doubt, "doubt_rate": doubt, "label_precision": precision,
            "lang_score_median": 0.9, "lang_score_std": 0.05, "auto_threshold": 0.85}


def _div(compression: float, distinct_4: float, vendi_share: float, self_repetition: float) -> dict:
    return {"near_dup_rate": 0.0, "sample_docs": 3, "passages": 3, "compression_ratio": compression,
            "distinct_1": 0.5, "distinct_2": 0.6, "distinct_3": 0.7, "distinct_4": distinct_4,
            "self_repetition": self_repetition, "vendi": vendi_share * 3, "vendi_share": vendi_share}


@pytest.fixture(scope="module")
def report_out(tmp_path_factory) -> Path:
    return report_output(tmp_path_factory.mktemp("report") / "out")


def _raw(out: Path):
    con = duckdb.connect()
    return con, f"read_parquet('{out}/*.parquet', union_by_name=true)", f"'{out}/rejects/*.parquet'"


# ---------------------------------------------------------------- facts


def test_spec_run_and_dedup_facts(report_out):
    res = audit.collect(audit.open_output(report_out), sample=3, seed=5)
    sc = res["spec_check"]
    status = {l["leaf"]: (l["status"], l["why"]) for l in sc["leaves"]}
    assert {k: v[0] for k, v in status.items()} == {"web/en": "ok", "web/fr": "short", "web/de": "ok", "code": "ok",
                                                    "synth": "ok"}
    assert status["web/fr"][1] == "supply: 400 × 2 epochs"   # 400 available x max_epochs 2 < 2,000 requested
    assert sc["off_target"] == 1 and sc["synthetic"]["capped"] and sc["notes"][0].startswith("limits.synthetic")
    # stage reuse summed over sources
    stages = {s["stage"]: s for s in res["run"]["stages"]}
    assert stages["score"]["detail"] == "3 of 5 files reused" and stages["dedup"]["reused"] is True
    # the cluster whose survivor the mix left out is not "0 kept": 1 removed, survivor not in the output
    by = {c["cluster"]: c for c in res["dup_largest"]}
    assert (by["gone"]["size"], by["gone"]["removed"], by["gone"]["survivor_in_output"]) == (2, 1, False)
    assert "sampled out" in by["gone"]["sample"][0]["status"]
    assert (by["web00"]["size"], by["web00"]["removed"], by["web00"]["survivor_in_output"]) == (3, 2, True)
    assert by["web00"]["sample"][0]["id"] == "web00"


def test_drop_examples_and_drops_per_language(report_out):
    res = audit.collect(audit.open_output(report_out), seed=5, examples=2)
    con, _, rej = _raw(report_out)
    groups = con.execute(f"""select source, case when reason like 'duplicate:%' then 'duplicate' else reason end r,
                            list(id order by md5('5:' || id), id) from {rej} group by 1, 2""").fetchall()
    assert {(s, r) for s, r, _ in groups} == set(res["drop_examples"])
    for s, r, ids in groups:
        assert [e["id"] for e in res["drop_examples"][(s, r)]] == ids[:2]
    exp = dict(con.execute(f"""select coalesce(lang, 'code:' || code_lang, '(none)'), count(*) from {rej}
                              group by 1""").fetchall())
    assert {e["lang"]: e["docs"] for e in res["drops_by_lang"]} == exp
    assert exp["code:rust"] == 1 and exp["(none)"] == 1


def test_language_table(report_out):
    res = audit.collect(audit.open_output(report_out), sample=3, seed=5)
    con, docs, _ = _raw(report_out)
    exp = {l: (n, t, r) for l, n, t, r in con.execute(f"""
        select coalesce(lang, 'code:' || lower(code_lang), 'code:' || lower(json_extract_string(meta, '$.code_lang'))),
               count(*), sum(n_tokens), avg(lang_doubt::double) from {docs} where epoch = 0 group by 1""").fetchall()}
    got = {r["lang"]: r for r in res["lang_overview"]}
    assert {k: (r["docs"], r["tokens"], r["doubt_rate"]) for k, r in got.items()} == exp
    assert set(got) == {"en", "fr", "de", "code:python", "code:rust", "code:go"}   # never "(none)" for code
    assert got["fr"]["doubt_rate"] == 0.5
    # estimated precision: the manifest's, weighted by documents over the sources with the label
    assert got["en"]["precision"] == pytest.approx((6 * 0.98 + 3 * 0.9) / 9) and got["fr"]["precision"] == 0.55
    assert got["de"]["precision"] is None and got["code:python"]["doubt_rate"] is None
    # samples: the doubted fr documents first
    fr = [s for s in res["lang_samples"] if s["lang"] == "fr"]
    assert [s["doubt"] for s in fr] == [True, True, False] and fr[0]["second"] == "en"
    tokens = {r["lang"]: r["tokens"] for r in res["by_lang"]}   # tokens per label count upsampled copies
    assert tokens["fr"] == 500 and tokens["code:go"] == 100
    assert not {"lang_precision", "lang_lang_doubt", "diversity", "thresholds"} & set(res["missing"])


def test_synthetic_and_thresholds(report_out):
    res = audit.collect(audit.open_output(report_out))
    syn = {r["name"]: r for r in res["synthetic"]["rows"]}
    total = 1300 + 500 + 150   # every row's tokens: web (an upsampled copy included), code, synth
    assert syn["synth / gen-a"]["share"] == pytest.approx(100 / total) and syn["synth / gen-b"]["tokens"] == 50
    assert syn["human-written"]["metrics"]["distinct_4"] == 0.85 and syn["human-written"]["baseline"]
    assert [h["name"] for h in res["synthetic"]["human_sources"]] == ["human-written (web)"]
    assert res["synthetic"]["metrics"][:2] == ["compression_ratio", "distinct_1"]
    worse = res["synthetic"]["worse"]
    assert all(worse.get(("synth / gen-a", m)) for m in ("compression_ratio", "distinct_4", "vendi_share", "self_repetition"))
    assert not any(k[0] == "synth / gen-b" for k in worse)
    th = res["thresholds"]
    assert [(t["param"], t["value"], t["sources"]) for t in th["gopher_n_words"]] == [
        ("min_doc_words", 40.0, ["web"]), ("max_doc_words", 100000.0, ["web"])]   # the spec's, then a default
    assert th["lang_score"][0]["value"] == 0.7 and th["code_max_line_len"][0]["sources"] == ["code"]
    assert res["histograms"]["gopher_n_words"]["thresholds"] == th["gopher_n_words"]


def test_manifest_layouts_read_alike():
    from engine.audit.languages import normalize_languages
    from engine.audit.synthetic import normalize_diversity

    as_list = [{"source": "web", "lang": "fr", "docs": 4, "doubt_rate": 0.5, "precision": 0.55}]
    as_dict = {"web": {"fr": {"docs": 4, "lang_doubt_rate": 0.5, "estimated_precision": 0.55}}}
    assert normalize_languages(as_list) == normalize_languages(as_dict) == [
        {"source": "web", "lang": "fr", "docs": 4, "tokens": None, "doubt_rate": 0.5, "precision": 0.55,
         "docs_read": None, "doubt_rate_read": None, "auto_threshold": None}]
    run = normalize_languages([_lang("web", "fr", 4, 0.5, 0.55)])[0]   # the run's own keys
    assert (run["docs"], run["tokens"], run["precision"], run["auto_threshold"]) == (4, 400, 0.55, 0.85)
    m = {"distinct": [0.9, 0.5, 0.3, 0.2], "vendi_share": 0.1}
    shapes = [{"synth": {"gen-a": m}, "human": {"distinct_n": [1, 1, 1, 1], "vendi_share": 0.7}},
              [{"source": "synth", "generator": "gen-a", **m},
               {"role": "human", "distinct": [1, 1, 1, 1], "vendi_share": 0.7}],
              {"generators": [{"source": "synth", "generator": "gen-a", "metrics": m}],
               "baseline": {"metrics": {"distinct": [1, 1, 1, 1], "vendi_share": 0.7}}}]
    seen = [[(r["name"], r["baseline"], r["metrics"]) for r in normalize_diversity(s)] for s in shapes]
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][0] == ("synth / gen-a", False, {"distinct_1": 0.9, "distinct_2": 0.5, "distinct_3": 0.3,
                                                   "distinct_4": 0.2, "vendi_share": 0.1})
    assert seen[0][1][:2] == ("human-written", True)
    assert normalize_languages(None) is None and normalize_diversity({}) is None


def test_leaf_status():
    ok = {"requested_tokens": 1000, "realized_tokens": 1150, "realized_docs": 5}   # within one document (230)
    assert audit.leaf_status(ok) == ("ok", "")
    assert audit.leaf_status({**ok, "realized_tokens": 1500}) == ("over", "500 tokens over")
    assert audit.leaf_status({**ok, "realized_tokens": 500, "available_tokens": 10_000, "max_epochs": 1}) == (
        "short", "500 tokens short")
    assert audit.leaf_status({"requested_tokens": None, "realized_tokens": 5}) == ("n/a", "nothing requested")


# ---------------------------------------------------------------- the HTML


def _block(page: str, id_: str) -> str:
    """The HTML of `<section id=id_>` up to its closing tag."""
    start = page.index(f'<section id="{id_}">')
    return page[start:page.index("</section>", start)]


def test_report_first_screen_and_folded_reference(report_out, tmp_path):
    from engine.cli import main

    html = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["audit", str(report_out), "--html", str(html)], terminal_width=200)
    assert r.exit_code == 0, r.output
    page = html.read_text()
    ref = page.index('id="reference"')
    for id_ in ("spec", "drops", "languages", "synthetic", "dedup", "run"):
        assert page.index(f'id="{id_}"') < ref, id_
    # everything after the first screen is folded
    folds = re.findall(r"<details([^>]*)>", page[ref:])
    assert len(folds) == 10 and all('id="ref-' in f and "open" not in f for f in folds)
    assert page.count("data:image/png;base64,") == page[ref:].count("data:image/png;base64,") >= 5
    drops = _block(page, "drops")
    assert "gopher_quality:short_doc" in drops and "dropped text" in drops
    # document text is escaped and holds no URL
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "://" not in page
    spec = _block(page, "spec")
    assert "1 of 5 leaves off target" in spec and "supply: 400 × 2 epochs" in spec and "capped" in spec
    langs = _block(page, "languages")
    assert "code:python" in langs and "est. precision" in langs and "55.0%" in langs
    assert "doubt 0.90, 2nd LID en" in langs
    assert "survivor not in the output" in _block(page, "dedup")
    assert "human-written" in _block(page, "synthetic")
    assert "3 of 5 files reused" in page and "run 12.5 s on local[2]" in page


def test_older_output_still_reports(tmp_path):
    """No lang_doubt, no manifest languages / diversity / stages / spec: the report says so, one line each."""
    out = _synthetic(tmp_path / "old")
    res = audit.collect(audit.open_output(out))
    assert {"lang_precision", "lang_lang_doubt", "diversity", "thresholds"} <= set(res["missing"])
    assert res["synthetic"] is None and res["run"]["stages"] == [] and res["thresholds"] == {}
    from engine.audit.html import render_html

    page = render_html(res, str(out))
    langs = _block(page, "languages")
    assert "script mismatch" in langs and "est. precision" not in langs
    assert "no `lang_doubt` column" in langs and "run time not recorded" in page


def test_compare_renders_inside_the_report(report_out, tmp_path):
    from engine.cli import main

    a = _synthetic(tmp_path / "a", "a")
    html = tmp_path / "cmp.html"
    r = CliRunner().invoke(main, ["audit", "--compare", str(a), str(report_out), "--html", str(html)],
                           terminal_width=200)
    assert r.exit_code == 0, r.output
    page = html.read_text()
    assert page.index('id="spec"') < page.index('id="compare"') < page.index('id="reference"')
    cmp = _block(page, "compare")
    assert "Changes since" in cmp and ">Drop rate per reason</h3>" in cmp and cmp.count("data:image/png") == 3
    assert "code:python" in cmp   # languages of B, code labelled


def test_histogram_draws_thresholds():
    import base64
    import io

    import matplotlib.image as mpimg
    import numpy as np

    from engine.audit.charts import plot_histogram

    h = {"signal": "gopher_n_words", "lo": 0.0, "hi": 100.0, "bins": 10, "kept": {"web": [3] * 10},
         "rejected": [0] * 10}

    def red(thresholds) -> int:
        img = mpimg.imread(io.BytesIO(base64.b64decode(plot_histogram({**h, "thresholds": thresholds}))))[..., :3]
        return int(np.all(np.abs(img * 255 - np.array([0xCC, 0x22, 0x22])) <= 40, axis=-1).sum())

    inside = [{"value": 40.0, "param": "min_doc_words", "mode": "drop"}]
    outside = [{"value": 1e5, "param": "max_doc_words", "mode": "drop"}]
    assert red([]) == 0 and red(inside) > 100 and red(outside) > 20   # a line, or its label at the edge
