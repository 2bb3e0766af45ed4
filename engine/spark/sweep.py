"""A sweep's variants on Spark: every variant's cuts, documents and shards from one decided DataFrame, in a
fixed number of jobs whatever the number of variants.

The sampling key of a document (xxhash64 of seed and id) does not depend on the weights, so the token
histogram of every part over the key buckets is the same for every variant: one aggregate serves all of
them, and only the windows around each variant's targets are collected (one job). Then one job writes
every variant's shards (rows keyed by (variant, shard), each key in one task, sorted like
`engine.spark.write.write_shards`), and one aggregate gives every variant's realized tokens and datasheet
counts. A variant's shards are byte for byte what `tamis run` writes for its spec: same cuts
(`engine.plan.cuts.settle`), same rows, same order, same writer. A variant whose cut needs a deeper
refinement (a key bucket of more than 4,096 documents, at tens of millions of documents per part) falls back
to `engine.spark.cuts.find_cuts` on its own.
"""
from __future__ import annotations

import pyarrow as pa
from pyspark.sql import functions as F

from engine import storage
from engine.plan.budgets import SYNTHETIC
from engine.plan.cuts import carries, part_table, settle
from engine.spark import cuts as C
from engine.spark.cuts import PART, keyed
from engine.spark.sample import with_leaf
from engine.spark.write import META_SCHEMA, write_runs

_PART_SCHEMA = "source string, _grp string, _syn boolean"


def variant_cuts(keyed_df, plans: list, policy: str) -> list[list]:
    """Every plan's parts, cut (`engine.plan.cuts.Part` with threshold / take_all set)."""
    base = keyed_df.select(*PART, "_sk", "_uk", "id", "n_tokens")
    tables = [part_table(p, policy) for p in plans]
    keys = sorted({p.key for parts in tables for p in parts if p.target > 0})
    hist, biggest = _histogram(base, keys) if keys else ({}, {})
    finals, deeper = [], set()
    for i, parts in enumerate(tables):
        pending = [C._Search(p) for p in parts if p.target > 0]
        reach = max((biggest.get(s.part.key, 0) for s in pending), default=0) if carries(policy) else 0
        final, refine = C._descend(pending, hist, 0, reach)
        if refine:
            deeper.add(i)
        else:
            finals += final
    if finals:
        _collect(base, finals)
    for i, parts in enumerate(tables):
        if i in deeper:
            tables[i] = part_table(plans[i], policy)
            C.find_cuts(keyed_df, tables[i], policy, plans[i].synthetic_max_share)
        else:
            settle(parts, policy, plans[i].synthetic_max_share)
    return tables


def _histogram(base, keys: list[tuple]) -> tuple[dict, dict]:
    """Per part: sorted (bucket, docs, tokens) of the 4096 top-level key buckets; per part its largest
    document (find_cuts widens a carrying policy's windows by the largest document of the variant's parts)."""
    sel = base.sparkSession.createDataFrame(keys, _PART_SCHEMA)
    bucket = F.shiftrightunsigned(F.col("_uk"), 64 - C.BUCKET_BITS)
    rows = (base.join(F.broadcast(sel), PART).groupBy(*PART, bucket.alias("_b"))
            .agg(F.count("*").alias("n"), F.sum("n_tokens").alias("t"), F.max("n_tokens").alias("m")).collect())
    hist: dict[tuple, list] = {}
    biggest: dict[tuple, int] = {}
    for r in rows:
        key = (r["source"], r["_grp"], r["_syn"])
        hist.setdefault(key, []).append((r["_b"], r["n"], int(r["t"] or 0)))
        biggest[key] = max(biggest.get(key, 0), int(r["m"] or 0))
    return {k: sorted(v) for k, v in hist.items()}, biggest


