"""engine.spark.dedup (and engine.spark.components) on the shared Spark session: semantics, keep policies, determinism, real near-duplicates,
parity with datasketch's MinHashLSH, connected components."""
from __future__ import annotations

import contextlib
import gzip
import html
import itertools
import json
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from engine.dedup import minhash as mh
from engine.dedup import shingles as sh
from engine.spec import DedupSpec, MinHashSpec
from tests.conftest import shared_data
from tests.minhash_reference import reference_hash32, reference_shingles

pytestmark = pytest.mark.spark

COLS = "id string, text string, source string, kind string, lang string, url string, meta string, " \
       "quality_score double, reason string"


# ---------------------------------------------------------------- helpers

class UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def cluster_pairs(groups) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for members in groups for p in itertools.combinations(sorted(members), 2)}


def groups_of(rows, key="dup_cluster") -> list[list[str]]:
    out = {}
    for r in rows:
        if r[key] is not None:
            out.setdefault(r[key], []).append(r["id"])
    return list(out.values())


@contextlib.contextmanager
def shuffle_partitions(spark, n: int):
    old = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", str(n))
    try:
        yield
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", old)


def run(df, spec, cols=("id", "reason", "dup_cluster", "dup_cluster_size")):
    from engine.spark.dedup import dedup

    return sorted((tuple(r) for r in dedup(df, spec).select(*cols).collect()), key=lambda r: r[0])


def se_posts(n: int, min_chars: int = 500) -> list[tuple[str, str, str]]:
    """(post id, text, creation date) of real Stack Exchange posts with some length."""
    path = shared_data("stackexchange", "beer.stackexchange.com", "Posts.xml")
    out = []
    for _, el in ET.iterparse(path):
        if el.tag == "row":
            text = html.unescape(re.sub(r"<[^>]+>", " ", el.get("Body", "")))
            text = re.sub(r"[ \t]+", " ", text).strip()
            if len(text) >= min_chars:
                out.append((el.get("Id"), text, el.get("CreationDate")))
            if len(out) == n:
                break
            el.clear()
    return out


def mutate(text: str, rate: float, rnd: random.Random) -> str:
    words = text.split(" ")
    for i in range(len(words)):
        if rnd.random() < rate:
            words[i] = rnd.choice(["foo", "bar", "lorem", "ipsum", "hop", "malt", "yeast"])
    return " ".join(words)


# ---------------------------------------------------------------- a corpus of real posts with known duplicates

@pytest.fixture(scope="module")
def corpus(spark):
    rnd = random.Random(11)
    posts = se_posts(60)
    rows = []
    for k, (pid, text, date) in enumerate(posts):
        meta = json.dumps({"date": date})
        rows.append((f"p{int(pid):05d}", text, "se", "qa", "en", None, meta, None, None))
        if k < 10:      # exact copies after normalization: case, whitespace, NFKC (full-width comma)
            rows.append((f"x{k:03d}", "  " + text.upper().replace(" ", "   ").replace(",", "，"), "web", "web",
                         "en", None, None, None, None))
        elif k < 25:    # near copies with a few words changed (Jaccard from ~0.5 to ~0.95)
            rows.append((f"n{k:03d}", mutate(text, [0.005, 0.01, 0.03, 0.06, 0.12][k % 5], rnd), "web", "web",
                         "en", None, None, None, None))
        elif k < 30:    # chains: a -> b -> c, each step a small edit
            b = mutate(text, 0.01, rnd)
            rows.append((f"c{k:03d}a", b, "web", "web", "en", None, None, None, None))
            rows.append((f"c{k:03d}b", mutate(b, 0.01, rnd), "web", "web", "en", None, None, None, None))
        elif k < 33:    # filtered earlier: must not take part, must come out untouched
            rows.append((f"f{k:03d}", text, "web", "web", "en", None, None, None, "lang:drop"))
    rows.append(("e001", "", "web", "web", "en", None, None, None, None))
    rows.append(("e002", None, "web", "web", "en", None, None, None, None))
    df = spark.createDataFrame(rows, COLS)
    return rows, df


