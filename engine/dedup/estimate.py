"""Rough sizes of dedup's shuffles and memory, for `tamis plan`: arithmetic only (engine.spark.dedup.estimate
counts a sample first when given one)."""
from __future__ import annotations

import math

from engine.dedup import minhash as mh
from engine.spec import DedupSpec


def dedup_sizes(spec: DedupSpec, n_docs: int | None, text_bytes: int | None, *, dup_fraction: float = 0.1,
                records_per_batch: int = 10_000, shuffle_partitions: int | None = None) -> dict:
    """Sizes for `n_docs` documents of `text_bytes` UTF-8 text bytes in all (see engine.spark.dedup.estimate).

    Byte figures follow Spark's UnsafeRow layout (8 bytes per field plus variable data), before shuffle
    compression. Returns a dict of figures (ints, bytes unless named *_mb).
    """
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
