"""Dedup on Spark: exact + MinHash LSH + connected components, deterministic.

    dedup(df, spec: DedupSpec) -> DataFrame          = apply_dedup(df, dedup_clusters(df, spec), spec)

The pipeline (engine/run.py) stores `dedup_clusters` (steps 1-5) computed over every readable document,
before any threshold, and runs `apply_dedup` (step 6) after the decisions, over the documents still kept:
so a threshold edit reuses the clusters.

Input: the document columns (`id`, `text`, `source`, `kind`, `lang`, `url`, `meta`, ...), signal columns and
`reason` (null = still kept). Only rows with a null `reason` take part. Output: the same rows and columns plus

- `dup_cluster` (string): the id of the cluster's survivor. Every taking-part row has one: a singleton is its
  own cluster (`dup_cluster == id`). Null for rows that did not take part.
- `dup_cluster_size` (int64): documents in the cluster, 1 for singletons, null for rows that did not take part.
- `reason` = `duplicate:<survivor id>` for every removed copy, exact or near; the survivor keeps a null reason.

How (all DataFrame operations; the driver only ever sees "did anything change" scalars):

1. features, one `mapInArrow` pass over the taking-part rows: exact key = xxh3-128 of the text after NFKC,
   lowercase, whitespace collapsed and trimmed; MinHash signature (engine.dedup.minhash) cut into band keys
   (the per-batch work: engine.dedup.batches).
2. exact: within (scope, key) every copy links to the group's smallest id (star edges). Only that smallest
   id goes on to MinHash: its copies follow it through the components. `exact_url` adds the same star edges
   over the URL (trimmed, fragment dropped): documents fetched from one URL count as copies whatever their text.
3. LSH: (scope, band, bucket) groups; every member links to the bucket's smallest id (star edges, never all
   pairs, so a bucket of 10^5 copies costs 10^5 edges).
4. verify (default on): candidates come from bands chosen for `threshold - 0.2` (engine.dedup.minhash.VERIFY_MARGIN);
   each candidate edge is kept only if the true Jaccard of the two shingle sets is >= threshold. Candidates
   are grouped by hub, so a hub's shingles are computed once and the texts are streamed, not held.
5. connected components of all edges (engine.spark.components): up to LOCAL_CC_MAX_EDGES distinct edges,
   in one task (scipy); above, alternating large-star / small-star (Kiveris et al. 2014) on DataFrames,
   lineage cut every round, until the edges form stars around each component's smallest id. Both give every
   node its component's smallest id.
6. survivor per component by `spec.keep`, ties (and missing values) by smallest id:
   - first: smallest id; quality: highest `keep_signal` (null last); source: order of `keep_sources`
     (unlisted sources after, in id order);
   - oldest / newest: the crawl date from `meta`: the first present of `$.date`, `$.crawl_date`,
     `$.warc_date` (ISO 8601, parsed with `try_to_timestamp`; unparseable or missing dates sort last).

Small inputs (up to LOCAL_MAX_DOCS documents and LOCAL_MAX_TEXT_BYTES of text taking part, one aggregate
decides): steps 1-5 run in one task (engine/dedup/local.py, the same edges, so the same clusters) instead of
~20 small Spark jobs whose fixed costs dominate small and medium runs. Step 6 broadcasts the cluster members
when the pipeline knows they are few (the stored stage's row count), so the documents are never shuffled.

Determinism: every choice is a min over ids or a total order ending in id, so clusters and survivors do not
depend on partitioning, executors or shuffle partitions. Ids must be unique among the taking-part rows.

`df` is read three times (features, texts of candidate pairs, final join): checkpoint it first if it is
expensive to recompute (the pipeline's stage checkpoints do).
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.dedup import minhash as mh
from engine.dedup.batches import SCHEME, features_batch, verify_batch
from engine.dedup.estimate import dedup_sizes
from engine.spark.components import connected_components, cut
from engine.spark.ids import refuse_repeated_ids
from engine.spec import DedupSpec

DATE_KEYS = ("date", "crawl_date", "warc_date")
# Cluster members (id, root) up to this many are broadcast to the documents' tasks (~100 bytes each)
BROADCAST_MAX_MEMBERS = 1_000_000
# Up to this many documents taking part (and text bytes), steps 1-5 run in one task (engine.dedup.local):
# a few seconds of one core at most, against ~20 Spark jobs' fixed costs (figures: bench/bench_startup.py)
LOCAL_MAX_DOCS = 50_000
LOCAL_MAX_TEXT_BYTES = 64 * 1024 * 1024


# ---------------------------------------------------------------- entry point

def dedup(df: DataFrame, spec: DedupSpec) -> DataFrame:
    """`df` plus `dup_cluster` and `dup_cluster_size`, with `reason = duplicate:<survivor id>` on removed copies
    (see the module docstring). Lazy but for a few checkpoints: the work runs when the result is used."""
    return apply_dedup(df, dedup_clusters(df, spec), spec)


def dedup_clusters(df: DataFrame, spec: DedupSpec) -> DataFrame:
    """(id, root) of every document of `df` taking part (null `reason`) that is in a cluster of two or more;
    root = the cluster's smallest id. Steps 1-5: what the pipeline stores, computed over every readable
    document before any threshold, so a threshold edit reuses it (survivors: `apply_dedup`)."""
    active = df.where(F.col("reason").isNull())
    if not (spec.exact or spec.exact_url or spec.minhash is not None):
        return df.sparkSession.createDataFrame([], "id string, root string")
    if _small(active):
        return _local_clusters(active, spec)
    feats = cut(_with_exact_hub(_features(active, spec, []), spec))
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
            cands = _verify(cut(cands), active, spec.minhash.threshold, spec.minhash.ngram)
        edges.append(cands.select("src", "dst"))
    if not edges:
        return df.sparkSession.createDataFrame([], "id string, root string")
    all_edges = edges[0]
    for e in edges[1:]:
        all_edges = all_edges.unionByName(e)
    return connected_components(all_edges)


def apply_dedup(df: DataFrame, comps: DataFrame, spec: DedupSpec, members: int | None = None) -> DataFrame:
    """Step 6 over `comps` (`dedup_clusters`): in each cluster, the documents of `df` still kept (null
    `reason`) take part and the best of them by `spec.keep` survives. `members`: the rows of `comps` when
    known (a stored stage's manifest): few enough, they are broadcast."""
    ranks = _rank_columns(df, spec)
    kept = df.where(F.col("reason").isNull()).select("id", *[expr.alias(name) for name, expr, _ in ranks])
    # Clustered documents are usually few: broadcast them, so the documents are joined where they are
    # instead of shuffled by id twice (the members join, then the final one).
    small = members is not None and members <= BROADCAST_MAX_MEMBERS
    members = kept.join(F.broadcast(comps), "id") if small else comps.join(kept, "id")
    return _apply(df, _survivors(members, [(name, asc) for name, _, asc in ranks]), broadcast=small)


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

def _source(active: DataFrame, spec: DedupSpec, ranks) -> DataFrame:
    """What the features are computed from: id, scope, text, lang, `_url` (exact_url's key), rank keys."""
    scope = F.coalesce(F.col("source"), F.lit("")) if spec.scope == "source" else F.lit("")
    url = F.lit(None).cast("string")
    if spec.exact_url:
        u = F.regexp_replace(F.trim(F.col("url")), "#.*$", "")
        url = F.when(u != "", u)
    lang = F.col("lang") if "lang" in active.columns else F.lit(None).cast("string")
    return active.select(F.col("id"), scope.alias("scope"), F.col("text"), lang.alias("lang"), url.alias("_url"),
                         *[expr.alias(name) for name, expr, _ in ranks])


def _params(spec: DedupSpec):
    """MinHash's (num_perm, seed, ngram, bands, rows), None without MinHash."""
    m = spec.minhash
    if m is None:
        return None
    bands, rows = mh.lsh_params(m.threshold, m.num_perm, m.bands, m.rows, verify=m.verify)
    return (m.num_perm, m.seed, m.ngram, bands, rows)


def _features(active: DataFrame, spec: DedupSpec, ranks) -> DataFrame:
    """id, scope, rank keys, `_url`, `_text_key` (binary, exact), `_bands` (array<bigint>, MinHash)."""
    src = _source(active, spec, ranks)
    params = _params(spec)
    keep_cols = ["id", "scope", "_url", *[name for name, _, _ in ranks]]
    out_schema = T.StructType([src.schema[c] for c in keep_cols] + [
        T.StructField("_text_key", T.BinaryType()),
        T.StructField("_bands", T.ArrayType(T.LongType())),
    ])
    exact = spec.exact

    def run(batches):
        hasher = mh.MinHasher(params[0], params[1], SCHEME) if params else None
        for batch in batches:
            yield features_batch(batch, keep_cols, exact, hasher, params)

    return src.mapInArrow(run, out_schema)


# ---------------------------------------------------------------- 1-5 in one task, for small inputs

def _size(df: DataFrame) -> tuple[int, int]:
    """(documents, UTF-8 text bytes) of `df`: one aggregate, two numbers on the driver."""
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum(F.octet_length("text")).alias("b")).first()
    return int(row["n"] or 0), int(row["b"] or 0)


