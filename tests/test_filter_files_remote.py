"""Filter files on object storage: decontaminate's benchmarks (a glob on S3, every file format), the NSFW lists
and fastText models read from S3 give the same index and signals as the local files; a remote model is
fetched once into the cache and fetched again after it changes; `validate` checks remote filter files like
remote inputs. No JVM: the filters are called as the score task calls them (storage configured first)."""
from __future__ import annotations

import gzip
import json
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import shared_data


def _bucket(s3, stem: str) -> str:
    return s3.bucket(f"{stem}-{uuid.uuid4().hex[:8]}")


def _benchmark_files(folder) -> list:
    """gsm8k and HumanEval as shipped, plus a few gsm8k items as Parquet, gzipped CSV and zstd JSONL, so every
    way `read_records` opens a file is read from the store."""
    import zstandard

    gsm8k = shared_data("benchmarks", "gsm8k", "test.jsonl")
    human = shared_data("benchmarks", "humaneval", "HumanEval.jsonl.gz")
    recs = [json.loads(line) for line in gsm8k.read_text().splitlines()[:40]]
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(recs[:10]), folder / "items_pq.parquet")
    csv = "question,answer\n" + "".join(f'"{r["question"]}","{r["answer"][:40]}"\n'.replace("\n\"", '"')
                                         for r in recs[10:20])
    (folder / "items_csv.csv.gz").write_bytes(gzip.compress(csv.encode()))
    zst = "".join(json.dumps(r) + "\n" for r in recs[20:40]).encode()
    (folder / "items_zst.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(zst))
    return [gsm8k, human, *sorted(folder.iterdir())]


def test_decontaminate_benchmarks_on_s3_give_the_same_index_and_signals(s3_env, tmp_path):
    from filters.decontaminate import Decontaminate, build_index, expand_benchmarks

    files = _benchmark_files(tmp_path / "bench")
    bucket = _bucket(s3_env, "bench")
    for f in files:   # gsm8k/test.jsonl keeps its folder: the benchmark is named `gsm8k_test` either way
        s3_env.upload(f, f"{bucket}/b/{f.parent.name}/{f.name}")
    local = [str(f) for f in sorted(files, key=lambda f: (f.parent.name, f.name))]
    remote = [f"{bucket}/b/*/*.*"]
    assert [p.rsplit("/", 2)[1:] for p in expand_benchmarks(tuple(remote))] == \
        [p.rsplit("/", 2)[1:] for p in local]
    a, b = build_index(tuple(local), None, 13, 8), build_index(tuple(remote), None, 13, 8)
    assert a.n_items > 300 and a.n_items == b.n_items and a.labels == b.labels and a.lengths == b.lengths
    assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.owners, b.owners)
    assert {lab.split(":")[0] for lab in b.labels} == {"gsm8k_test", "HumanEval", "items_pq", "items_csv", "items_zst"}

    recs = [json.loads(line) for line in files[0].read_text().splitlines()]
    docs = pa.table({"text": [f"Intro text. {recs[5]['question']} Outro.", "A clean page about gardening.",
                              f"Homework: {recs[300]['question']}", ""]})
    here = Decontaminate(benchmarks=local).score(docs)
    there = Decontaminate(benchmarks=remote).score(docs)
    assert here["decontam_match"].to_pylist() == there["decontam_match"].to_pylist()
    assert here["decontam_ngrams"].to_pylist() == there["decontam_ngrams"].to_pylist()
    assert there["decontam_match"].to_pylist()[:3] == ["items_pq:5", None, "gsm8k_test:300"]

    with pytest.raises(FileNotFoundError, match="no benchmark file matches"):
        expand_benchmarks((f"{bucket}/b/*/*.nothing",))


def test_nsfw_lists_on_s3_give_the_same_signals(s3_env, tmp_path):
    from filters.nsfw import Nsfw

    (tmp_path / "domains.txt.gz").write_bytes(gzip.compress(b"# mine\nbad.example.com\nwww.worse.example.com/\n"))
    (tmp_path / "de.txt").write_text("# german\nschlimm\nganz schlimm\n", encoding="utf-8")
    bucket = _bucket(s3_env, "nsfw")
    s3_env.upload(tmp_path / "domains.txt.gz", f"{bucket}/lists/domains.txt.gz")
    s3_env.upload(tmp_path / "de.txt", f"{bucket}/lists/de.txt")
    docs = pa.table({"text": ["ganz schlimm hier", "alles gut", "nice"], "lang": ["de", "de", "en"],
                     "url": ["http://a.bad.example.com/x", "http://worse.example.com", "http://fine.example.com"]})

    def signals(root: str) -> dict:
        f = Nsfw(ut1_adult=False, url_words=False, domain_lists={"mine": f"{root}/domains.txt.gz"},
                 wordlists={"de": f"{root}/de.txt"})
        return {k: v.to_pylist() for k, v in f.score(docs).items()}

    here, there = signals(str(tmp_path)), signals(f"{bucket}/lists")
    assert here == there
    assert there["nsfw_url_category"] == ["mine", "mine", None] and there["nsfw_word_ratio"][0] > 0.5