def _collect(base, finals: list):
    """The documents of every final window (identical windows of several variants collected once), sorted
    by (key, id) as `engine.spark.cuts._collect` sorts them."""
    shift = 64 - C.BUCKET_BITS
    windows: dict[tuple, int] = {}
    for s, b_lo, b_hi in finals:
        start = ((s.prefix << C.BUCKET_BITS) | b_lo) << shift
        end = (((s.prefix << C.BUCKET_BITS) | b_hi) + 1) << shift
        s.part.end = None if end >= 1 << 64 else end + C._MIN_LONG
        windows.setdefault((*s.part.key, start + C._MIN_LONG, s.part.end), len(windows))
    sel = base.sparkSession.createDataFrame([(i, *w) for w, i in windows.items()],
                                            f"_w int, {_PART_SCHEMA}, _lo long, _hi long")
    inside = (F.col("_sk") >= F.col("_lo")) & (F.col("_hi").isNull() | (F.col("_sk") < F.col("_hi")))
    per: dict[int, list] = {}
    for r in base.join(F.broadcast(sel), PART).where(inside).select("_w", "_sk", "id", "n_tokens").collect():
        per.setdefault(r["_w"], []).append((r["_sk"], r["id"], r["n_tokens"]))
    for s, b_lo, b_hi in finals:
        start = ((s.prefix << C.BUCKET_BITS) | b_lo) << shift
        w = windows[(*s.part.key, start + C._MIN_LONG, s.part.end)]
        s.part.window = sorted(per.get(w, []), key=lambda d: (d[0], d[1].encode("utf-8")))


def mixed_variants(kept, spec, tables: list[list], n_shards: list[int]):
    """Every variant's documents in one DataFrame: `_v` (variant index), `_n` (its shard count), `_grp`, the
    kept columns, `epoch` (as `engine.spark.sample.apply_mix` selects them, per variant)."""
    cols = list(kept.columns)
    keyed_df = keyed(kept, spec, with_leaf)
    rows = []
    for v, parts in enumerate(tables):
        for c in parts:
            thr_sk, thr_id = c.threshold if c.threshold else (None, None)
            rows.append((v, n_shards[v], *c.key, c.full, c.target > 0, c.take_all or thr_sk is None, thr_sk, thr_id))
    schema = (f"_v int, _n int, {_PART_SCHEMA}, _full int, _partial boolean, _all boolean, _thr_sk long, "
              "_thr_id string")
    j = keyed_df.join(F.broadcast(kept.sparkSession.createDataFrame(rows, schema)), PART)
    before = (F.col("_sk") < F.col("_thr_sk")) | ((F.col("_sk") == F.col("_thr_sk")) & (F.col("id") < F.col("_thr_id")))
    in_partial = F.col("_partial") & (F.col("_all") | F.coalesce(before, F.lit(False)))
    copies = F.col("_full") + F.when(in_partial, F.lit(1)).otherwise(F.lit(0))
    j = j.withColumn("_copies", copies).where(F.col("_copies") > 0)
    j = j.withColumn("epoch", F.explode(F.sequence(F.lit(0), (F.col("_copies") - 1).cast("int"))))
    return j.select("_v", "_n", "_grp", *cols, "epoch")


# ---------------------------------------------------------------- shards and counts


_META = pa.schema([("_v", pa.int32()), *META_SCHEMA])


