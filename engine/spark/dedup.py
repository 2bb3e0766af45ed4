"""Dedup on Spark: exact + MinHash LSH + connected components, deterministic.

    dedup(df, spec: DedupSpec) -> DataFrame

Input: the document columns (`id`, `text`, `source`, `kind`, `lang`, `url`, `meta`, ...), signal columns and
`reason` (null = still kept). Only rows with a null `reason` take part. Output: the same rows and columns plus

- `dup_cluster` (string): the id of the cluster's survivor. Every taking-part row has one: a singleton is its
  own cluster (`dup_cluster == id`). Null for rows that did not take part.
- `dup_cluster_size` (int64): documents in the cluster, 1 for singletons, null for rows that did not take part.
- `reason` = `duplicate:<survivor id>` for every removed copy, exact or near; the survivor keeps a null reason.

How (all DataFrame operations; the driver only ever sees "did anything change" scalars):

1. features, one `mapInArrow` pass over the taking-part rows: exact key = xxh3-128 of the text after NFKC,
   lowercase, whitespace collapsed and trimmed; MinHash signature (engine.dedup.minhash) cut into band keys.
2. exact: within (scope, key) every copy links to the group's smallest id (star edges). Only that smallest
   id goes on to MinHash: its copies follow it through the components. `exact_url` adds the same star edges
   over the URL (trimmed, fragment dropped): documents fetched from one URL count as copies whatever their text.
3. LSH: (scope, band, bucket) groups; every member links to the bucket's smallest id (star edges, never all
   pairs, so a bucket of 10^5 copies costs 10^5 edges).
4. verify (default on): candidates come from bands chosen for `threshold - 0.2` (engine.dedup.minhash.VERIFY_MARGIN);
   each candidate edge is kept only if the true Jaccard of the two shingle sets is >= threshold. Candidates
   are grouped by hub, so a hub's shingles are computed once and the texts are streamed, not held.
5. connected components of all edges: up to LOCAL_CC_MAX_EDGES distinct edges, in one task (scipy);
   above, alternating large-star / small-star (Kiveris et al. 2014) on DataFrames, lineage cut every round,
   until the edges form stars around each component's smallest id. Both give every node its component's
   smallest id.
6. survivor per component by `spec.keep`, ties (and missing values) by smallest id:
   - first: smallest id; quality: highest `keep_signal` (null last); source: order of `keep_sources`
     (unlisted sources after, in id order);
   - oldest / newest: the crawl date from `meta`: the first present of `$.date`, `$.crawl_date`,
     `$.warc_date` (ISO 8601, parsed with `try_to_timestamp`; unparseable or missing dates sort last).

Determinism: every choice is a min over ids or a total order ending in id, so clusters and survivors do not
depend on partitioning, executors or shuffle partitions. Ids must be unique among the taking-part rows.

`df` is read three times (features, texts of candidate pairs, final join): checkpoint it first if it is
expensive to recompute (the pipeline's stage checkpoints do).
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.dedup import minhash as mh
from engine.spark.ids import refuse_repeated_ids
from engine.spec import DedupSpec

DATE_KEYS = ("date", "crawl_date", "warc_date")
SCHEME = "affine32"          # datasketch 2.0's default: 32-bit signatures, half the bytes of affine64
MAX_CC_ROUNDS = 100          # large-star/small-star needs O(log^2 n) rounds; this is a safety net
# Up to this many distinct edges, components are found in one task (scipy over the edge list; measured
# 2.3 CPU-s and +220 MB peak for 1 M random edges on 1 M ids): one Spark job instead of 3 per
# large-star/small-star round, whose fixed costs dominate small and medium runs. Above it, the distributed rounds.
LOCAL_CC_MAX_EDGES = 2_000_000


# ---------------------------------------------------------------- entry point

def dedup(df: DataFrame, spec: DedupSpec) -> DataFrame:
    """`df` plus `dup_cluster` and `dup_cluster_size`, with `reason = duplicate:<survivor id>` on removed copies
    (see the module docstring). Lazy but for a few checkpoints: the work runs when the result is used."""
    ranks = _rank_columns(df, spec)
    active = df.where(F.col("reason").isNull())
    feats = _cut(_with_exact_hub(_features(active, spec, ranks), spec))
    refuse_repeated_ids(feats, "dedup")          # a repeated id would multiply rows in every join below
    edges = []
    if spec.exact:
        edges.append(feats.where(F.col("_text_hub") != F.col("id")).select(F.col("id").alias("src"),
                                                                          F.col("_text_hub").alias("dst")))
    if spec.exact_url:
        edges.append(_star_edges(feats.where(F.col("_url").isNotNull()), ["scope", "_url"]))
    if spec.minhash is not None:
        # one document per exact group goes to LSH: its copies follow it through the components
        first_copy = F.col("_text_hub").isNull() | (F.col("_text_hub") == F.col("id"))
        cands = _lsh_candidates(feats.where(F.col("_bands").isNotNull() & first_copy))
        if spec.minhash.verify:
            cands = _verify(_cut(cands), active, spec.minhash.threshold, spec.minhash.ngram)
        edges.append(cands.select("src", "dst"))

    clusters = None
    if edges:
        all_edges = edges[0]
        for e in edges[1:]:
            all_edges = all_edges.unionByName(e)
        comps = connected_components(all_edges)
        clusters = _survivors(comps, feats, [(name, asc) for name, _, asc in ranks])
    return _apply(df, clusters)


# ---------------------------------------------------------------- keep policy

def _rank_columns(df: DataFrame, spec: DedupSpec) -> list[tuple[str, object, bool]]:
    """(name, expression, ascending) sort keys that pick a cluster's survivor; id is always the last key."""
    keep = spec.keep
    if keep == "first":
        return []
    if keep == "quality":
        if not spec.keep_signal:
            raise ValueError("dedup.keep: quality needs dedup.keep_signal (the signal whose highest value survives)")
        if spec.keep_signal not in df.columns:
            raise ValueError(f"dedup.keep_signal: no column {spec.keep_signal!r} (columns: {', '.join(df.columns)})")
        v = F.col(spec.keep_signal).cast("double")
        return [("_rank_null", v.isNull().cast("int"), True), ("_rank_val", F.coalesce(v, F.lit(0.0)), False)]
    if keep == "source":
        if not spec.keep_sources:
            raise ValueError("dedup.keep: source needs dedup.keep_sources (a priority list of source names)")
        pos = F.array_position(F.array(*[F.lit(s) for s in spec.keep_sources]), F.col("source"))
        return [("_rank_val", F.when(pos > 0, pos).otherwise(F.lit(len(spec.keep_sources) + 1)).cast("long"), True)]
    if keep in ("oldest", "newest"):
        raw = F.coalesce(*[F.get_json_object(F.col("meta"), f"$.{k}") for k in DATE_KEYS])
        ts = F.unix_micros(F.try_to_timestamp(raw))
        return [("_rank_null", ts.isNull().cast("int"), True),
                ("_rank_val", F.coalesce(ts, F.lit(0)), keep == "oldest")]
    raise ValueError(f"dedup.keep: unknown policy {keep!r}")