def expected_groups(rows, threshold=0.8) -> list[list[str]]:
    """Ground truth by brute force: exact normalized text, or true 5-gram Jaccard >= threshold, closed
    transitively."""
    live = [r for r in rows if r[8] is None]
    ids = [r[0] for r in live]
    texts = [r[1] for r in live]
    hashes, offsets = sh.shingle_hashes(texts)
    sets = [np.unique(hashes[offsets[i]:offsets[i + 1]]) for i in range(len(live))]
    norm = [" ".join(sh.normalize([t or ""])[0].as_py().split()) if t is not None else None for t in texts]
    uf = UnionFind()
    for i, j in itertools.combinations(range(len(live)), 2):
        if norm[i] is not None and norm[i] == norm[j]:
            uf.union(ids[i], ids[j])
        elif len(sets[i]) and len(sets[j]) and mh.jaccard(sets[i], sets[j]) >= threshold:
            uf.union(ids[i], ids[j])
    out = {}
    for i in ids:
        out.setdefault(uf.find(i), []).append(i)
    return list(out.values())


@pytest.fixture(scope="module")
def baseline(spark, corpus):
    rows, df = corpus
    from engine.spark.dedup import dedup

    spec = DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8))
    out = dedup(df, spec)
    return out, [r.asDict() for r in out.collect()]


def test_output_contract(corpus, baseline):
    rows, df = corpus
    out, got = baseline
    assert out.columns == df.columns + ["dup_cluster", "dup_cluster_size"]
    types = dict(out.dtypes)
    assert types["dup_cluster"] == "string" and types["dup_cluster_size"] == "bigint"
    assert len(got) == len(rows)
    original = {r[0]: r for r in rows}
    for r in got:
        src = original[r["id"]]
        assert r["text"] == src[1] and r["source"] == src[2]          # other columns untouched
        if src[8] is not None:                                       # did not take part
            assert (r["reason"], r["dup_cluster"], r["dup_cluster_size"]) == (src[8], None, None)
        elif r["dup_cluster"] == r["id"]:                            # survivor or singleton
            assert r["reason"] is None and r["dup_cluster_size"] >= 1
        else:                                                        # a removed copy
            assert r["reason"] == f"duplicate:{r['dup_cluster']}" and r["dup_cluster_size"] >= 2
    sizes = {}
    for r in got:
        if r["dup_cluster"] is not None:
            sizes[r["dup_cluster"]] = sizes.get(r["dup_cluster"], 0) + 1
    assert all(r["dup_cluster_size"] == sizes[r["dup_cluster"]] for r in got if r["dup_cluster"] is not None)


def test_clusters_match_brute_force_truth(corpus, baseline):
    rows, _ = corpus
    _, got = baseline
    truth = cluster_pairs(expected_groups(rows))
    pred = cluster_pairs(groups_of(got))
    assert len(truth) >= 30
    tp = len(truth & pred)
    assert tp / len(pred) == 1.0, sorted(pred - truth)[:5]
    assert tp / len(truth) >= 0.98, sorted(truth - pred)[:5]
    by_id = {r["id"]: r for r in got}
    for k in range(10):                                  # every exact copy found, the post (smaller id) survives
        assert by_id[f"x{k:03d}"]["reason"].startswith("duplicate:p")
    assert by_id["c025b"]["dup_cluster"] == by_id["c025a"]["dup_cluster"]     # chains close transitively
    assert by_id["e001"]["dup_cluster_size"] == 1 and by_id["e002"]["dup_cluster_size"] == 1


def test_keep_first_survivor_is_smallest_id(baseline):
    _, got = baseline
    for members in groups_of(got):
        survivors = [m for m in members if next(r for r in got if r["id"] == m)["reason"] is None]
        assert survivors == [min(members)]


def test_deterministic_across_partitions_and_input_order(spark, corpus, baseline):
    from pyspark.sql import functions as F

    _, df = corpus
    _, got = baseline
    want = sorted((r["id"], r["reason"], r["dup_cluster"], r["dup_cluster_size"]) for r in got)
    spec = DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8))
    inputs = {1: df.coalesce(1),
              2: df.repartition(5, "text").sortWithinPartitions(F.col("id").desc()),
              8: df.orderBy(F.xxhash64("id")).repartition(3)}
    for n, d in inputs.items():
        with shuffle_partitions(spark, n):
            assert run(d, spec) == want, f"shuffle partitions {n}"


