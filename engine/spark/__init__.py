"""The Spark adapter: the only package that imports pyspark (session, annotate, thresholds, dedup,
sample, write, progress, the local standalone cluster)."""
