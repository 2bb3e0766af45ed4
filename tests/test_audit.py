"""`tamis audit`: every number of engine.audit against an independent DuckDB query, the CLI's tables, the HTML
report, and `--compare`.

Two outputs: a real `tamis run` (two sources, language ID, quality, NSFW and decontamination filters, a
bad record; built once per session and shared with test_audit_browser / test_notebook through
`audit_run_output`), and a synthetic one written with pyarrow that has the signals the real run cannot
produce yet (dedup clusters, `duplicate:` rejects, requested tokens per leaf).
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import engine.audit as audit
# the outputs (tests/audit_outputs.py; test_notebook imports `_synthetic` from here)
from tests.audit_outputs import LANGS, _synthetic, build_real_output  # noqa: F401


@pytest.fixture(scope="session")
def audit_run_output(spark, tmp_path_factory) -> Path:
    """A real `tamis run` output, built once per session (other test modules import this fixture: the
    folder is fixed under the session's base temp, so a second instance finds it done)."""
    return build_real_output(tmp_path_factory.getbasetemp() / "audit-run")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return _synthetic(tmp_path_factory.mktemp("synth") / "out")


# ------------------------------------------------------------------------------------------ helpers


def q(con, sql):
    return con.execute(sql).fetchall()


def _check_common(out: Path):
    """Every number of `collect` against an independent query on the files (not on the audit's views)."""
    res = audit.collect(audit.open_output(out), sample=3, seed=5)
    raw = duckdb.connect()
    shards, rej = f"'{out}/*.parquet'", f"'{out}/rejects/*.parquet'"
    m = json.loads((out / "manifest.json").read_text())
    ep0 = "epoch = 0"
    # overview
    n, t = q(raw, f"select count(*), sum(n_tokens) from {shards}")[0]
    assert (res["overview"]["docs"], res["overview"]["tokens"]) == (n, t)
    assert res["overview"]["rejects"] == q(raw, f"select count(*) from {rej}")[0][0] == m["totals"].get("rejects", n_rej(out))
    # tokens and docs per source / kind / lang
    for col, key in (("source", "by_source"), ("kind", "by_kind"), ("lang", "by_lang")):
        exp = {r[0]: (r[1], r[2]) for r in q(raw, f"select coalesce({col}, '(none)'), count(*), sum(n_tokens) from {shards} group by 1")}
        assert {r[col]: (r["docs"], r["tokens"]) for r in res[key]} == exp
        assert abs(sum(r["token_share"] for r in res[key]) - 1) < 1e-9
    by_source = {r["source"]: r for r in res["by_source"]}
    for s, v in m["sources"].items():
        if v["docs_written"]:
            assert by_source[s]["tokens"] == v["tokens_written"] and by_source[s]["docs"] == v["docs_written"]
    # mix: leaves as in the manifest, realized = shard tokens
    for leaf, l in zip(res["mix"], m["leaves"]):
        assert leaf["realized_tokens"] == l["realized_tokens"] == leaf["shard_tokens"] == by_source.get(l["source"], {}).get("tokens", 0)
        assert leaf["requested_tokens"] == l["requested_tokens"]
    # drops per reason per source: rejects == manifest docs_dropped
    exp = {(s, r): c for s, v in m["sources"].items() for r, c in v["docs_dropped"].items()}
    got = {(d["source"], d["reason"]): d["docs"] for d in res["drops"]}
    assert got == exp and len(exp) > 0
    assert all(d["reject_docs"] == d["manifest_docs"] for d in res["drops"])
    for d in res["drops"]:
        assert d["rate"] == pytest.approx(d["docs"] / m["sources"][d["source"]]["docs_read"])
    exp = dict(q(raw, f"""select case when reason like 'duplicate:%' then 'duplicate' else reason end, count(*)
                         from {rej} group by 1"""))
    assert {r: sum(d["docs"] for d in res["drops"] if d["reason"] == r) for r in exp} == exp
    # overlap of reasons, computed here in Python from the reasons lists
    per_doc = []
    for reason, reasons in q(raw, f"select reason, reasons from {rej}"):
        s = {("duplicate" if x.startswith("duplicate:") else x) for x in (reasons or []) + [reason]}
        per_doc.append(s)
    counts = {}
    for s in per_doc:
        counts[len(s)] = counts.get(len(s), 0) + 1
    assert {r["n_reasons"]: r["docs"] for r in res["reason_counts"]} == counts
    pairs = {}
    for s in per_doc:
        for a in s:
            for b in s:
                if a < b:
                    pairs[(a, b)] = pairs.get((a, b), 0) + 1
    top = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [((p["reason_a"], p["reason_b"]), p["docs"]) for p in res["reason_pairs"]] == top
    for e in res["reason_exclusivity"]:
        assert e["failing"] == sum(1 for s in per_doc if e["reason"] in s)
        assert e["only"] == sum(1 for s in per_doc if s == {e["reason"]})
    # signal quantiles, each document once
    for r in res["quantiles"]:
        c = r["signal"]
        n, med, p95 = q(raw, f"""select count({c}), quantile_cont({c}, 0.5), quantile_cont({c}, 0.95) from {shards}
                                where {ep0} and source = '{r['source']}'""")[0]
        assert r["n"] == n and r["p50"] == pytest.approx(med) and r["p95"] == pytest.approx(p95)
    for c, h in res["histograms"].items():
        if h:
            assert sum(map(sum, h["kept"].values())) == q(raw, f"select count({c}) from {shards} where {ep0}")[0][0]
    # languages: docs, mismatch share, reproducible samples by md5(seed:id)
    if res["lang_overview"]:
        for r in res["lang_overview"]:
            exp = q(raw, f"""select count(*), avg(lang_script_mismatch::double) from {shards}
                            where {ep0} and coalesce(lang, '(none)') = '{r['lang']}'""")[0]
            assert (r["docs"], r["mismatch_share"]) == (exp[0], pytest.approx(exp[1]))
            doubt = "coalesce(lang_doubt, false) desc, " if "lang_doubt" in res["columns"] else ""
            ids = [x[0] for x in q(raw, f"""select id from {shards} where {ep0} and coalesce(lang, '(none)') = '{r['lang']}'
                                           order by {doubt}md5('5:' || id) limit 3""")]
            assert [s["id"] for s in res["lang_samples"] if s["lang"] == r["lang"]] == ids
    return res, raw


def n_rej(out: Path) -> int:
    return duckdb.sql(f"select count(*) from '{out}/rejects/*.parquet'").fetchall()[0][0]


# ------------------------------------------------------------------------------------------ synthetic tests (no JVM)


def test_mix_counts_shard_tokens_per_group_of_a_grouped_source(tmp_path):
    """A source with `group_by: lang` has one leaf per language: each leaf's shard tokens are that language's
    tokens in the shards, not the whole source's (the manifest names the column)."""
    out = _synthetic(tmp_path / "out")
    m = json.loads((out / "manifest.json").read_text())
    per_lang = {r[0]: r[1] for r in duckdb.sql(f"select coalesce(lang, '(null)'), sum(n_tokens) from "
                                               f"'{out}/*.parquet' where source = 'web' group by 1").fetchall()}
    assert len(per_lang) >= 3
    web = next(l for l in m["leaves"] if l["source"] == "web")
    m["leaves"] = [l for l in m["leaves"] if l["source"] != "web"] + [
        {**web, "group": g, "group_by": "lang", "realized_tokens": t} for g, t in sorted(per_lang.items())]
    (out / "manifest.json").write_text(json.dumps(m))
    con = audit.open_output(out)
    got = {(l["source"], l["group"]): l["shard_tokens"] for l in audit.queries.mix(con)}
    assert got == {("code", None): m["sources"]["code"]["tokens_written"],
                   **{("web", g): t for g, t in per_lang.items()}}


def test_synthetic_numbers(synth):
    res, raw = _check_common(synth)
    shards, rej = f"'{synth}/*.parquet'", f"'{synth}/rejects/*.parquet'"
    # the upsampled copy counts for tokens, not for per-document statistics
    assert res["overview"]["docs"] == 25
    assert {r["n_reasons"]: r["docs"] for r in res["reason_counts"]} == {1: 9, 2: 3, 3: 3}
    assert res["reason_pairs"][0] == {"reason_a": "gopher_quality:too_few_words", "reason_b": "nsfw:words", "docs": 6}
    # requested vs realized mix from the manifest leaves
    mix = {l["leaf"]: l for l in res["mix"]}
    assert mix["web"]["requested_tokens"] == 1500 and mix["code"]["requested_share"] == pytest.approx(900 / 2400)
    # every signal family present and none reported missing
    fams = {audit.signal_family(s) for s in res["signals"]}
    assert fams == {"language", "quality", "nsfw", "code"}
    assert not any(k.startswith("signals_") for k in res["missing"]) and "dup" not in res["missing"]
    assert res["nsfw_categories"] == [{"source": "web", "category": "adult", "status": "kept", "docs": 1}]
    # duplicates: clusters c0..c3 from dup_cluster, sizes from dup_cluster_size
    exp = q(raw, f"""select size, count(*) from (select dup_cluster, max(dup_cluster_size) size from
                    (select dup_cluster, dup_cluster_size from {shards} where epoch = 0 union all
                     select dup_cluster, dup_cluster_size from {rej}) where dup_cluster is not null group by 1)
                    group by 1 order by 1""")
    assert [(r["size"], r["clusters"]) for r in res["dup_sizes"]] == exp == [(2, 2), (3, 2)]
    largest = res["dup_largest"][0]
    assert largest["size"] == 3 and largest["cluster"] == "c0"
    # c0 names no member: two members are in the output, one removed, and no survivor to be found
    assert (largest["in_output"], largest["removed"], largest["survivor_in_output"]) == (2, 1, False)
    assert largest["sample"][0]["status"].startswith("survivor, not in the output")
    # decontamination: the one item, dropped 3 times and kept (tagged) once
    assert res["decontam"] == [{"benchmark": "gsm8k_test", "item": "17", "dropped": 3, "kept": 1,
                                "max_ngrams": None, "sources": "web"}]
    # mismatch share per language
    ar = next(r for r in res["lang_overview"] if r["lang"] == "ar")
    assert ar["mismatch_docs"] == 2 and ar["mismatch_share"] == pytest.approx(0.5)


def test_duplicate_reasons_without_cluster_columns(tmp_path):
    out = tmp_path / "o"
    (out / "rejects").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"id": "a", "text": "x", "source": "s", "n_tokens": 3, "epoch": 0},
                                         {"id": "b", "text": "y", "source": "s", "n_tokens": 4, "epoch": 0}]),
                   out / "shard-00000.parquet")
    pq.write_table(pa.Table.from_pylist([{"id": f"c{i}", "text": "x", "source": "s", "reason": "duplicate:a",
                                          "reasons": None} for i in range(3)]
                                        + [{"id": "d", "text": "y", "source": "s", "reason": "duplicate:b", "reasons": None}]),
                   out / "rejects" / "rejects-00000.parquet")
    con = audit.open_output(out)
    assert audit.dup_sizes(con) == [{"size": 2, "clusters": 1, "docs": 2}, {"size": 4, "clusters": 1, "docs": 4}]
    top = audit.dup_largest(con, 5, 2)
    assert top[0]["cluster"] == "a" and top[0]["size"] == 4 and top[0]["kept"] == 1 and top[0]["removed"] == 3
    assert top[0]["survivor_in_output"] and top[0]["sample"][0] == {
        "id": "a", "source": "s", "status": "survivor, in the output", "snippet": "x"}
    # no manifest, no language columns: sections say so in one line
    res = audit.collect(con)
    assert res["by_lang"] is None and "lang" in res["missing"]["lang"]
    assert res["missing"]["decontam"].startswith("decontamination: not in this output")
    assert "mix" in res["missing"] and [l["realized_tokens"] for l in res["mix"]] == [7]