# ---------------------------------------------------------------- keep policies, scope, url

@pytest.fixture(scope="module")
def copies(spark):
    """One exact-duplicate group of four, differing in source, quality and crawl date."""
    text = "the same words in every copy of this little document, five words make a shingle"
    rows = [
        ("d1", text, "web", "web", "en", "http://a.example/x", json.dumps({"date": "2021-05-01T00:00:00Z"}), 0.2, None),
        ("d2", text.upper(), "books", "text", "en", "http://b.example/y", json.dumps({"crawl_date": "2019-01-01"}),
         0.9, None),
        ("d3", text + "  ", "wiki", "text", "en", None, json.dumps({"warc_date": "2023-07-01T10:00:00Z"}), None, None),
        ("d4", text, "web", "web", "en", "http://a.example/x#top", "not json", 0.9, None),
        ("d5", "an unrelated document that shares no five word shingle with the others at all", "web", "web",
         "en", "http://a.example/x", None, 0.5, None),
    ]
    return spark.createDataFrame(rows, COLS)


@pytest.mark.parametrize("keep,extra,survivor", [
    ("first", {}, "d1"),
    ("quality", {"keep_signal": "quality_score"}, "d2"),          # 0.9 tie with d4 -> smaller id
    ("source", {"keep_sources": ["wiki", "books"]}, "d3"),
    ("oldest", {}, "d2"),                                          # 2019 via $.crawl_date
    ("newest", {}, "d3"),                                          # 2023 via $.warc_date; bad meta sorts last
])
def test_keep_policies(copies, keep, extra, survivor):
    got = {r[0]: r for r in run(copies, DedupSpec(exact=True, keep=keep, **extra))}
    assert got[survivor][1] is None
    for i in ("d1", "d2", "d3", "d4"):
        assert got[i][2] == survivor and got[i][3] == 4
        if i != survivor:
            assert got[i][1] == f"duplicate:{survivor}"
    assert got["d5"][1:] == (None, "d5", 1)


def test_keep_policy_needs_its_setting(copies):
    from engine.spark.dedup import dedup

    with pytest.raises(ValueError, match="keep_signal"):
        dedup(copies, DedupSpec(keep="quality"))
    with pytest.raises(ValueError, match="no column"):
        dedup(copies, DedupSpec(keep="quality", keep_signal="nope"))


def test_scope_source_and_exact_url(copies):
    got = {r[0]: r for r in run(copies, DedupSpec(exact=True, scope="source"))}
    assert got["d1"][2:] == ("d1", 2) and got["d4"][1:] == ("duplicate:d1", "d1", 2)   # both `web`
    assert got["d2"][2:] == ("d2", 1) and got["d3"][2:] == ("d3", 1)
    # exact_url: d5 shares d1's URL (the fragment of d4's is dropped): one cluster of five
    got = {r[0]: r for r in run(copies, DedupSpec(exact=True, exact_url=True))}
    assert {r[2] for r in got.values()} == {"d1"} and got["d5"][1] == "duplicate:d1"
    got = {r[0]: r for r in run(copies, DedupSpec(exact=False, exact_url=True))}
    assert got["d5"][2] == "d1" and got["d2"][2:] == ("d2", 1)


def test_no_dedup_configured_still_adds_columns(copies):
    got = run(copies, DedupSpec(exact=False))
    assert all(r[1] is None and r[2] == r[0] and r[3] == 1 for r in got)


# ---------------------------------------------------------------- real near-duplicates: vendored code

def vendored_frame(spark):
    path = shared_data("neardup", "vendored_python_code", "vendored_code_docs.jsonl.gz")
    docs = sorted((json.loads(l) for l in gzip.open(path, "rt")), key=lambda d: d["doc_id"])
    rows = [(f"v{d['doc_id']:04d}", d["content"], "vendored", "code", None, None, None, None, None) for d in docs]
    return docs, spark.createDataFrame(rows, COLS)


