"""The datasheet's counts over documents (engine/datasheet.py renders them): aggregates only, never documents.

Two grouped counts, each one Spark job whose result has a row per combination of a few low-cardinality
values (sources x licences x languages x generators x benchmarks: tens to hundreds of rows):
- `written`: the mixed documents (exactly the rows of the shards, upsampled copies included, so the counts
  equal a DuckDB query over the output) per source, kind, license, lang, generator and matched benchmark;
- `decontam`: every annotated record with a benchmark match (`decontam_match`), kept or dropped, per
  source and benchmark, with how many distinct benchmark items matched.
"""
from __future__ import annotations


def datasheet_aggregates(mixed, annotated=None) -> dict:
    """{"written": [row, ...], "decontam": [row, ...]} as plain dicts (JSON-ready).

    mixed: the DataFrame the shards are written from; annotated: every record after filters and dedup,
    `reason` null for the kept ones (None: no decontamination counts)."""
    from pyspark.sql import functions as F

    cols = set(mixed.columns)
    # meta.generator is the synthetic readers' field; other kinds' meta may hold unrelated "generator" keys
    generator = (F.when(F.col("kind") == "synthetic", F.get_json_object(F.col("meta"), "$.generator"))
                 if "meta" in cols else F.lit(None).cast("string"))
    written = (mixed.groupBy(*[_col(c, cols) for c in ("source", "kind", "license", "lang")],
                             generator.alias("generator"), _benchmark(cols).alias("benchmark"))
               .agg(F.count(F.lit(1)).alias("docs"), F.sum("n_tokens").alias("tokens")).collect())
    return {"written": [_plain(r) for r in written], "decontam": decontam_counts(annotated)}


def decontam_counts(annotated) -> list[dict]:
    """Per source and benchmark, the records with a match: `docs`, of them `kept`, `dropped` (by
    decontamination) and `dropped_other` (by an earlier rule, or as a duplicate), and `items`: distinct
    benchmark items matched (the first item each record matched: `decontam_match` holds one)."""
    from pyspark.sql import functions as F

    if annotated is None or "decontam_match" not in annotated.columns:
        return []
    reason = F.col("reason")
    fates = {"kept": reason.isNull(), "dropped": reason.startswith("decontaminated"),
             "dropped_other": reason.isNotNull() & ~reason.startswith("decontaminated")}
    rows = (annotated.where(F.col("decontam_match").isNotNull())
            .groupBy("source", _benchmark(set(annotated.columns)).alias("benchmark"))
            .agg(F.count(F.lit(1)).alias("docs"),
                 *[F.sum(F.when(cond, 1).otherwise(0)).alias(name) for name, cond in fates.items()],
                 F.countDistinct("decontam_match").alias("items"))
            .collect())
    return [_plain(r) for r in rows]


def _col(name: str, cols: set):
    from pyspark.sql import functions as F

    return F.col(name) if name in cols else F.lit(None).cast("string").alias(name)


def _benchmark(cols: set):
    """`<benchmark>` of `decontam_match` = `<benchmark>:<item id>` (item ids may hold `:`, names do not)."""
    from pyspark.sql import functions as F

    if "decontam_match" not in cols:
        return F.lit(None).cast("string")
    return F.substring_index(F.col("decontam_match"), ":", 1)


def _plain(row) -> dict:
    d = row.asDict()
    for k in ("tokens", "kept", "dropped", "dropped_other"):
        if k in d:
            d[k] = int(d[k] or 0)
    return d
