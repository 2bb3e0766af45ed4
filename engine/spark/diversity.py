"""The run's language table and synthetic-data diversity, on Spark: aggregates and bounded samples only.

`diversity(df, spec)` runs after `engine.run.prepare` (df: every record with its signals, `reason` and the
dedup columns) and returns {"languages": [...], "synthetic_diversity": {...}} for the manifest
(engine/plan/manifest.py) and for `engine.diversity.check_limits`.

- languages: one grouped aggregate per (source, lang) over documents with a `lang_doubt` (every document
  the language filter labeled): documents and tokens read and kept, the `lang_doubt` rate, the estimated
  label precision (`filters.lang_checks.label_precision`), the median and spread of `lang_score` and the
  FineWeb-2 threshold they give.
- synthetic_diversity: per synthetic source and generator (`meta.generator`; and language when the source is
  grouped by `lang`), and per human-written source (kind web, qa or text) as the baseline: the near-duplicate
  rate from the dedup clusters (an aggregate over every document), and the text metrics of
  engine/diversity.py on a sample of at most SAMPLE_DOCS documents per group, the same documents every run
  (smallest xxhash64(seed, id)), each cut to SAMPLE_CHARS: at most groups x SAMPLE_DOCS x SAMPLE_CHARS
  characters reach the driver.

Both describe what was read and scored (not `read:*` rows), before the mix samples: a generator's diversity
is its output's, and a threshold edit elsewhere does not move it.
"""
from __future__ import annotations

from engine import diversity as metrics
from engine.spark.thresholds import readable
from filters.lang_checks import label_precision
from filters.language import AUTO_CEILING, AUTO_FLOOR

SAMPLE_DOCS = metrics.MAX_PASSAGES
SAMPLE_CHARS = 4_000
HUMAN_KINDS = ("web", "qa", "text")
UNKNOWN_GENERATOR = "(unknown)"


def diversity(df, spec) -> dict:
    return {"languages": language_table(df, spec), "synthetic_diversity": synthetic_diversity(df, spec)}


def language_table(df, spec) -> list[dict]:
    from pyspark.sql import functions as F

    if "lang_doubt" not in df.columns:
        return []
    kept, doubt = F.col("reason").isNull(), F.col("lang_doubt").cast("double")
    rows = (readable(df).where(F.col("lang_doubt").isNotNull())
            .groupBy("source", "lang")
            .agg(F.count("*").alias("docs_read"), F.sum("n_tokens").alias("tokens_read"),
                 F.sum(kept.cast("long")).alias("docs_kept"),
                 F.sum(F.when(kept, F.col("n_tokens"))).alias("tokens_kept"),
                 F.avg(doubt).alias("doubt_read"), F.avg(F.when(kept, doubt)).alias("doubt_kept"),
                 F.percentile_approx("lang_score", 0.5, 10_000).alias("median"),
                 F.stddev_pop("lang_score").alias("std"))
            .collect())
    out = []
    for r in sorted(rows, key=lambda r: (r["source"], -r["docs_read"], r["lang"])):
        median, std = float(r["median"]), float(r["std"] or 0.0)
        doubt_kept = None if r["doubt_kept"] is None else round(float(r["doubt_kept"]), 6)
        out.append({"source": r["source"], "lang": r["lang"], "docs_read": int(r["docs_read"]),
                    "tokens_read": int(r["tokens_read"] or 0), "docs_kept": int(r["docs_kept"] or 0),
                    "tokens_kept": int(r["tokens_kept"] or 0), "doubt_rate_read": round(float(r["doubt_read"]), 6),
                    "doubt_rate": doubt_kept,
                    "label_precision": None if doubt_kept is None else label_precision(doubt_kept),
                    "lang_score_median": round(median, 6), "lang_score_std": round(std, 6),
                    "auto_threshold": round(max(AUTO_FLOOR, min(AUTO_CEILING, median - std)), 6)})
    return out


def _is_synthetic_source(s) -> bool:
    return s.kind == "synthetic" or getattr(s, "doc_kind", None) == "synthetic"