def vendored_truth(docs):
    """Pairwise Jaccard of the set's own definition (5-grams of `\\w+|[^\\w\\s]` tokens, as its
    vendored_code_pairs.jsonl), for all pairs; two empty files count as identical."""
    import scipy.sparse as sp

    tok = re.compile(r"\w+|[^\w\s]")
    vocab, ri, ci = {}, [], []
    for i, d in enumerate(docs):
        w = tok.findall(d["content"])
        for s in {tuple(w[k:k + 5]) for k in range(max(1, len(w) - 4))} if w else ():
            ri.append(i)
            ci.append(vocab.setdefault(s, len(vocab)))
    a = sp.csr_matrix((np.ones(len(ri)), (ri, ci)), shape=(len(docs), len(vocab)))
    inter = (a @ a.T).toarray()
    size = np.asarray(a.sum(1)).ravel()
    union = size[:, None] + size[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def test_vendored_code_precision_recall(spark):
    """Positives: pairs with Jaccard >= 0.8; negatives: < 0.6 (pairs between do not count).
    Measured with verify on: precision 1.0, recall 1.0 (130 positive pairs); verify off: recall 0.92."""
    docs, df = vendored_frame(spark)
    jac = vendored_truth(docs)
    ids = [f"v{d['doc_id']:04d}" for d in docs]
    # the labelled pairs file agrees with this definition
    for line in open(shared_data("neardup", "vendored_python_code", "vendored_code_pairs.jsonl")):
        p = json.loads(line)
        assert abs(jac[ids.index(f"v{p['doc_a']:04d}"), ids.index(f"v{p['doc_b']:04d}")]
                   - p["jaccard_5gram_tokens"]) < 1e-3
    iu = np.triu_indices(len(ids), 1)
    pos = {(ids[a], ids[b]) for a, b in zip(*iu) if jac[a, b] >= 0.8}
    neg = {(ids[a], ids[b]) for a, b in zip(*iu) if jac[a, b] < 0.6}
    got = run(df, DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8, verify=True)))
    pred = cluster_pairs(groups_of([dict(zip(("id", "reason", "dup_cluster", "dup_cluster_size"), r)) for r in got]))
    tp, fp = len(pred & pos), len(pred & neg)
    precision, recall = tp / max(1, tp + fp), tp / len(pos)
    assert len(pos) >= 100
    assert precision >= 0.99 and recall >= 0.99, (precision, recall, sorted(pos - pred)[:5], sorted(pred & neg)[:5])


def test_pairs_agree_with_datasketch_minhashlsh(spark):
    """verify off, datasketch's bands x rows for the threshold: our clusters' pairs vs the transitive
    closure of MinHashLSH.query over datasketch MinHashes of the same shingles (same hash)."""
    from datasketch import MinHash, MinHashLSH

    docs, df = vendored_frame(spark)
    b, r = mh.lsh_params(0.8, 128)
    got = run(df, DedupSpec(exact=False, minhash=MinHashSpec(threshold=0.8, verify=False, bands=b, rows=r)))
    ours = cluster_pairs(groups_of([dict(zip(("id", "reason", "dup_cluster", "dup_cluster_size"), x)) for x in got]))
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert (lsh.b, lsh.r) == (b, r)
    sketches = {}
    for d in docs:
        shingles = reference_shingles(d["content"])
        if not shingles:
            continue
        m = MinHash(num_perm=128, hashfunc=reference_hash32)
        m.update_batch(shingles)
        key = f"v{d['doc_id']:04d}"
        sketches[key] = m
        lsh.insert(key, m)
    uf = UnionFind()
    for key, m in sketches.items():
        for other in lsh.query(m):
            uf.union(key, other)
    groups = {}
    for key in sketches:
        groups.setdefault(uf.find(key), []).append(key)
    theirs = cluster_pairs(groups.values())
    agreement = len(ours & theirs) / len(ours | theirs)
    assert len(theirs) > 50 and agreement >= 0.99, (agreement, sorted(ours ^ theirs)[:5])


# ---------------------------------------------------------------- connected components