# ---------------------------------------------------------------- 1. features (mapInArrow)

def _features(active: DataFrame, spec: DedupSpec, ranks) -> DataFrame:
    """id, scope, rank keys, `_url`, `_text_key` (binary, exact), `_bands` (array<bigint>, MinHash)."""
    scope = F.coalesce(F.col("source"), F.lit("")) if spec.scope == "source" else F.lit("")
    url = F.lit(None).cast("string")
    if spec.exact_url:
        u = F.regexp_replace(F.trim(F.col("url")), "#.*$", "")
        url = F.when(u != "", u)
    lang = F.col("lang") if "lang" in active.columns else F.lit(None).cast("string")
    src = active.select(F.col("id"), scope.alias("scope"), F.col("text"), lang.alias("lang"), url.alias("_url"),
                        *[expr.alias(name) for name, expr, _ in ranks])
    m = spec.minhash
    params = None
    if m is not None:
        bands, rows = mh.lsh_params(m.threshold, m.num_perm, m.bands, m.rows, verify=m.verify)
        params = (m.num_perm, m.seed, m.ngram, bands, rows)
    keep_cols = ["id", "scope", "_url", *[name for name, _, _ in ranks]]
    out_schema = T.StructType([src.schema[c] for c in keep_cols] + [
        T.StructField("_text_key", T.BinaryType()),
        T.StructField("_bands", T.ArrayType(T.LongType())),
    ])
    exact = spec.exact

    def run(batches):
        hasher = mh.MinHasher(params[0], params[1], SCHEME) if params else None
        for batch in batches:
            yield _features_batch(batch, keep_cols, exact, hasher, params)

    return src.mapInArrow(run, out_schema)


