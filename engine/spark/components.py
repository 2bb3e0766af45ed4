"""Connected components of an undirected edge list on Spark, deterministic: every node gets its component's
smallest id (Spark's string order: UTF-8 bytes), however the edges are partitioned.

Small graphs in one task (scipy); large ones by alternating large-star / small-star rounds on DataFrames.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

MAX_CC_ROUNDS = 100          # large-star/small-star needs O(log^2 n) rounds; this is a safety net
# Up to this many distinct edges, components are found in one task (scipy over the edge list, cheap in CPU
# and memory at this size: figures in bench/README.md): one Spark job instead of 3 per large-star/small-star
# round, whose fixed costs dominate small and medium runs. Above it, the distributed rounds.
LOCAL_CC_MAX_EDGES = 2_000_000


def connected_components(edges: DataFrame, max_rounds: int = MAX_CC_ROUNDS) -> DataFrame:
    """(src, dst) undirected edges -> (id, root) for every node on an edge; root = smallest id of its component.

    Up to `LOCAL_CC_MAX_EDGES` distinct edges: one task (`_local_components`). Otherwise alternating
    large-star and small-star (Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii: "Connected Components in
    MapReduce and Beyond", SoCC 2014). Edges are kept as (hi, lo) with hi > lo. Done when the
    graph is a forest of stars centred on each component's minimum: no node has two smaller neighbours, or a
    smaller and a larger one. That test comes from the same per-node aggregate large-star needs anyway;
    the driver only learns whether any node fails it.
    """
    e = cut(edges.where(F.col("src") != F.col("dst"))
             .select(F.greatest("src", "dst").alias("hi"), F.least("src", "dst").alias("lo")).distinct())
    if e.count() <= LOCAL_CC_MAX_EDGES:
        return cut(e.repartition(1).mapInArrow(_local_components, "id string, root string"))
    for _ in range(max_rounds):
        nbrs = e.select(F.col("hi").alias("u"), F.col("lo").alias("v")).unionByName(
            e.select(F.col("lo").alias("u"), F.col("hi").alias("v")))
        stats = cut(nbrs.groupBy("u").agg(
            F.least(F.min("v"), F.col("u")).alias("m"),
            F.sum((F.col("v") < F.col("u")).cast("int")).alias("n_lo"),
            F.max((F.col("v") > F.col("u")).cast("int")).alias("has_hi")))
        if stats.where((F.col("n_lo") > 1) | ((F.col("n_lo") == 1) & (F.col("has_hi") == 1))).isEmpty():
            break
        e = cut(_small_star(_large_star(nbrs, stats)))
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



def cut(df: DataFrame) -> DataFrame:
    """Materialize and truncate the lineage (iterations would otherwise grow the plan every round).

    A reliable checkpoint when the session has a checkpoint dir (survives executor loss), else a local one.
    """
    sc = df.sparkSession.sparkContext
    if sc.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)