def test_not_an_output(tmp_path):
    with pytest.raises(audit.AuditError):
        audit.open_output(tmp_path / "nope")
    r = CliRunner().invoke(_main(), ["audit", str(tmp_path)])
    assert r.exit_code == 2 and "not a tamis output" in r.output


def _main():
    from engine.cli import main

    return main


def test_cli_synthetic_all_sections(synth, tmp_path):
    html = tmp_path / "r.html"
    r = CliRunner().invoke(_main(), ["audit", str(synth), "--sample", "2", "--seed", "4", "--html", str(html)],
                           terminal_width=200)
    assert r.exit_code == 0, r.output
    for title in ("Mix", "Tokens per language", "Drops per reason", "Overlap of reasons", "Signals",
                  "Duplicate clusters", "Quality at a glance", "Decontamination"):
        assert title in r.output, title
    assert "gsm8k_test" in r.output and "gopher_mean_word_len" in r.output
    page = html.read_text()
    _check_html(page)
    assert page.count("data:image/png;base64,") >= 3 + 4   # mix, drops, languages, and histograms
    for t in ("Duplicate clusters", "Decontamination", "Language samples", "Histograms of"):
        assert t in page


def _check_html(page: str):
    assert page.startswith("<!DOCTYPE html>")
    # self-contained: no external URL anywhere (only data: URIs)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert not re.search(r"@import|url\((?!data:)", page)
    assert "://" not in page   # not even in document snippets (written as &#58;//)
    for m in re.finditer(r'src="data:image/png;base64,([^"]+)"', page):
        assert base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    for t in ("Spec vs realized", "Dropped, and why", "Languages", "Reference"):
        assert f">{t}" in page, t