def _features_batch(batch: pa.RecordBatch, keep_cols, exact: bool, hasher, params) -> pa.RecordBatch:
    import xxhash

    n = batch.num_rows
    text = batch.column("text")
    norm = mh.normalize(text) if exact or hasher is not None else None
    cols = [batch.column(c) for c in keep_cols]
    if exact:
        # whitespace collapsed for the exact key only: shingles ignore whitespace anyway
        collapsed = pc.utf8_trim_whitespace(pc.replace_substring_regex(norm, r"[[:space:]]+", " "))
        digests = [xxhash.xxh3_128_digest(b) for b in collapsed.cast(pa.binary()).to_pylist()]
        text_key = pa.array(digests, pa.binary())
        text_key = pc.if_else(pc.is_null(text), pa.scalar(None, pa.binary()), text_key)
    else:
        text_key = pa.nulls(n, pa.binary())
    if hasher is not None:
        _, _, ngram, bands, rows = params
        sigs, n_sh = hasher.text_signatures(norm, mh.char_mode(batch.column("lang")), ngram, normalized=True)
        keys = mh.band_keys(sigs, bands, rows)
        offsets = pa.array(np.arange(0, (n + 1) * bands, bands, dtype=np.int32))
        # a document without shingles (empty text) has no signature to compare
        band_col = pa.ListArray.from_arrays(offsets, pa.array(keys.ravel()), mask=pa.array(n_sh == 0))
    else:
        band_col = pa.nulls(n, pa.list_(pa.int64()))
    return pa.RecordBatch.from_arrays(cols + [text_key, band_col], names=keep_cols + ["_text_key", "_bands"])


# ---------------------------------------------------------------- 2-3. exact groups, LSH buckets: star edges

def _with_exact_hub(feats: DataFrame, spec: DedupSpec) -> DataFrame:
    """`_text_hub`: the smallest id with the same exact key in the scope (null without exact dedup)."""
    if not spec.exact:
        return feats.withColumn("_text_hub", F.lit(None).cast("string"))
    hub = F.min("id").over(Window.partitionBy("scope", "_text_key"))
    return feats.withColumn("_text_hub", F.when(F.col("_text_key").isNotNull(), hub))


def _star_edges(rows: DataFrame, group: list[str]) -> DataFrame:
    """Within each group, every member -> the group's smallest id. One shuffle, and n - 1 edges per group."""
    hub = F.min("id").over(Window.partitionBy(*group))
    return rows.select(F.col("id").alias("src"), hub.alias("dst")).where(F.col("src") != F.col("dst"))


def _lsh_candidates(reps: DataFrame) -> DataFrame:
    """Candidate pairs as star edges: same (scope, band, bucket) -> linked to the bucket's smallest id."""
    buckets = reps.select("id", "scope", F.posexplode("_bands").alias("_band", "_bucket"))
    return _star_edges(buckets, ["scope", "_band", "_bucket"]).distinct()


# ---------------------------------------------------------------- 4. verify candidates by true Jaccard

def _verify(cands: DataFrame, active: DataFrame, threshold: float, ngram: int) -> DataFrame:
    """Keep the candidate edges whose shingle sets have Jaccard >= threshold.

    Rows are grouped by hub (the edge's smaller end): the hub's text first, then its members' texts, so one
    pass computes the hub's shingle set once and streams the members; memory is one hub's set per task.
    """
    lang = F.col("lang") if "lang" in active.columns else F.lit(None).cast("string")
    docs = active.select(F.col("id").alias("_doc"), "text", lang.alias("lang"))
    hubs = (cands.select(F.col("dst").alias("hub")).distinct()
            .join(docs, F.col("hub") == F.col("_doc"))
            .select("hub", F.lit(None).cast("string").alias("member"), "text", "lang"))
    members = (cands.join(docs, F.col("src") == F.col("_doc"))
               .select(F.col("dst").alias("hub"), F.col("src").alias("member"), "text", "lang"))
    rows = (hubs.unionByName(members).repartition("hub")
            .sortWithinPartitions("hub", F.col("member").asc_nulls_first()))

    def run(batches):
        state = {"hub": None, "set": None}
        for batch in batches:
            yield _verify_batch(batch, state, threshold, ngram)

    out = rows.mapInArrow(run, "src string, dst string, jaccard double")
    return out.where(F.col("jaccard") >= F.lit(threshold))


