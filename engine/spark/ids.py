"""Ids unique per mix: records that share an id are made unique deterministically, on Spark.

An id is `stable_id(source, record key)` (engine.schema), so two records share one when an input repeats a
key (a duplicated `id_field` value, the same WARC-Record-ID twice, one file listed under two globs...).
Dedup, the mix and the counts all key on `id`: a shared id multiplies rows in joins and gives two documents
one sample hash. So, over the annotated records of the whole mix (every source, rejects included):

- the records of one id are ordered by their provenance: (file, position in it, sha256 of the text, meta,
  url, reason), nothing that depends on partitioning, executors or the run. The first keeps the id, the k-th
  becomes `<id>#k`. Natural ids are hex digests, so a suffixed id never meets another one, and `#` in an id
  means "renamed" (the manifest counts them per source: `ids_renamed`, `ids_renamed_examples`).
- the same record twice (same id, same text) is one document: the first kept copy stays, every further
  kept copy gets `reason = duplicate:<id of that first copy>` (what exact dedup would say), dedup on or off.

Ids cannot collide across sources (the source name is hashed into them and names are unique), but the rule
runs over the whole mix anyway. Cost: one aggregate over the id column; rows move only when an id repeats,
and then only those rows.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

SUFFIX = "#"
EXAMPLES = 3                   # renamed records named per source in the manifest
BROADCAST_MAX_IDS = 1_000_000  # repeated ids up to this many are broadcast: the documents are never shuffled
_FILE_KEYS = ("file", "warc_file", "path")      # where readers put a record's file ...
_POS_KEYS = ("row", "offset", "line")           # ... and its position in that file


class RepeatedIds(ValueError):
    """A frame that must be unique on `id` is not (dedup's joins would multiply rows)."""


def _meta(key: str):
    return F.get_json_object(F.col("meta"), f"$.{key}")


def _order():
    """A total order of the records of one id that only depends on the records themselves."""
    file = F.coalesce(*[_meta(k) for k in _FILE_KEYS])
    pos = F.coalesce(*[_meta(k).try_cast("bigint") for k in _POS_KEYS])
    return [file.asc_nulls_last(), pos.asc_nulls_last(), F.col("_sha").asc_nulls_last(),
            F.col("meta").asc_nulls_last(), F.col("url").asc_nulls_last(), F.col("reason").asc_nulls_first()]


def unique_ids(df: DataFrame, ids: DataFrame | None = None) -> DataFrame:
    """`df` (annotated records: `id`, `text`, `meta`, `url`, `reason`, ...) with every id unique (see above).
    `ids`: the same records' `id` column alone, when it can be read without the rest (the stored stages).

    The same DataFrame, untouched, when no id repeats (the usual case: one aggregate over ids, no rows moved,
    no document text read).
    """
    def repeated_ids(frame):
        return frame.groupBy("id").agg(F.count(F.lit(1)).alias("_n")).where(F.col("_n") > 1).select("id")

    if repeated_ids(ids if ids is not None else df.select("id")).count() == 0:
        return df
    repeated = _cut(repeated_ids(df))     # rare: the aggregate again, kept for the joins below
    n = repeated.count()
    if n <= BROADCAST_MAX_IDS:       # a checkpoint has no size statistics: say it is small
        repeated = F.broadcast(repeated)
    clashing = df.join(repeated, "id", "left_semi")
    return df.join(repeated, "id", "left_anti").unionByName(_renamed(clashing)).select(*df.columns)


def _renamed(rows: DataFrame) -> DataFrame:
    """Records that share ids: `<id>#k` for all but the first of each id; repeated kept copies -> duplicate."""
    cols = rows.columns
    r = rows.withColumn("_sha", F.sha2(F.col("text"), 256)).withColumn("_kept", F.col("reason").isNull())
    k = F.row_number().over(Window.partitionBy("id").orderBy(*_order()))
    suffixed = F.concat(F.col("id"), F.lit(SUFFIX), k.cast("string"))
    r = r.withColumn("_new", F.when(k == 1, F.col("id")).otherwise(suffixed))
    # `_new` last: records equal in every order key (one file read twice) still pick one first copy
    same = Window.partitionBy("id", "_sha", "_kept").orderBy(*_order(), F.col("_new"))
    copy = F.col("_kept") & F.col("_sha").isNotNull() & (F.row_number().over(same) > 1)
    r = r.withColumn("_reason", F.when(copy, F.concat(F.lit("duplicate:"), F.first("_new").over(same)))
                     .otherwise(F.col("reason")))
    return r.select(*[F.col("_new").alias("id") if c == "id" else F.col("_reason").alias("reason") if c == "reason"
                      else F.col(c) for c in cols])


def refuse_repeated_ids(df: DataFrame, what: str) -> None:
    """Raise `RepeatedIds` naming a few ids that occur more than once in `df` (one aggregate over ids)."""
    rows = (df.groupBy("id").agg(F.count(F.lit(1)).alias("n")).where(F.col("n") > 1)
            .orderBy("id").limit(EXAMPLES).collect())
    if rows:
        ids = ", ".join(f"{r['id']} (x{r['n']})" for r in rows)
        raise RepeatedIds(f"{what}: ids must be unique, repeated: {ids} (engine.spark.ids.unique_ids makes them unique)")


def renamed_count():
    """Aggregate expression: how many records got a `#k` suffix (for the manifest's per-source counts)."""
    return F.sum(F.col("id").contains(SUFFIX).cast("long"))


def renamed_ids(df: DataFrame, counts) -> dict[str, dict]:
    """Per source: `ids_renamed` (from `counts` rows with a `renamed` column) and `ids_renamed_examples`, the
    first few renamed records by id (new id, file, position, the record's key), for the manifest."""
    renamed: dict[str, int] = {}
    for r in counts:
        renamed[r["source"]] = renamed.get(r["source"], 0) + (r["renamed"] or 0)
    examples: dict[str, list] = {}
    if any(renamed.values()):        # a job only when something was renamed: a few rows reach the driver
        rank = F.row_number().over(Window.partitionBy("source").orderBy("id"))
        rows = (df.where(F.col("id").contains(SUFFIX))
                .select("source", "id", F.coalesce(*[_meta(k) for k in _FILE_KEYS]).alias("file"),
                        F.coalesce(*[_meta(k).try_cast("bigint") for k in _POS_KEYS]).alias("position"),
                        F.coalesce(_meta("key"), _meta("record_id")).alias("key"), rank.alias("_k"))
                .where(F.col("_k") <= EXAMPLES).orderBy("source", "_k").collect())
        for r in rows:
            examples.setdefault(r["source"], []).append(
                {"id": r["id"], "file": r["file"], "position": r["position"], "key": r["key"]})
    return {name: {"ids_renamed": n, "ids_renamed_examples": examples.get(name, [])}
            for name, n in renamed.items()}


def _cut(df: DataFrame) -> DataFrame:
    """Materialize once (a reliable checkpoint when the session has a checkpoint dir, else a local one)."""
    if df.sparkSession.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)