def test_compare_synthetic(tmp_path):
    a = _synthetic(tmp_path / "a", "a")
    b = _synthetic(tmp_path / "b", "b", cc_tokens=200, scale=2)
    res = audit.compare(audit.open_output(a), audit.open_output(b))
    raw = duckdb.connect()
    for side, out in (("a", a), ("b", b)):
        exp = dict(q(raw, f"select source, sum(n_tokens) from '{out}/*.parquet' group by 1"))
        assert {r["source"]: r[side] for r in res["sources"]} == exp
        exp = dict(q(raw, f"select lang, sum(n_tokens) from '{out}/*.parquet' group by 1"))
        assert {r["lang"]: r[side] for r in res["languages"]} == exp
    for r in res["sources"] + res["languages"] + res["leaves"]:
        assert r["diff"] == r["b"] - r["a"]
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    rate = {r["drop"]: r for r in res["drop_rates"]}
    x = rate["web / gopher_quality:too_few_words"]
    sa, sb = ma["sources"]["web"], mb["sources"]["web"]
    assert x["a"] == pytest.approx(sa["docs_dropped"]["gopher_quality:too_few_words"] / sa["docs_read"])
    assert x["b"] == pytest.approx(sb["docs_dropped"]["gopher_quality:too_few_words"] / sb["docs_read"])
    assert {r["leaf"]: r["b"] for r in res["requested"]} == {"web": 3000, "code": 1800}
    html = tmp_path / "cmp.html"
    r = CliRunner().invoke(_main(), ["audit", "--compare", str(a), str(b), "--html", str(html)], terminal_width=200)
    assert r.exit_code == 0, r.output
    page = html.read_text()   # B's report, with the changes since A inside
    cmp = page[page.index('<section id="compare">'):page.index('id="reference"')]
    assert cmp.count('<img src="data:image/png;base64,') == 3 and "://" not in page
    assert ">Drop rate per reason</h3>" in cmp and 'id="spec"' in page
    for title in ("Tokens per leaf", "Tokens per source", "Tokens per language", "Drop rate per reason"):
        assert title in r.output
    r = CliRunner().invoke(_main(), ["audit", str(a), "--compare", str(a), str(b)])
    assert r.exit_code == 2