def _verify_batch(batch: pa.RecordBatch, state: dict, threshold: float, ngram: int) -> pa.RecordBatch:
    hubs = batch.column("hub").to_pylist()
    members = batch.column("member").to_pylist()
    hashes, offsets = mh.shingle_hashes(batch.column("text"), mh.char_mode(batch.column("lang")), ngram)
    src, dst, jac = [], [], []
    for i, (hub, member) in enumerate(zip(hubs, members)):
        shingles = np.unique(hashes[offsets[i]:offsets[i + 1]])
        if member is None:                       # the hub's own row comes first in its group
            state["hub"], state["set"] = hub, shingles
            continue
        if hub != state["hub"]:
            raise RuntimeError(f"dedup verify: rows of hub {hub!r} arrived before the hub itself")
        inter = len(np.intersect1d(state["set"], shingles, assume_unique=True))
        union = len(state["set"]) + len(shingles) - inter
        src.append(member)
        dst.append(hub)
        jac.append(inter / union if union else 0.0)
    return pa.RecordBatch.from_arrays([pa.array(src, pa.string()), pa.array(dst, pa.string()),
                                       pa.array(jac, pa.float64())], names=["src", "dst", "jaccard"])


# ---------------------------------------------------------------- 5. connected components

def connected_components(edges: DataFrame, max_rounds: int = MAX_CC_ROUNDS) -> DataFrame:
    """(src, dst) undirected edges -> (id, root) for every node on an edge; root = smallest id of its component.

    Up to `LOCAL_CC_MAX_EDGES` distinct edges: one task (`_local_components`). Otherwise alternating
    large-star and small-star (Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii: "Connected Components in
    MapReduce and Beyond", SoCC 2014). Edges are kept as (hi, lo) with hi > lo. Done when the
    graph is a forest of stars centred on each component's minimum: no node has two smaller neighbours, or a
    smaller and a larger one. That test comes from the same per-node aggregate large-star needs anyway;
    the driver only learns whether any node fails it.
    """
    e = _cut(edges.where(F.col("src") != F.col("dst"))
             .select(F.greatest("src", "dst").alias("hi"), F.least("src", "dst").alias("lo")).distinct())
    if e.count() <= LOCAL_CC_MAX_EDGES:
        return _cut(e.repartition(1).mapInArrow(_local_components, "id string, root string"))
    for _ in range(max_rounds):
        nbrs = e.select(F.col("hi").alias("u"), F.col("lo").alias("v")).unionByName(
            e.select(F.col("lo").alias("u"), F.col("hi").alias("v")))
        stats = _cut(nbrs.groupBy("u").agg(
            F.least(F.min("v"), F.col("u")).alias("m"),
            F.sum((F.col("v") < F.col("u")).cast("int")).alias("n_lo"),
            F.max((F.col("v") > F.col("u")).cast("int")).alias("has_hi")))
        if stats.where((F.col("n_lo") > 1) | ((F.col("n_lo") == 1) & (F.col("has_hi") == 1))).isEmpty():
            break
        e = _cut(_small_star(_large_star(nbrs, stats)))
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    return e.select(F.col("hi").alias("id"), F.col("lo").alias("root")).unionByName(
        e.select(F.col("lo").alias("id"), F.col("lo").alias("root")).distinct())


