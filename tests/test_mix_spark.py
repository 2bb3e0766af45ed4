"""Mixing by tokens on Spark, over real data: langid sentences (several languages, grouped by the `lang` the
language filter fills, temperature-sampled), dolma's Common Crawl JSONL, and Markov-generated synthetic text.

Realized tokens per leaf are checked with DuckDB over the written shards."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from pathlib import Path

import duckdb
import pytest

from engine.spec import load_spec
from tests.conftest import ROOT, shared_data

pytestmark = pytest.mark.spark

SIZES = {"en": 1000, "de": 500, "fr": 250, "sw": 400}   # sentences per language: unequal, so temperature matters
TOL = 0.005


def _prepare_module():
    spec = importlib.util.spec_from_file_location("sample_prepare", ROOT / "mixes" / "sample" / "prepare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mixdata(tmp_path_factory, spark):
    """Inputs in a tmp folder, the annotate stage computed once in a shared work dir, and what is available."""
    from pyspark.sql import functions as F

    from engine.spark.sample import available_tokens
    from engine.run import prepare

    d = tmp_path_factory.mktemp("mixdata")
    sentences = shared_data("langid", "sentences")
    with open(d / "web.jsonl", "w", encoding="utf-8") as f:
        for lang, n in SIZES.items():
            for i, line in enumerate((sentences / f"{lang}.txt").read_text(encoding="utf-8").splitlines()[:n]):
                f.write(json.dumps({"id": f"{lang}/{i}", "text": line, "url": f"https://wortschatz.example/{lang}/{i}"},
                                   ensure_ascii=False) + "\n")
    with open(d / "synth.jsonl", "w", encoding="utf-8") as f:
        for r in _prepare_module().markov_documents(n_docs=150, seed=7, min_words=40, max_words=120):
            f.write(json.dumps(r) + "\n")
    ctx = {"dir": d, "work": d / "work", "dolma": shared_data("jsonl")}
    spec = load_spec(write_spec(ctx, "probe", target=None, synth_tokens=None))
    df, _, _ = prepare(spark, spec)
    ctx["available"] = {(a["source"], a["group"]): a for a in available_tokens(df.where(F.col("reason").isNull()), spec)}
    return ctx


def write_spec(ctx, name: str, seed: int = 11, target: int | None = None, synth_tokens: int | None = None,
               web: str = "weight: 1.0", synth: str | None = None, limits: str = "", max_epochs: int = 3) -> str:
    d, dolma = ctx["dir"], ctx["dolma"]
    synth = synth or (f"tokens: {synth_tokens}" if synth_tokens is not None else "")
    f = d / f"{name}.yaml"
    f.write_text(f"""\
name: {name}
seed: {seed}
{f"target_tokens: {target}" if target else ""}
output: {{path: out/{name}, shard_mb: 0.05, work_dir: {ctx['work']}}}
{limits}
sources:
  - name: web
    kind: jsonl
    paths: [web.jsonl]
    doc_kind: web
    {web}
    group_by: lang
    temperature: 0.3
    max_epochs: 3
    filters: [{{kind: language, keep: [en, de, fr, sw], min_score: 0.5}}]
  - name: cc
    kind: jsonl
    paths: ["{dolma}/multiple_files/*.jsonl.gz", "{dolma}/provided/documents/*.json.gz"]
    doc_kind: web
  - name: synth
    kind: synthetic
    paths: [synth.jsonl]
    {synth}
    max_epochs: {max_epochs}
