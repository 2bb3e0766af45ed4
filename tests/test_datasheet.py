"""The datasheet of an output (engine/datasheet.py, engine/datasheet_md.py, engine/spark/datasheet.py): facts from
a spec, a manifest, the input listing and the Spark aggregates; Markdown with a Hugging Face dataset-card
header; `extra_files` in the manifest checked like shards and kept by a remote commit.

Most tests need no JVM (a spec and its files written here, a manifest and aggregates made by hand); one runs
the aggregate on the shared SparkSession; the last checks a real `tamis run` output and needs engine/run.py
to call `write_datasheet` (see its docstring).
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
from types import SimpleNamespace

import pytest
import yaml

from engine import datasheet
from engine.datasheet_md import front_matter, hf_license, render_datasheet, size_category
from engine.manifest_check import check_output_files, committed_files, listed_files, manifest_problems
from engine.spec import load_spec
from engine.spec.paths import resolve_source


def _sha(p) -> str:
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


@pytest.fixture
def fake_run(tmp_path):
    """A spec on disk (two sources, one decontaminated against two benchmark files), its inputs, a manifest
    and aggregates as a run would give them."""
    (tmp_path / "data").mkdir()
    for i in range(3):
        with gzip.open(tmp_path / "data" / f"web-{i}.jsonl.gz", "wt") as f:
            f.write(json.dumps({"id": str(i), "text": f"page {i}"}) + "\n")
    (tmp_path / "data" / "gen.jsonl").write_text(json.dumps({"id": "g", "text": "made up"}) + "\n")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "test.jsonl").write_text(json.dumps({"question": "what is two and two " * 3}) + "\n")
    (tmp_path / "bench" / "HumanEval.jsonl").write_text(json.dumps({"prompt": "def f(): return 1 " * 4}) + "\n")
    text = """\
name: fake-mix
seed: 5
output: {path: out/fake}
sources:
  - name: web
    kind: jsonl
    paths: ["data/web-*.jsonl.gz"]
    filters:
      - {kind: decontaminate, benchmarks: ["bench/*.jsonl"], mode: tag}
  - name: gen
    kind: synthetic
    paths: [data/gen.jsonl]
    generator: markov-3