# ------------------------------------------------------------------------------------------ the real output


@pytest.mark.spark
def test_real_output_numbers(audit_run_output):
    out = audit_run_output
    res, raw = _check_common(out)
    m = json.loads((out / "manifest.json").read_text())
    # the run really has what the audit is about
    assert set(m["sources"]) == {"cc", "multi"}
    assert {r["lang"] for r in res["lang_overview"]} >= {"en", *LANGS}
    assert any(n > 1 for n in (r["n_reasons"] for r in res["reason_counts"]))
    assert res["reason_pairs"], "some reject fails several rules"
    assert {audit.signal_family(s) for s in res["signals"]} >= {"language", "quality", "nsfw"}
    assert res["decontam"] and res["decontam"][0]["benchmark"] == "gsm8k_test" and res["decontam"][0]["dropped"] >= 1
    assert "dup" in res["missing"]   # dedup not in this spec: one line
    # drop totals per source match the manifest and the rejects folder
    for s, v in m["sources"].items():
        assert sum(d["docs"] for d in res["drops"] if d["source"] == s) == sum(v["docs_dropped"].values())
    assert sum(d["docs"] for d in res["drops"]) == q(raw, f"select count(*) from '{out}/rejects/*.parquet'")[0][0]
    # reproducible: same seed, same sheet; another seed, another one
    con = audit.open_output(out)
    assert audit.lang_samples(con, 3, 5) == res["lang_samples"]
    assert audit.lang_samples(con, 3, 6) != res["lang_samples"]


@pytest.mark.spark
def test_cli_on_real_output(audit_run_output, tmp_path):
    html = tmp_path / "report.html"
    r = CliRunner().invoke(_main(), ["audit", str(audit_run_output), "--html", str(html), "--sample", "2"],
                           terminal_width=220)
    assert r.exit_code == 0, r.output
    o = r.output
    for title in ("Tokens per source", "Tokens per kind", "Tokens per language", "Mix: realized vs requested",
                  "Drops per reason", "Overlap of reasons", "Reason pairs", "Signals", "Quality at a glance",
                  "Decontamination"):
        assert title in o, title
    assert "language:not_kept" in o and "length:too_few_words" in o and "gsm8k_test" in o
    assert "duplicates: not in this output" in o
    # tokens per source as printed match the manifest
    m = json.loads((audit_run_output / "manifest.json").read_text())
    assert f"{m['sources']['cc']['tokens_written']:,}" in o
    page = html.read_text()
    _check_html(page)
    assert page.count('<img src="data:image/png;base64,') >= 3
    for t in ("Spec vs realized", "Dropped, and why", "Languages", "Language samples", "Signals", "Decontamination"):
        assert f">{t}" in page, t
    for fig in ("fig-mix", "fig-drops", "fig-langs"):
        assert f'id="{fig}"' in page