""")
    return str(f)


def avail(ctx, source, group=None) -> int:
    return ctx["available"][(source, group)]["tokens"]


def main_spec(ctx, name="main", seed=11) -> str:
    """target = cc kept whole + synth at 2.5 epochs + 40,000 tokens of web shared by temperature 0.3."""
    synth = int(2.5 * avail(ctx, "synth"))
    return write_spec(ctx, name, seed=seed, target=avail(ctx, "cc") + synth + 40_000, synth_tokens=synth)


def leaf_tokens(out: Path) -> dict:
    rows = duckdb.sql(f"select source, case when source = 'web' then lang end as grp, sum(n_tokens), count(*) "
                      f"from '{out}/*.parquet' group by all").fetchall()
    return {(r[0], r[1]): (int(r[2]), r[3]) for r in rows}


def shard_hashes(out: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.parquet"))}


@pytest.fixture(scope="module")
def main_run(mixdata):
    from engine.run import run

    m = run(load_spec(main_spec(mixdata)))
    return m, mixdata["dir"] / "out" / "main"


def test_realized_tokens_per_leaf_within_half_a_percent(main_run, mixdata):
    m, out = main_run
    leaves = {(l["source"], l["group"]): l for l in m["leaves"]}
    assert {g for s, g in leaves if s == "web"} == set(SIZES)          # groups are the language filter's lang
    realized = leaf_tokens(out)
    assert set(realized) == set(leaves)
    for key, l in leaves.items():
        tokens, docs = realized[key]
        assert tokens == l["realized_tokens"] and docs == l["realized_docs"]   # manifest agrees with the shards
        assert abs(tokens - l["requested_tokens"]) <= TOL * l["requested_tokens"], (key, tokens, l)
    # the target is met to the same precision, and the plan sums to it exactly
    assert sum(l["requested_tokens"] for l in m["leaves"]) == m["target_tokens"]
    total = sum(t for t, _ in realized.values())
    assert abs(total - m["target_tokens"]) <= TOL * m["target_tokens"]
    # temperature 0.3 over the languages' available tokens: shares as available ** 0.3, renormalized
    web = {g: leaves[("web", g)] for g in SIZES}
    w = {g: l["available_tokens"] ** 0.3 for g, l in web.items()}
    for g, l in web.items():
        assert l["requested_tokens"] == pytest.approx(40_000 * w[g] / sum(w.values()), abs=1)
    assert web["en"]["epochs"] < 1 < web["sw"]["epochs"]                  # big languages down, small ones up
    # cc: neither weight nor tokens -> kept whole, once
    assert realized[("cc", None)][0] == avail(mixdata, "cc") == leaves[("cc", None)]["requested_tokens"]
    print("\nleaf           available  requested   realized   error")
    for (s, g), l in sorted(leaves.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        t = realized[(s, g)][0]
        print(f"{s:6} {g or '':4} {l['available_tokens']:>10,} {l['requested_tokens']:>10,} {t:>10,} "
              f"{(t - l['requested_tokens']) / l['requested_tokens']:>+8.3%}")


def test_upsampled_leaf_has_epochs_0_1_2_and_the_right_total(main_run, mixdata):
    m, out = main_run
    a = avail(mixdata, "synth")
    rows = dict((e, (t, n)) for e, t, n in duckdb.sql(
        f"select epoch, sum(n_tokens), count(*) from '{out}/*.parquet' where source = 'synth' group by 1").fetchall())
    assert sorted(rows) == [0, 1, 2]
    assert rows[0][0] == rows[1][0] == a                         # two full epochs: every document
    assert rows[0][1] == rows[1][1] == mixdata["available"][("synth", None)]["docs"]
    assert abs(rows[2][0] - a / 2) <= TOL * 2.5 * a              # the half epoch, to the leaf's precision
    assert abs(sum(t for t, _ in rows.values()) - int(2.5 * a)) <= TOL * 2.5 * a
    leaf = next(l for l in m["leaves"] if l["source"] == "synth")
    assert leaf["epochs"] == pytest.approx(2.5, abs=1e-4) and m["sources"]["synth"]["epochs_used"] == 3
    # each repetition is its own row, spread over shards by hash(seed, id, epoch); third copies are a subset
    spread = duckdb.sql(f"select count(distinct filename) from read_parquet('{out}/*.parquet', filename=true) "
                        f"where source = 'synth' and epoch = 1").fetchall()[0][0]
    assert spread > 1
    ids = {e: set(r[0] for r in duckdb.sql(f"select id from '{out}/*.parquet' where source = 'synth' and epoch = {e}")
                  .fetchall()) for e in (0, 2)}
    assert ids[2] < ids[0]
    meta = duckdb.sql(f"select meta from '{out}/*.parquet' where source = 'synth' limit 1").fetchall()[0][0]
    assert json.loads(meta)["generator"] == "markov-trigram-v1"


def test_same_seed_identical_bytes_other_seed_other_sample_same_proportions(main_run, mixdata):
    from engine.run import run

    m, out = main_run
    m2 = run(load_spec(main_spec(mixdata, name="again")))
    assert m2["stages"]["score"]["reused"] is True
    again = mixdata["dir"] / "out" / "again"
    assert shard_hashes(out) and shard_hashes(again) == shard_hashes(out)
    m3 = run(load_spec(main_spec(mixdata, name="seed2", seed=12)))
    other = mixdata["dir"] / "out" / "seed2"
    q = "select id, epoch from '{}/*.parquet' where source = 'web'"
    a, b = set(duckdb.sql(q.format(out)).fetchall()), set(duckdb.sql(q.format(other)).fetchall())
    assert a != b and len(a & b) < 0.9 * len(a)                  # a different sample...
    r1, r3 = leaf_tokens(out), leaf_tokens(other)
    for l in m3["leaves"]:                                       # ...with the same budgets, met as precisely
        key = (l["source"], l["group"])
        assert l["requested_tokens"] == next(x for x in m["leaves"] if (x["source"], x["group"]) == key)["requested_tokens"]
        assert abs(r3[key][0] - l["requested_tokens"]) <= TOL * l["requested_tokens"]
        assert abs(r3[key][0] - r1[key][0]) <= 2 * TOL * l["requested_tokens"]


def test_synthetic_cap_holds(mixdata):
    from engine.run import run

    # asked: 40% synthetic of the budgeted part; cap: 10% of the whole mix
    target = avail(mixdata, "cc") + 30_000
    f = write_spec(mixdata, "capped", target=target, web="weight: 0.6", synth="weight: 0.4",
                   limits="limits: {synthetic_max_share: 0.1}")
    m = run(load_spec(f))
    out = mixdata["dir"] / "out" / "capped"
    syn, total = duckdb.sql(f"select sum(n_tokens) filter (where kind = 'synthetic'), sum(n_tokens) "
                            f"from '{out}/*.parquet'").fetchall()[0]
    assert syn / total <= 0.1
    assert syn >= 0.1 * target * (1 - TOL)                       # shrunk to the cap, not below it
    assert m["mix"]["synthetic_capped"] is True and m["mix"]["synthetic_share_realized"] <= 0.1
    leaves = {(l["source"], l["group"]): l for l in m["leaves"]}
    assert leaves[("synth", None)]["requested_tokens"] == int(0.1 * target)
    # the freed tokens went to web (cc is kept whole either way): the web budget grew from 18,000
    web = sum(l["requested_tokens"] for (s, _), l in leaves.items() if s == "web")
    assert web == target - avail(mixdata, "cc") - int(0.1 * target) > 18_000


def test_plan_and_run_exit_2_on_an_infeasible_mix_and_run_writes_nothing(mixdata):
    from click.testing import CliRunner

    from engine.cli import main

    synth = 4 * avail(mixdata, "synth")                         # 4 epochs, max_epochs 3
    f = write_spec(mixdata, "infeasible", target=avail(mixdata, "cc") + synth + 40_000, synth_tokens=synth)
    r = CliRunner().invoke(main, ["plan", f])
    assert r.exit_code == 2, r.output
    assert f"infeasible mix: source 'synth' needs {synth:,} tokens but has {avail(mixdata, 'synth'):,}" in r.output
    assert "max_epochs 3" in r.output
    r = CliRunner().invoke(main, ["run", f])
    assert r.exit_code == 2, r.output
    assert "infeasible mix: source 'synth' needs" in r.output
    out = mixdata["dir"] / "out"
    assert not (out / "infeasible").exists() and not list(out.glob(".infeasible*"))


def _table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


def test_plan_feasible_reuses_stages_and_prints_every_leaf(mixdata, main_run):
    from click.testing import CliRunner

    from engine.cli import main

    f = main_spec(mixdata, name="planned")    # the main run's mix under another name: the same sample
    r = CliRunner().invoke(main, ["plan", f])
    assert r.exit_code == 0, r.output
    assert "score reused" in r.output
    story, budget = r.output.split("the budget (cut: nearest)")
    rows = _table_rows(budget)
    assert {(row[0], row[1]) for row in rows} == {(s, g or "") for s, g in mixdata["available"]}
    assert all(len(line) <= 100 for line in r.output.splitlines() if "│" in line or "┃" in line)
    assert not (mixdata["dir"] / "out" / "planned").exists()
    r = CliRunner().invoke(main, ["plan", f, "--json"])
    assert r.exit_code == 0
    plan = json.loads(r.output[r.output.index("{"):])
    assert plan["feasible"] and plan["requested_tokens"] == plan["target_tokens"]
    assert {(l["source"], l["group"]) for l in plan["leaves"]} == set(mixdata["available"])
    # the expected tokens are what the run realized: equal, leaf by leaf and in total
    m, _ = main_run
    realized = {(l["source"], l["group"]): (l["realized_tokens"], l["realized_docs"]) for l in m["leaves"]}
    assert {(l["source"], l["group"]): (l["expected_tokens"], l["expected_docs"]) for l in plan["leaves"]} == realized
    assert plan["expected_tokens"] == m["mix"]["realized_tokens"] == sum(t for t, _ in realized.values())
    assert plan["expected_overshoot"] == plan["expected_tokens"] - plan["target_tokens"]
    # where the documents went, per leaf: read = dropped + duplicates + kept, and the kept match the plan
    explain = {(e["source"], e["group"]): e for e in plan["explain"]}
    for key, a in mixdata["available"].items():
        e = explain[key]
        assert e["read"] == e["dropped"] + e["duplicates"] + e["available_docs"]
        assert (e["available_docs"], e["available_tokens"]) == (a["docs"], a["tokens"])
        assert sum(n for _r, n in e["reasons"]) == e["dropped"] and len(e["reasons"]) <= 4
    # languages the language filter drops are one row of their own, with the filter's reason
    other = explain[("web", "(all dropped)")]
    assert other["available_docs"] == 0 and other["reasons"][0][0].startswith("language:")
    story_rows = [line.split() for line in story.splitlines()]
    assert ["web", "(all", "dropped)"] in [row[:3] for row in story_rows]
    assert ["web", "sw"] in [row[:2] for row in story_rows]


def test_group_by_a_missing_column_exits_2(mixdata):
    from click.testing import CliRunner

    from engine.cli import main

    f = write_spec(mixdata, "nocol")
    Path(f).write_text(Path(f).read_text().replace("group_by: lang", "group_by: dialect"))
    r = CliRunner().invoke(main, ["plan", f])
    assert r.exit_code == 2 and "group_by column 'dialect' does not exist" in r.output


# ---------------------------------------------------------------- the cut, against a brute force


def _cut_frame(spark):
    rng = random.Random(5)
    rows = [(f"d{i}", "x", "mixed", "synthetic" if rng.random() < 0.3 else "web", rng.choice(["en", "de", None]),
             rng.randint(1, 40)) for i in range(6000)]
    rows += [(f"o{i}", "y", "other", "web", "en", rng.randint(1, 40)) for i in range(3000)]
    return spark.createDataFrame(rows, "id string, text string, source string, kind string, lang string, n_tokens long")


@pytest.mark.parametrize("policy,final_docs", [("over", 3), ("under", 3), ("nearest", 4096), ("nearest", 3)])
def test_cut_matches_brute_force_with_refinement_and_mixed_synthetic_leaves(spark, monkeypatch, policy, final_docs):
    """A source whose groups mix synthetic and other documents; the selection must equal cutting every part
    with all its documents sorted by (hash, id) on the driver. FINAL_DOCS = 3 forces refinement (and, with
    the carry of `nearest`, narrows its windows: then it must still do exactly what the plan predicts)."""
    from pyspark.sql import functions as F

    import engine.spark.cuts as cuts
    import engine.spark.sample as mix
    from engine.plan.budgets import plan_mix
    from engine.plan.cuts import part_table, settle
    from engine.spec import parse_spec

    monkeypatch.setattr(cuts, "FINAL_DOCS", final_docs)
    df = _cut_frame(spark)
    spec = parse_spec(f"""\
