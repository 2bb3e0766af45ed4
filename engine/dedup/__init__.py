"""Dedup logic that needs no Spark: MinHash signatures and shingles in vectorized numpy."""