def write_variants(mixed, folders: list[str], seed: int, data_cols: list[str], n_parts: int) -> list[list[dict]]:
    """Every variant's shards `folders[v]/shard-NNNNN.parquet`, in one job (`n_parts` tasks: the variants'
    shard counts summed); per variant its shard dicts.

    The shard of a row and its order inside the shard are `write_shards`'s (hash of seed, id and epoch), each
    (variant, shard) is written whole by one task with the same writer, so the files are the same bytes."""
    from pyspark.sql.pandas.types import from_arrow_schema

    for f in folders:
        storage.makedirs(f)
    options = storage.current()
    k = (mixed.withColumn("_shard", F.pmod(F.xxhash64(F.lit(seed), F.col("id"), F.col("epoch")), F.col("_n")))
              .withColumn("_order", F.xxhash64(F.lit(seed + 1), F.col("id"), F.col("epoch"))))
    ordered = (k.repartition(max(1, n_parts), "_v", "_shard")
                .sortWithinPartitions("_v", "_shard", "_order", "id", "epoch"))

    def write(batches):
        done = [{"_v": key[0], **meta} for key, meta in write_runs(
            batches, ["_v", "_shard"], data_cols, options,
            lambda key: storage.join(folders[key[0]], f"shard-{key[1]:05d}.parquet"))]
        if done:
            yield pa.RecordBatch.from_pylist(done, schema=_META)

    rows = ordered.mapInArrow(write, from_arrow_schema(_META)).collect()
    out: list[list[dict]] = [[] for _ in folders]
    for r in rows:
        d = r.asDict()
        out[d.pop("_v")].append(d)
    empty = None
    for v, shards in enumerate(out):
        if not shards:   # as write_shards: an empty mix still gets one (empty) shard with the schema
            if empty is None:
                from pyspark.sql.pandas.types import to_arrow_schema

                empty = to_arrow_schema(mixed.select(*data_cols).schema).empty_table()
            shards.append(_empty_shard(folders[v], empty))
        shards.sort(key=lambda r: r["file"])
    return out


def _empty_shard(folder: str, table) -> dict:
    import pyarrow.parquet as pq

    path = storage.join(folder, "shard-00000.parquet")
    with storage.open_output(path) as sink:
        pq.write_table(table, sink, compression="zstd")
    return {"file": storage.basename(path), "rows": 0, "tokens": 0, "bytes": sink.bytes, "sha256": sink.sha256}


def variant_counts(mixed, n: int) -> list[tuple[list[dict], dict]]:
    """Per variant, in one aggregate: (realized tokens per leaf, as `engine.spark.sample.realized_tokens`;
    the datasheet's `written` rows, as `engine.spark.datasheet.datasheet_aggregates`)."""
    from engine.spark.datasheet import _benchmark, _col

    cols = set(mixed.columns)
    generator = (F.when(F.col("kind") == "synthetic", F.get_json_object(F.col("meta"), "$.generator"))
                 if "meta" in cols else F.lit(None).cast("string"))
    syn = F.when(F.col("kind") == F.lit(SYNTHETIC), F.col("n_tokens")).otherwise(F.lit(0))
    keys = ["source", "kind", "license", "lang", "generator", "benchmark"]
    rows = (mixed.groupBy("_v", "_grp", *[_col(c, cols) for c in ("source", "kind", "license", "lang")],
                          generator.alias("generator"), _benchmark(cols).alias("benchmark"))
            .agg(F.count(F.lit(1)).alias("docs"), F.sum("n_tokens").alias("tokens"),
                 F.sum(syn).alias("synthetic_tokens"), F.max("epoch").alias("max_epoch")).collect())
    leaves: list[dict] = [{} for _ in range(n)]
    written: list[dict] = [{} for _ in range(n)]
    for r in rows:
        leaf = leaves[r["_v"]].setdefault((r["source"], r["_grp"]), {
            "source": r["source"], "group": r["_grp"] or None, "docs": 0, "tokens": 0, "synthetic_tokens": 0,
            "max_epoch": 0})
        w = written[r["_v"]].setdefault(tuple(r[k] for k in keys), {**{k: r[k] for k in keys}, "docs": 0, "tokens": 0})
        for d in (leaf, w):
            d["docs"] += r["docs"]
            d["tokens"] += int(r["tokens"] or 0)
        leaf["synthetic_tokens"] += int(r["synthetic_tokens"] or 0)
        leaf["max_epoch"] = max(leaf["max_epoch"], r["max_epoch"])
    return [(sorted(l.values(), key=lambda d: (d["source"], d["group"] or "")), {"written": list(w.values())})
            for l, w in zip(leaves, written)]