def test_model_on_s3_is_fetched_once_and_again_after_it_changes(s3_env, tmp_path, monkeypatch):
    from engine.settings import settings
    from engine.storage import local_copy as lc
    from filters.language import Language, default_lid_model_path

    monkeypatch.setenv("TAMIS_CACHE_DIR", str(tmp_path / "cache"))
    settings.cache_clear()
    fetches = []
    real_open = lc.open_input_stream
    monkeypatch.setattr(lc, "open_input_stream", lambda p: fetches.append(p) or real_open(p))

    bucket = _bucket(s3_env, "models")
    uri = f"{bucket}/m/lid.176.ftz"
    s3_env.upload(default_lid_model_path(), uri)
    docs = pa.table({"text": ["The cat sat on the mat and looked out of the window.",
                              "Der Hund schläft im Garten unter dem alten Baum.", ""]})
    local = {k: v.to_pylist() for k, v in Language().score(docs).items()}
    remote = {k: v.to_pylist() for k, v in Language(model=uri).score(docs).items()}
    assert remote == local and remote["lang"] == ["en", "de", None]
    Language(model=uri).score(docs)                       # a second batch: the copy is reused
    assert fetches == [uri]
    copies = sorted((tmp_path / "cache" / "files").glob("*-lid.176.ftz"))
    assert len(copies) == 1 and copies[0].read_bytes() == open(default_lid_model_path(), "rb").read()

    # the object changes (another size): fetched again under a new name, the old copy removed
    (tmp_path / "v2.bin").write_bytes(b"not the same model" * 10)
    s3_env.upload(tmp_path / "v2.bin", uri)
    again = lc.local_copy(uri)
    assert fetches == [uri, uri] and open(again, "rb").read() == b"not the same model" * 10
    assert [p.name for p in (tmp_path / "cache" / "files").glob("*-lid.176.ftz")] == [again.rsplit("/", 1)[1]]
    assert lc.local_copy(uri) == again and len(fetches) == 2
    with pytest.raises(FileNotFoundError):
        lc.local_copy(f"{bucket}/m/missing.bin")


def test_validate_checks_remote_filter_files_like_remote_inputs(s3_env, tmp_path):
    from engine.spec.load import SpecError, load_spec

    bucket = _bucket(s3_env, "vfiles")
    (tmp_path / "b.jsonl").write_text('{"question": "What is the capital of France and why?"}\n')
    s3_env.upload(tmp_path / "b.jsonl", f"{bucket}/bench/gsm8k/test.jsonl")
    (tmp_path / "in.jsonl").write_text('{"text": "hello world"}\n')

    def spec(benchmarks: str, model: str = "null") -> str:
        f = tmp_path / "mix.yaml"
        f.write_text(f"name: x\noutput: {{path: {tmp_path / 'out'}}}\nsources:\n"
                     f"  - name: a\n    kind: jsonl\n    paths: [in.jsonl]\n    filters:\n"
                     f"      - {{kind: language, model: {model}}}\n"
                     f"      - {{kind: decontaminate, benchmarks: ['{benchmarks}']}}\n")
        return str(f)

    s = load_spec(spec(f"{bucket}/bench/*/test.jsonl"))
    assert s.sources[0].filters[1].benchmarks == [f"{bucket}/bench/*/test.jsonl"]
    for bad, model, field, words in [
        (f"{bucket}/bench/*/nothing.jsonl", "null", "sources[0].filters[1].benchmarks", "no such file"),
        (f"{bucket}/bench/gsm8k", "null", "sources[0].filters[1].benchmarks", "no such file"),   # a folder
        (f"{bucket}-gone/bench/*.jsonl", "null", "sources[0].filters[1].benchmarks", "no such bucket"),
        (f"{bucket}/bench/*/test.jsonl", f"{bucket}/lid.ftz", "sources[0].filters[0].model", "no such file"),
    ]:
        with pytest.raises(SpecError) as e:
            load_spec(spec(bad, model))
        assert len(e.value.problems) == 1, e.value.problems
        line = e.value.problems[0]
        assert f": {field}: " in line and words in line and "\n" not in line, line