dedup: {exact: true, minhash: {threshold: 0.7}}
"""
    (tmp_path / "mix.yaml").write_text(text)
    spec = load_spec(str(tmp_path / "mix.yaml"))
    inputs = {s.name: resolve_source(s) for s in spec.sources}
    manifest = {
        "versions": {"tamis": "0.1.0", "pyarrow": "1"},
        "totals": {"docs_written": 1_234, "tokens_written": 1_000, "shards": 2},
        "mix": {"synthetic_max_share": 0.05},
        "sources": {
            "web": {"kind": "jsonl", "files": 3, "docs_read": 40, "chars_read": 900, "docs_unreadable": 1,
                    "docs_dropped": {"read:bad_json": 1, "decontaminated:bench_test": 4, "duplicate": 5},
                    "docs_kept": 30, "tokens_kept": 950, "docs_written": 20, "tokens_written": 950, "epochs_used": 1},
            "gen": {"kind": "synthetic", "files": 1, "docs_read": 2, "chars_read": 20, "docs_dropped": {},
                    "docs_kept": 2, "tokens_kept": 50, "docs_written": 2, "tokens_written": 50, "epochs_used": 1}}}
    row = dict(kind="web", generator=None, benchmark=None)
    aggregates = {"written": [
        {**row, "source": "web", "license": "CC BY-SA 4.0", "lang": "en", "docs": 10, "tokens": 500},
        {**row, "source": "web", "license": "MIT,Apache-2.0", "lang": "de", "docs": 5, "tokens": 300},
        {**row, "source": "web", "license": "weird | licence", "lang": "de", "docs": 2, "tokens": 100,
         "benchmark": "bench_test"},
        {**row, "source": "web", "license": None, "lang": "eng_Latn", "docs": 3, "tokens": 50},
        {"source": "gen", "kind": "synthetic", "license": None, "lang": "en", "generator": "markov-3",
         "benchmark": None, "docs": 2, "tokens": 50}],
        "decontam": [{"source": "web", "benchmark": "bench_test", "docs": 7, "kept": 2, "dropped": 4,
                      "dropped_other": 1, "items": 3}]}
    return SimpleNamespace(dir=tmp_path, spec=spec, inputs=inputs, manifest=manifest, aggregates=aggregates,
                           text=text)


def test_facts_list_the_spec_inputs_counts_and_benchmarks(fake_run, tmp_path):
    r = fake_run
    facts = datasheet.datasheet_facts(r.spec, r.manifest, r.inputs, r.aggregates, cache=str(tmp_path / "c.json"))
    assert facts["spec"] == {"path": str(r.dir / "mix.yaml"), "sha256": hashlib.sha256(r.text.encode()).hexdigest(),
                             "text": r.text, "note": None}
    assert len(facts["tamis"]["code_hash"]) == 16 and facts["tamis"]["version"] == "0.1.0"
    # every input file, with the sha256 of its bytes
    web = facts["inputs"]["web"]
    assert [os.path.basename(f["path"]) for f in web] == ["web-0.jsonl.gz", "web-1.jsonl.gz", "web-2.jsonl.gz"]
    assert all(f["checksum"] == "sha256" and f["sha256"] == _sha(f["path"]) and f["bytes"] == os.path.getsize(f["path"])
               for f in web + facts["inputs"]["gen"])
    src = {s["name"]: s for s in facts["sources"]}
    assert src["web"]["duplicates_removed"] == 5 and src["web"]["chars_read"] == 900
    assert list(src["web"]["docs_dropped"]) == ["duplicate", "decontaminated:bench_test", "read:bad_json"]
    lic = {e["license"]: (e["docs"], e["tokens"]) for e in facts["licenses"]}
    assert lic == {"CC BY-SA 4.0": (10, 500), "MIT,Apache-2.0": (5, 300), "weird | licence": (2, 100), None: (5, 100)}
    assert next(e for e in facts["licenses"] if e["license"] is None)["by_source"] == {"web": 3, "gen": 2}
    assert {e["lang"]: e["docs"] for e in facts["languages"]} == {"en": 12, "de": 7, "eng_Latn": 3}
    syn = facts["synthetic"]
    assert (syn["docs"], syn["tokens"], syn["share"], syn["max_share"]) == (2, 50, 0.05, 0.05)
    assert [(g["generator"], g["tokens"]) for g in syn["generators"]] == [("markov-3", 50)]
    # the benchmark files with their sha256, the filter's parameters, and what matched
    d = facts["decontamination"]
    assert {(b["benchmark"], b["sha256"]) for b in d["benchmarks"]} == {
        ("bench_test", _sha(r.dir / "bench" / "test.jsonl")), ("HumanEval", _sha(r.dir / "bench" / "HumanEval.jsonl"))}
    assert d["filters"] == [{"source": "web", "mode": "tag", "ngram": 13, "min_matches": 1, "min_item_words": 8,
                             "fields": None, "benchmarks": ["HumanEval", "bench_test"]}]
    m = {x["benchmark"]: x for x in d["matches"]}
    assert (m["bench_test"]["docs_dropped"], m["bench_test"]["docs_matched_kept"], m["bench_test"]["docs_written"],
            m["bench_test"]["items_matched"]) == (4, 2, 2, 3)
    assert (m["HumanEval"]["docs_dropped"], m["HumanEval"]["items_matched"]) == (0, 0)
    assert facts["dedup"] == {"params": r.spec.dedup.model_dump(mode="json"), "removed": {"web": 5, "gen": 0},
                              "removed_total": 5}
    json.dumps(facts)     # goes into manifest.json as it is


def test_rendered_card_has_the_hub_header_and_every_section(fake_run):
    r = fake_run
    facts = datasheet.datasheet_facts(r.spec, r.manifest, r.inputs, r.aggregates)
    md = render_datasheet(facts)
    assert md.startswith("---\n")
    head = yaml.safe_load(md.split("---\n", 2)[1])
    assert head["license"] == ["apache-2.0", "cc-by-sa-4.0", "mit", "other", "unknown"]
    assert head["license_name"] == "weird-licence"
    assert head["language"] == ["de", "en", "eng"]
    assert head["task_categories"] == ["text-generation"] and head["size_categories"] == ["1K<n<10K"]
    assert head["pretty_name"] == "fake-mix" and {"tamis", "pretraining", "synthetic"} <= set(head["tags"])
    assert head["configs"][0]["data_files"] == [{"split": "train", "path": "*.parquet"}]
    for title in ("Sources", "Licences", "Languages", "Synthetic data", "Decontamination", "Deduplication",
                  "Input files", "Spec"):
        assert f"\n## {title}\n" in md, title
    assert "| weird \\| licence | 2 | 100 |" in md                 # a data value cannot break the table
    for f in r.inputs["web"].files:
        assert f.path in md and _sha(f.path) in md
    assert _sha(r.dir / "bench" / "test.jsonl") in md
    assert "```yaml\n" + r.text.rstrip() + "\n```" in md


def test_header_conventions():
    assert [hf_license(v) for v in ("Apache-2.0", "CC BY-SA 3.0", "GPL-3.0-or-later", "LGPL-2.1-only", "MIT")] == \
        ["apache-2.0", "cc-by-sa-3.0", "gpl-3.0", "lgpl-2.1", "mit"]
    assert [size_category(n) for n in (0, 999, 1_000, 123_456, 10**13)] == \
        ["n<1K", "n<1K", "1K<n<10K", "100K<n<1M", "n>1T"]
    facts = {"licenses": [], "languages": [], "kinds": [{"kind": "code"}], "totals": {"docs_written": 5},
             "name": "x"}
    head = front_matter(facts)
    assert head["license"] == "unknown" and head["language"] == ["code"] and "license_name" not in head
    facts["licenses"] = [{"license": "CC BY-SA 2.5"}]         # no Hub identifier: `other`, named
    assert (front_matter(facts)["license"], front_matter(facts)["license_name"]) == ("other", "cc-by-sa-2.5")


def test_spec_text_is_left_out_when_the_file_changed(fake_run):
    (fake_run.dir / "mix.yaml").write_text(fake_run.text + "# edited\n")
    s = datasheet.spec_facts(fake_run.spec)
    assert s["text"] is None and "changed" in s["note"]
    assert "changed after the run read it" in render_datasheet(
        datasheet.datasheet_facts(fake_run.spec, fake_run.manifest, fake_run.inputs, None))


def test_input_sha256s_are_kept_and_only_changed_files_hashed_again(fake_run, tmp_path, monkeypatch):
    cache = str(tmp_path / "work" / "inputs-sha256.json")
    files = [f for r in fake_run.inputs.values() for f in r.files]
    first = datasheet.input_checksums(files, cache)
    hashed = []
    real = datasheet.storage.sha256
    monkeypatch.setattr(datasheet.storage, "sha256", lambda p: hashed.append(p) or real(p))
    assert datasheet.input_checksums(files, cache) == first and hashed == []
    changed = files[0]
    with gzip.open(changed.path, "at") as f:
        f.write("{}\n")
    again = resolve_source(fake_run.spec.sources[0]).files[0]
    got = datasheet.input_checksums([again] + files[1:], cache)
    assert hashed == [changed.path]
    assert got[changed.path]["sha256"] == _sha(changed.path) != first[changed.path]["sha256"]
    gone = SimpleNamespace(path=str(tmp_path / "gone"), size=None, mtime=None)
    assert datasheet.input_checksums([gone])[gone.path] == {"checksum": "missing"}


def test_remote_inputs_carry_the_store_etag(s3_env, tmp_path):
    from engine.spec.remote_checks import remote_files

    bucket = s3_env.bucket("datasheet-etag")
    (tmp_path / "a.txt").write_text("hello")
    s3_env.upload(tmp_path / "a.txt", f"{bucket}/in/a.txt")
    (tmp_path / "b.txt").write_text("hellO")
    s3_env.upload(tmp_path / "b.txt", f"{bucket}/in/b.txt")
    infos = remote_files(f"{bucket}/in")
    got = datasheet.input_checksums(infos)
    assert [g["checksum"] for g in got.values()] == ["etag", "etag"]
    a, b = (got[f"{bucket}/in/{n}"]["etag"] for n in ("a.txt", "b.txt"))
    assert len(a) >= 32 and a != b and '"' not in a          # the object's checksum: other bytes, other ETag


def _output(folder, extra: bytes = b"# card\n") -> dict:
    """A committed-looking output folder: one shard, rejects, datasheet.md, and its manifest."""
    (folder / "rejects").mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"PAR1 shard")
    (folder / "rejects" / "rejects-0.parquet").write_bytes(b"PAR1 rejects")
    (folder / "datasheet.md").write_bytes(extra)

    def entry(name, rel):
        return {"file": name, "bytes": os.path.getsize(folder / rel), "sha256": _sha(folder / rel)}

    m = {"shards": [entry("part-0.parquet", "part-0.parquet")],
         "rejects": [entry("rejects-0.parquet", "rejects/rejects-0.parquet")],
         "extra_files": [entry("datasheet.md", "datasheet.md")]}
    (folder / "manifest.json").write_text(json.dumps(m))
    return m


def test_extra_files_are_checked_like_shards_and_kept_by_a_remote_commit(tmp_path):
    from engine.output import verify_remote

    out = tmp_path / "out"
    m = _output(out)
    check_output_files(str(out))
    assert set(listed_files(m)[0]) == {"part-0.parquet", "rejects/rejects-0.parquet"}   # the data only
    assert "datasheet.md" in committed_files(m)[0]
    (out / "datasheet.md").write_bytes(b"# CARD\n")                  # same size, other bytes
    assert manifest_problems(str(out), m) == ["datasheet.md has sha256 " + _sha(out / "datasheet.md")[:12]
                                              + "…, manifest.json says " + m["extra_files"][0]["sha256"][:12] + "…"]
    (out / "datasheet.md").unlink()
    assert manifest_problems(str(out), m) == ["datasheet.md is listed in manifest.json but missing"]
    for bad in ("../x.md", "manifest.json", ".hidden", "x.parquet"):
        assert "bad `extra_files` entry" in committed_files({"extra_files": [{"file": bad, "bytes": 1,
                                                                               "sha256": "0"}]})[1][0], bad
    # an in-place (object store) commit deletes what the manifest does not list: not datasheet.md
    out2 = tmp_path / "out2"
    _output(out2)
    (out2 / "leftover.parquet").write_bytes(b"old")
    assert verify_remote(str(out2), json.loads((out2 / "manifest.json").read_text())) == ["leftover.parquet"]


def test_write_datasheet_goes_into_the_manifest(fake_run, tmp_path):
    from engine.plan.manifest import with_datasheet

    folder = tmp_path / "build"
    m = _output(folder)
    m.pop("extra_files")
    os.remove(folder / "datasheet.md")
    ds = datasheet.write_datasheet(str(folder), fake_run.spec, fake_run.manifest, fake_run.inputs,
                                   fake_run.aggregates)
    m = with_datasheet(m, ds)
    assert m["extra_files"] == [{"file": "datasheet.md", "bytes": os.path.getsize(folder / "datasheet.md"),
                                 "sha256": _sha(folder / "datasheet.md")}]
    assert m["datasheet"]["licenses"] == ds["datasheet"]["licenses"]
    assert manifest_problems(str(folder), m) == []
    assert os.path.exists(os.path.join(fake_run.spec.output.path + ".work", datasheet.CACHE))   # in the work dir


@pytest.mark.spark
def test_aggregates_count_the_written_documents_and_the_matches(spark):
    from engine.spark.datasheet import datasheet_aggregates

    cols = "id string, source string, kind string, license string, lang string, n_tokens long, meta string, " \
           "decontam_match string, reason string"
    rows = [("1", "web", "web", "MIT", "en", 10, None, None, None),
            ("2", "web", "web", "MIT", "en", 5, '{"generator": "html"}', "gsm8k_test:7", None),
            ("3", "gen", "synthetic", None, "en", 7, '{"generator": "m3"}', None, None),
            ("4", "web", "web", None, "de", 1, None, "gsm8k_test:7", "decontaminated:gsm8k_test"),
            ("5", "web", "web", None, "de", 1, None, "gsm8k_test:x:9", "length:too_few_words")]
    df = spark.createDataFrame(rows, cols)
    agg = datasheet_aggregates(df.where("reason is null").drop("reason"), df)
    key = lambda r: (r["source"], r["license"] or "", r["lang"], r["benchmark"] or "")
    assert sorted(agg["written"], key=key) == [
        {"source": "gen", "kind": "synthetic", "license": None, "lang": "en", "generator": "m3", "benchmark": None,
         "docs": 1, "tokens": 7},
        {"source": "web", "kind": "web", "license": "MIT", "lang": "en", "generator": None, "benchmark": None,
         "docs": 1, "tokens": 10},
        {"source": "web", "kind": "web", "license": "MIT", "lang": "en", "generator": None,
         "benchmark": "gsm8k_test", "docs": 1, "tokens": 5}]
    assert agg["decontam"] == [{"source": "web", "benchmark": "gsm8k_test", "docs": 3, "kept": 1, "dropped": 1,
                                "dropped_other": 1, "items": 2}]


# ---------------------------------------------------------------------------------------------------------
# AFTER RUN INTEGRATION: passes once engine/run.py writes the datasheet (engine.datasheet.write_datasheet with
# engine.spark.datasheet.datasheet_aggregates, manifest through engine.plan.manifest.with_datasheet).

from tests.test_audit import audit_run_output  # noqa: E402,F401,F811  (the session's real `tamis run` output)


@pytest.mark.spark
def test_run_output_datasheet_matches_its_shards_AFTER_RUN_INTEGRATION(audit_run_output):
    import duckdb

    out = audit_run_output
    m = json.loads((out / "manifest.json").read_text())
    md = (out / "datasheet.md").read_text()
    check_output_files(str(out))                                  # datasheet.md listed, size and sha256 match
    assert [e["file"] for e in m["extra_files"]] == ["datasheet.md"]
    facts = m["datasheet"]
    head = yaml.safe_load(md.split("---\n", 2)[1])
    assert head["pretty_name"] == "audit-test" and head["task_categories"] == ["text-generation"]
    con = duckdb.connect()
    con.execute(f"create view docs as select * from read_parquet('{out / '*.parquet'}', union_by_name=true)")
    want = {r[0]: (r[1], r[2]) for r in con.execute(
        "select license, count(*), sum(n_tokens) from docs group by 1").fetchall()}
    assert {e["license"]: (e["docs"], e["tokens"]) for e in facts["licenses"]} == want
    langs = dict(con.execute("select lang, count(*) from docs group by 1").fetchall())
    assert {e["lang"]: e["docs"] for e in facts["languages"]} == langs
    spec = yaml.safe_load((out.parent.parent / "audit.yaml").read_text())
    for s in spec["sources"]:                                     # every input file, hashed
        listed = {os.path.realpath(f["path"]): f for f in facts["inputs"][s["name"]]}
        files = sorted({os.path.realpath(f) for p in s["paths"] for f in glob.glob(p)})
        assert sorted(listed) == files and len(files) >= 1
        assert all(listed[f]["sha256"] == _sha(f) and listed[f]["path"] in md for f in files)
    gsm = [b for b in facts["decontamination"]["benchmarks"] if b["benchmark"] == "gsm8k_test"]
    assert len(gsm) == 1 and gsm[0]["sha256"] == _sha(gsm[0]["file"]) and gsm[0]["sha256"] in md
    match = {(x["source"], x["benchmark"]): x for x in facts["decontamination"]["matches"]}[("multi", "gsm8k_test")]
    assert match["docs_dropped"] == m["sources"]["multi"]["docs_dropped"].get("decontaminated:gsm8k_test") == 1
    assert match["items_matched"] == 1        # the one GSM8K question pasted into a document