def _small(active: DataFrame) -> bool:
    """Few enough documents taking part for one task."""
    docs, text_bytes = _size(active)
    return docs <= LOCAL_MAX_DOCS and text_bytes <= LOCAL_MAX_TEXT_BYTES


def _local_clusters(active: DataFrame, spec: DedupSpec) -> DataFrame:
    """Steps 1-5 in one task (engine.dedup.local, then the components' one-task path): the same (id, root)
    rows as the distributed steps, in ~3 Spark jobs instead of ~20."""
    from engine.spark.components import _local_components

    src = _source(active, spec, [])
    refuse_repeated_ids(src, "dedup")            # ids key every step below
    params = _params(spec)
    m = spec.minhash
    verify, threshold, ngram = (m.verify, m.threshold, m.ngram) if m else (False, 1.0, 0)
    exact, exact_url = spec.exact, spec.exact_url

    def run(batches):
        import pyarrow as pa

        from engine.dedup.local import edges

        hasher = mh.MinHasher(params[0], params[1], SCHEME) if params else None
        found = edges(batches, exact, exact_url, hasher, params, verify, threshold, ngram)
        if found:
            hi = pa.array([max(s, d) for s, d in found], pa.string())
            lo = pa.array([min(s, d) for s, d in found], pa.string())
            yield from _local_components([pa.RecordBatch.from_arrays([hi, lo], ["hi", "lo"])])

    # coalesce, not repartition: the one task reads the documents itself, nothing is shuffled
    return cut(src.coalesce(1).mapInArrow(run, "id string, root string"))


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
            yield verify_batch(batch, state, threshold, ngram)

    out = rows.mapInArrow(run, "src string, dst string, jaccard double")
    return out.where(F.col("jaccard") >= F.lit(threshold))