name: cut
seed: 3
target_tokens: 60000
cut: {policy}
output: {{path: /tmp/unused}}
limits: {{synthetic_max_share: 0.1}}
sources:
  - {{name: mixed, kind: jsonl, paths: [a], weight: 0.5, group_by: lang, temperature: 0.5, max_epochs: 2}}
  - {{name: other, kind: jsonl, paths: [b], weight: 0.5, max_epochs: 2}}
""", check_paths=False)
    plan = plan_mix(spec, mix.available_tokens(df, spec))
    assert plan.synthetic_capped and {l.group for l in plan.leaves if l.source == "mixed"} == {"en", "de", "(null)"}
    out = mix.apply_mix(df, spec, plan)
    got = sorted(out.select("id", "epoch").collect())
    # what the plan predicts is what the sample holds, exactly, per leaf
    expected = mix.expected_per_leaf(mix.plan_cuts(df, spec, plan))
    realized = {(r["source"], r["group"]): (r["tokens"], r["docs"]) for r in mix.realized_tokens(out, spec)}
    assert realized == expected
    # brute force on the driver (fine for a test): the same key, every part sorted, its window all of it
    keyed = cuts.keyed(df, spec, mix.with_leaf).select("id", "source", "_grp", "_syn", "_sk", "n_tokens").collect()
    parts = part_table(plan, policy)
    for p in parts:
        p.window = sorted(((r["_sk"], r["id"], r["n_tokens"]) for r in keyed
                           if (r["source"], r["_grp"], r["_syn"]) == p.key), key=lambda d: (d[0], d[1]))
    settle(parts, policy, plan.synthetic_max_share)
    want = []
    for p in parts:
        want += [(d[1], e) for d in p.window for e in range(p.full)]
        n = next((j for j, d in enumerate(p.window) if p.threshold and d[:2] == p.threshold), len(p.window))
        want += [(d[1], p.full) for d in p.window[:n if not p.take_all else len(p.window)]] if p.target else []
    if final_docs > 3 or policy != "nearest":
        assert got == sorted(want)
    # the cap holds on the realized tokens, and the total lands on the target as the policy says
    syn, total = out.agg(F.sum(F.when(F.col("kind") == "synthetic", F.col("n_tokens"))), F.sum("n_tokens")).first()
    assert syn / total <= 0.1
    if policy == "nearest":
        assert abs(total - 60000) <= 40 // 2 + 1        # within half a document (the largest has 40 tokens)
    else:
        assert abs(total - 60000) <= TOL * 60000 and (total >= 60000 if policy == "over" else total <= 60000)
