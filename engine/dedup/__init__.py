"""Dedup logic that needs no Spark: shingles, MinHash signatures and LSH parameters, the per-batch work of
dedup's Python passes (batches), and the size estimate for `tamis plan`."""