@pytest.mark.parametrize("local_max", [0, 10 ** 6], ids=["distributed", "one-task"])
def test_connected_components_match_union_find(spark, monkeypatch, local_max):
    from engine.spark import components

    monkeypatch.setattr(components, "LOCAL_CC_MAX_EDGES", local_max)
    connected_components = components.connected_components
    rnd = random.Random(7)
    # ids in byte order differ from code point order and from case-folded order: Spark compares UTF-8 bytes
    ids = [f"{rnd.choice(['n', 'N', 'é', 'z', '😀'])}{rnd.randrange(10 ** 9):09d}" for _ in range(400)]
    edges = []
    path = ids[:120]                                # a long path in random id order: the slow case
    edges += list(zip(path, path[1:]))
    edges += [(ids[120], x) for x in ids[121:160]]  # a star
    rest = ids[160:]
    edges += [(rnd.choice(rest), rnd.choice(rest)) for _ in range(150)]   # random sparse graph, self loops too
    df = spark.createDataFrame(edges, "src string, dst string")
    got = dict(connected_components(df).collect())
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    nodes = {x for e in edges if e[0] != e[1] for x in e}     # self loops alone make no component
    assert got == {x: uf.find(x) for x in nodes}              # this union-find's root is the smallest id


def test_dedup_same_clusters_on_both_component_paths(spark, corpus, monkeypatch):
    from engine.spark import components, dedup

    _, df = corpus
    spec = DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8))
    results = []
    monkeypatch.setattr(dedup, "LOCAL_MAX_DOCS", -1)     # the distributed stages, whose components this compares
    for local_max in (0, 10 ** 6):
        monkeypatch.setattr(components, "LOCAL_CC_MAX_EDGES", local_max)
        results.append(sorted(dedup.dedup(df, spec).select("id", "reason", "dup_cluster", "dup_cluster_size")
                              .collect()))
    assert results[0] == results[1]
    assert sum(1 for r in results[0] if (r["reason"] or "").startswith("duplicate:")) > 0


# ---------------------------------------------------------------- plan figures, no collect

def test_estimate(spark, corpus):
    from engine.spark.dedup import estimate

    spec = DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8))
    small, big = estimate(spec, 1_000_000, 4_000_000_000), estimate(spec, 4_000_000, 16_000_000_000)
    assert small["bands"] * small["rows"] <= 128
    for k in ("band_key_shuffle_bytes", "verify_shuffle_bytes", "total_shuffle_bytes"):
        assert 0 < small[k] < big[k]
    assert small["python_worker_mb"] > 100 and small["executor_memory_per_core_mb"] >= 512
    _, df = corpus
    sampled = estimate(spec, sample=df, sample_fraction=0.5)
    assert sampled["docs"] == 2 * df.where("reason is null").count()


def test_dedup_never_collects_documents_or_edges():
    spark_dir = Path(__file__).resolve().parent.parent / "engine" / "spark"
    src = "".join((spark_dir / name).read_text() for name in ("dedup.py", "components.py"))
    for banned in (".collect(", "toPandas(", "toLocalIterator(", ".take(", ".rdd"):
        assert banned not in src, banned
    # the only driver-side reads: the edge count, an emptiness check per round, the estimate's aggregate row
    assert src.count(".isEmpty()") == 1 and src.count(".first()") == 1 and src.count(".count()") == 1


# ---------------------------------------------------------------- small inputs: steps 1-5 in one task

@pytest.mark.parametrize("spec", [
    DedupSpec(exact=True, minhash=MinHashSpec(threshold=0.8)),
    DedupSpec(exact=False, exact_url=True, scope="source", minhash=MinHashSpec(threshold=0.7, verify=False)),
], ids=["exact+verified", "url+unverified+per-source"])
def test_one_task_dedup_gives_the_distributed_clusters(spark, corpus, monkeypatch, spec):
    """engine.dedup.local (small inputs) and the distributed steps store the same (id, root) rows."""
    from pyspark.sql import functions as F

    from engine.spark import dedup

    _, df = corpus
    df = df.withColumn("url", F.when(F.col("id").startswith("c"), F.lit(" http://a.example/p#x"))
                       .when(F.col("id").startswith("x00"), F.lit("http://a.example/p")))
    got = {}
    for name, local_max in (("one task", 10 ** 6), ("distributed", 0)):
        monkeypatch.setattr(dedup, "LOCAL_MAX_DOCS", local_max)
        got[name] = sorted(tuple(r) for r in dedup.dedup_clusters(df, spec).collect())
    assert got["one task"] == got["distributed"]
    assert len(got["one task"]) > 10