def synthetic_diversity(df, spec) -> dict:
    """{"generators": [...], "human": {...} | None, "human_sources": [...]} (empty when the mix has no
    synthetic source: nothing to compare)."""
    from pyspark.sql import functions as F

    empty = {"generators": [], "human": None, "human_sources": []}
    if not any(_is_synthetic_source(s) for s in spec.sources):
        return empty
    by_lang = [s.name for s in spec.sources if _is_synthetic_source(s) and s.group_by == "lang"]
    synthetic = F.col("kind") == "synthetic"
    gen = F.coalesce(F.get_json_object(F.col("meta"), "$.generator"), F.lit(UNKNOWN_GENERATOR))
    lang = F.when(F.col("source").isin(by_lang), F.col("lang")) if by_lang else F.lit(None).cast("string")
    rows = (readable(df).where(synthetic | F.col("kind").isin(*HUMAN_KINDS))
            .select("id", "source", "text",
                    F.when(synthetic, gen).alias("_gen"), F.when(synthetic, lang).alias("_lang"),
                    F.col("dup_cluster_size") if "dup_cluster_size" in df.columns
                    else F.lit(None).cast("long").alias("dup_cluster_size")))
    groups = _group_counts(rows)
    samples = _samples(rows, groups, spec.seed)
    gens, humans = [], []
    for key in sorted(groups, key=lambda k: tuple("" if x is None else str(x) for x in k)):
        source, generator, lg = key
        entry = {"source": source, "generator": generator, "lang": lg, "docs": groups[key]["docs"],
                 "near_dup_rate": groups[key]["near_dup_rate"],
                 **metrics.metrics(samples.get(key, []))}
        (gens if generator is not None else humans).append(entry)
    for e in humans:
        del e["generator"], e["lang"]
    human = None
    if humans:
        pooled = _round_robin([samples.get((h["source"], None, None), []) for h in humans])
        docs = sum(h["docs"] for h in humans)
        rates = [(h["near_dup_rate"], h["docs"]) for h in humans if h["near_dup_rate"] is not None]
        human = {"sources": [h["source"] for h in humans], "docs": docs,
                 "near_dup_rate": round(sum(r * n for r, n in rates) / sum(n for _, n in rates), 6) if rates else None,
                 **metrics.metrics(pooled)}
    for g in gens:
        g["less_diverse_than_human"] = metrics.less_diverse(g, human) if human else {}
    return {"generators": gens, "human": human, "human_sources": humans}


def _group_counts(rows) -> dict:
    from pyspark.sql import functions as F

    dup = F.when(F.col("dup_cluster_size").isNotNull(), (F.col("dup_cluster_size") > 1).cast("double"))
    out = {}
    for r in rows.groupBy("source", "_gen", "_lang").agg(F.count("*").alias("docs"),
                                                          F.avg(dup).alias("near_dup")).collect():
        out[(r["source"], r["_gen"], r["_lang"])] = {
            "docs": int(r["docs"]), "near_dup_rate": None if r["near_dup"] is None else round(float(r["near_dup"]), 6)}
    return out


def _samples(rows, groups: dict, seed: int) -> dict:
    """{group key: texts}: each group's SAMPLE_DOCS documents of smallest xxhash64(seed, id), in that order.
    A per-group pre-filter on the hash keeps the window's shuffle to ~3 x SAMPLE_DOCS rows per group."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    h = F.xxhash64(F.lit(seed), F.col("id"))
    u = (F.pmod(h, F.lit(1 << 30)) / F.lit(float(1 << 30)))
    frac = F.lit(1.0)
    for (source, gen, lang), c in groups.items():
        f = min(1.0, 3.0 * SAMPLE_DOCS / max(c["docs"], 1))
        cond = (F.col("source") == source) & _eq("_gen", gen) & _eq("_lang", lang)
        frac = F.when(cond, F.lit(f)).otherwise(frac)
    w = Window.partitionBy("source", "_gen", "_lang").orderBy("_h", "id")
    picked = (rows.withColumn("_h", h).where(u < frac)
              .withColumn("_rank", F.row_number().over(w)).where(F.col("_rank") <= SAMPLE_DOCS)
              .select("source", "_gen", "_lang", "_rank", F.substring("text", 1, SAMPLE_CHARS).alias("text"))
              .collect())
    out: dict = {}
    for r in sorted(picked, key=lambda r: r["_rank"]):
        out.setdefault((r["source"], r["_gen"], r["_lang"]), []).append(r["text"] or "")
    return out


def _eq(col: str, value):
    from pyspark.sql import functions as F

    return F.col(col).isNull() if value is None else F.col(col) == value


def _round_robin(lists: list[list[str]]) -> list[str]:
    """One list taking each list's next item in turn: every human source weighs the same in the baseline."""
    out = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out