# ---------------------------------------------------------------- 6. survivors, output

def _survivors(members: DataFrame, ranks: list[tuple[str, bool]]) -> DataFrame:
    """(id, dup_cluster, dup_cluster_size) for every member (id, root, rank keys) of a cluster."""
    order = [F.col(name).asc() if ascending else F.col(name).desc() for name, ascending in ranks]
    order.append(F.col("id").asc())
    w_all = Window.partitionBy("root")
    return members.select(
        "id",
        F.first("id").over(w_all.orderBy(*order)).alias("dup_cluster"),
        F.count(F.lit(1)).over(w_all).cast("long").alias("dup_cluster_size"))


def _apply(df: DataFrame, clusters: DataFrame | None, broadcast: bool = False) -> DataFrame:
    base = df.drop("dup_cluster", "dup_cluster_size")
    cols = base.columns
    taking_part = F.col("reason").isNull()
    if clusters is None:
        cluster, size = F.col("id"), F.lit(1).cast("long")
        joined = base
    else:
        c = clusters.select(F.col("id").alias("_c_id"), F.col("dup_cluster").alias("_c_cluster"),
                            F.col("dup_cluster_size").alias("_c_size"))
        c = F.broadcast(c) if broadcast else c
        joined = base.join(c, (base["id"] == c["_c_id"]) & base["reason"].isNull(), "left")
        cluster = F.coalesce(F.col("_c_cluster"), F.col("id"))
        size = F.coalesce(F.col("_c_size"), F.lit(1).cast("long"))
    cluster = F.when(taking_part, cluster)
    reason = F.when(taking_part & (cluster != F.col("id")), F.concat(F.lit("duplicate:"), cluster)) \
        .otherwise(F.col("reason"))
    return joined.select(*[reason.alias("reason") if c == "reason" else F.col(c) for c in cols],
                         cluster.alias("dup_cluster"), F.when(taking_part, size).alias("dup_cluster_size"))


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
        n, b = _size(s)
        n_docs = int(round(n / sample_fraction))
        text_bytes = int(round(b / sample_fraction))
    return dedup_sizes(spec, n_docs, text_bytes, dup_fraction=dup_fraction, records_per_batch=records_per_batch,
                       shuffle_partitions=shuffle_partitions)