def _local_components(batches):
    """mapInArrow over all (hi, lo) edges in one task: (id, root) for every node, root = smallest id.

    Ids are ranked in byte order (Spark's string order), components come from scipy's connected_components,
    and each component's root is its smallest rank: the same answer as the distributed rounds."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    batches = list(batches)
    if not batches or not sum(b.num_rows for b in batches):
        return
    t = pa.Table.from_batches(batches)
    ends = pa.chunked_array(t.column("hi").chunks + t.column("lo").chunks).combine_chunks()
    enc = ends.dictionary_encode()
    ids = enc.dictionary
    order = pc.sort_indices(ids).to_numpy()                    # binary order of UTF-8 bytes, as Spark's
    rank = np.empty(len(ids), np.int64)
    rank[order] = np.arange(len(ids))
    node = rank[enc.indices.to_numpy()]
    m = t.num_rows
    n = len(ids)
    graph = coo_matrix((np.ones(m, np.int8), (node[:m], node[m:])), shape=(n, n))
    _, label = scipy_components(graph, directed=False)
    root = np.full(label.max() + 1, n, np.int64)
    np.minimum.at(root, label, np.arange(n))                   # nodes are numbered by rank: min = smallest id
    sorted_ids = pc.array_take(ids, pa.array(order))
    step = 1 << 16
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        roots = pc.array_take(sorted_ids, pa.array(root[label[lo:hi]]))
        yield pa.RecordBatch.from_arrays([sorted_ids.slice(lo, hi - lo), roots], names=["id", "root"])


def _large_star(nbrs: DataFrame, stats: DataFrame) -> DataFrame:
    """Each node u hands its larger neighbours to the smallest node of its neighbourhood m(u)."""
    return (nbrs.where(F.col("v") > F.col("u")).join(stats.select("u", "m"), "u")
            .select(F.col("v").alias("hi"), F.col("m").alias("lo")))


def _small_star(e: DataFrame) -> DataFrame:
    """Each node u links itself and its smaller neighbours to the smallest of them."""
    m = F.min("lo").over(Window.partitionBy("hi"))
    e = e.select("hi", "lo", m.alias("m"))
    return (e.select(F.col("hi"), F.col("m").alias("lo"))
            .unionByName(e.where(F.col("lo") != F.col("m")).select(F.col("lo").alias("hi"), F.col("m").alias("lo")))
            .distinct())


# ---------------------------------------------------------------- 6. survivors, output

def _survivors(comps: DataFrame, feats: DataFrame, ranks: list[tuple[str, bool]]) -> DataFrame:
    """(id, dup_cluster, dup_cluster_size) for every document in a non-trivial component."""
    order = [F.col(name).asc() if ascending else F.col(name).desc() for name, ascending in ranks]
    order.append(F.col("id").asc())
    members = comps.join(feats.select("id", *[name for name, _ in ranks]), "id")
    w_all = Window.partitionBy("root")
    return members.select(
        "id",
        F.first("id").over(w_all.orderBy(*order)).alias("dup_cluster"),
        F.count(F.lit(1)).over(w_all).cast("long").alias("dup_cluster_size"))


def _apply(df: DataFrame, clusters: DataFrame | None) -> DataFrame:
    base = df.drop("dup_cluster", "dup_cluster_size")
    cols = base.columns
    taking_part = F.col("reason").isNull()
    if clusters is None:
        cluster, size = F.col("id"), F.lit(1).cast("long")
        joined = base
    else:
        c = clusters.select(F.col("id").alias("_c_id"), F.col("dup_cluster").alias("_c_cluster"),
                            F.col("dup_cluster_size").alias("_c_size"))
        joined = base.join(c, (base["id"] == c["_c_id"]) & base["reason"].isNull(), "left")
        cluster = F.coalesce(F.col("_c_cluster"), F.col("id"))
        size = F.coalesce(F.col("_c_size"), F.lit(1).cast("long"))
    cluster = F.when(taking_part, cluster)
    reason = F.when(taking_part & (cluster != F.col("id")), F.concat(F.lit("duplicate:"), cluster)) \
        .otherwise(F.col("reason"))
    return joined.select(*[reason.alias("reason") if c == "reason" else F.col(c) for c in cols],
                         cluster.alias("dup_cluster"), F.when(taking_part, size).alias("dup_cluster_size"))


def _cut(df: DataFrame) -> DataFrame:
    """Materialize and truncate the lineage (iterations would otherwise grow the plan every round).

    A reliable checkpoint when the session has a checkpoint dir (survives executor loss), else a local one.
    """
    sc = df.sparkSession.sparkContext
    if sc.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


# ---------------------------------------------------------------- estimate for `tamis plan`

def estimate(spec: DedupSpec, n_docs: int | None = None, text_bytes: int | None = None, *,
             sample: DataFrame | None = None, sample_fraction: float = 1.0, dup_fraction: float = 0.1,
             records_per_batch: int = 10_000, shuffle_partitions: int | None = None) -> dict:
    """Rough sizes of dedup's shuffles and memory, for `tamis plan`. No document is read unless `sample` is given.

    n_docs, text_bytes: the documents taking part and their UTF-8 text bytes; or `sample`, a DataFrame of
    documents (with `text`, optionally `reason`) that is `sample_fraction` of the input: one aggregate job
    counts it and the figures are scaled up. `dup_fraction`: the share of documents expected in candidate
    pairs (web crawls: 0.1-0.4). Byte figures follow Spark's UnsafeRow layout (8 bytes per field plus
    variable data), before shuffle compression. Returns a dict of figures (ints, bytes unless named *_mb).
    """
    if sample is not None:
        s = sample.where(F.col("reason").isNull()) if "reason" in sample.columns else sample
        row = s.agg(F.count(F.lit(1)).alias("n"), F.sum(F.octet_length("text")).alias("b")).first()
        n_docs = int(round((row["n"] or 0) / sample_fraction))
        text_bytes = int(round((row["b"] or 0) / sample_fraction))
    if n_docs is None or text_bytes is None:
        raise ValueError("estimate needs n_docs and text_bytes, or a sample DataFrame")
    n, avg = max(0, int(n_docs)), (text_bytes / n_docs if n_docs else 0.0)
    m = spec.minhash
    bands = rows = num_perm = 0
    if m is not None:
        bands, rows = mh.lsh_params(m.threshold, m.num_perm, m.bands, m.rows, verify=m.verify)
        num_perm = m.num_perm
    id_b, row_hdr = 40, 8                         # a 32-char id in an UnsafeRow; null bitset
    feature_row = row_hdr + 8 * 7 + 2 * id_b + 16 + 24 + (16 + 8 * bands if m else 0)
    out = {"docs": n, "text_bytes": int(text_bytes), "bands": bands, "rows": rows, "num_perm": num_perm,
           "features_bytes": n * feature_row}
    out["exact_shuffle_bytes"] = n * feature_row if spec.exact else 0      # the exact-key window
    out["url_shuffle_bytes"] = n * (row_hdr + 24 + id_b + 64) if spec.exact_url else 0
    band_row = row_hdr + 8 * 4 + id_b + 8
    out["signature_bytes"] = n * num_perm * 4     # computed in the Python workers, never shuffled
    out["band_key_shuffle_bytes"] = n * bands * band_row
    edge_row = row_hdr + 16 + 2 * id_b
    cand = int(n * dup_fraction * 1.5) if m else 0
    exact_edges = int(n * dup_fraction * 0.5) if spec.exact else 0
    out["candidate_edges"] = cand
    out["candidate_edge_bytes"] = cand * edge_row
    out["verify_shuffle_bytes"] = int(cand * 1.3 * (avg + row_hdr + 32 + 2 * id_b)) if m and m.verify else 0
    edges = cand + exact_edges
    rounds = 2 + max(1, math.ceil(math.log2(max(2, n * dup_fraction))) // 4)
    out["cc_rounds"] = rounds
    out["cc_shuffle_bytes"] = edges * edge_row * 5 * rounds   # both directions, join, window, distinct
    out["final_join_shuffle_bytes"] = int(text_bytes + n * 256)
    keys = ["exact_shuffle_bytes", "url_shuffle_bytes", "band_key_shuffle_bytes", "candidate_edge_bytes",
            "verify_shuffle_bytes", "cc_shuffle_bytes", "final_join_shuffle_bytes"]
    out["total_shuffle_bytes"] = sum(out[k] for k in keys)
    # Python worker: one Arrow batch (input, normalized copy, exact-key copy) + 1 MB text slices of numpy
    # work (~60 bytes per text byte) + the batch's signatures
    batch_bytes = min(n, records_per_batch) * avg
    worker = 3 * batch_bytes + 60 * (1 << 20) + min(n, records_per_batch) * (num_perm * 4 + bands * 8) + 150e6
    out["python_worker_mb"] = int(worker / 1e6)
    biggest = max(out["band_key_shuffle_bytes"], out["verify_shuffle_bytes"], out["final_join_shuffle_bytes"])
    parts = shuffle_partitions or max(1, math.ceil(biggest / 128e6))
    out["shuffle_partitions"] = parts
    # per executor core: a shuffle partition in memory twice (sort + window buffers), at least 512 MB
    out["executor_memory_per_core_mb"] = int(max(512e6, 2 * biggest / parts + 256e6) / 1e6)
    return out
