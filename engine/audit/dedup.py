"""Duplicate clusters of an output: sizes, and the largest with their survivor and a sample of members.

A cluster is named by its survivor's id (`dup_cluster`, or the `<id>` of `duplicate:<id>` reasons). Dedup
runs before the mix, so a survivor can be missing from the shards without being a duplicate: the mix
sampled it out (a source asked for fewer tokens than it had). The audit counts it that way: `removed` are
the copies dropped as duplicates (rejects), `in_output` the members found in the shards, and
`survivor_in_output` says whether the survivor itself made it into the mix ("0 kept" used to read as if
dedup had dropped every copy).
"""
from __future__ import annotations

from engine.audit.views import _ident, _unique, columns, rows, scalar


def snippet_sql(col: str, n: int = 200) -> str:
    """The first `n` characters of `col`, whitespace collapsed."""
    return f"left(trim(regexp_replace(left({col}, {n * 4}), '\\s+', ' ', 'g')), {n})"


def _members_sql(con) -> str | None:
    """Every document of a duplicate cluster that the output holds: (cluster, size, id, source, text, status),
    status `kept` (in the shards) or `dropped` (rejects)."""
    dc, rc = columns(con, "docs"), columns(con, "rejects")
    if "dup_cluster" in dc or "dup_cluster" in rc:
        parts = []
        for t, cols, status, where in (("docs", dc, "kept", _unique(con)), ("rejects", rc, "dropped", "true")):
            if "dup_cluster" in cols:
                size = f"CAST({_ident('dup_cluster_size')} AS BIGINT)" if "dup_cluster_size" in cols else "NULL::BIGINT"
                parts.append(f"SELECT CAST(dup_cluster AS VARCHAR) AS cluster, {size} AS size, id, source, text, "
                             f"'{status}' AS status FROM {t} WHERE {where} AND dup_cluster IS NOT NULL")
        members = " UNION ALL ".join(parts)
        return f"""SELECT cluster, greatest(coalesce(max(size) OVER (PARTITION BY cluster), 0),
                                   count(*) OVER (PARTITION BY cluster)) AS size, id, source, text, status
                   FROM ({members})"""
    if scalar(con, "SELECT count(*) FROM rejects WHERE reason LIKE 'duplicate:%'"):
        # clusters from the rejects' `duplicate:<survivor id>` reasons: the survivor plus its dropped copies
        drops = ("SELECT substr(reason, 11) AS cluster, id, source, text, 'dropped' AS status "
                 "FROM rejects WHERE reason LIKE 'duplicate:%'")
        surv = (f"SELECT d.id AS cluster, d.id, d.source, d.text, 'kept' AS status FROM docs d "
                f"WHERE {_unique(con).replace('epoch', 'd.epoch')} AND d.id IN (SELECT substr(reason, 11) FROM rejects "
                f"WHERE reason LIKE 'duplicate:%')")
        return f"""SELECT cluster, count(*) FILTER (WHERE status = 'dropped') OVER (PARTITION BY cluster) + 1 AS size,
                          id, source, text, status FROM ({drops} UNION ALL {surv})"""
    return None


def dup_sizes(con) -> list[dict] | None:
    """Clusters of duplicates by size (size >= 2): size, clusters, documents. None without dedup columns."""
    m = _members_sql(con)
    if m is None:
        return None
    return rows(con, f"""SELECT size, count(*) AS clusters, sum(size)::BIGINT AS docs
                        FROM (SELECT DISTINCT cluster, size FROM ({m})) WHERE size >= 2 GROUP BY 1 ORDER BY 1""")


def dup_largest(con, n: int = 10, sample: int = 3, seed: int = 0) -> list[dict] | None:
    """The `n` largest clusters: size, copies removed as duplicates, members in the output (`kept`, same as
    `in_output`), whether the survivor is in the output, sources, and a reproducible sample of members
    (the survivor first; a survivor the mix left out is a row without text)."""
    m = _members_sql(con)
    if m is None:
        return None
    top = rows(con, f"""SELECT cluster, max(size) AS size, count(*) AS members_here,
                              string_agg(DISTINCT source, ', ' ORDER BY source) AS sources,
                              count(*) FILTER (WHERE status = 'kept') AS kept,
                              count(*) FILTER (WHERE status = 'dropped') AS removed,
                              bool_or(status = 'kept' AND id = cluster) AS survivor_in_output
                       FROM ({m}) WHERE size >= 2 GROUP BY 1 ORDER BY size DESC, cluster LIMIT {int(n)}""")
    for c in top:
        c["in_output"] = c["kept"]
        c["sample"] = rows(con, f"""SELECT id, source, CASE WHEN id = cluster AND status = 'kept' THEN 'survivor, in the output'
                                          WHEN status = 'kept' THEN 'in the output' ELSE 'removed as duplicate' END AS status,
                                          {snippet_sql('text')} AS snippet FROM ({m})
                                   WHERE cluster = ? ORDER BY id = cluster DESC, status = 'kept' DESC,
                                   md5(? || ':' || id) LIMIT {int(sample)}""", [c["cluster"], str(seed)])
        if not c["survivor_in_output"]:
            c["sample"].insert(0, {"id": c["cluster"], "source": None, "snippet": "",
                                   "status": "survivor, not in the output (sampled out by the mix)"})
    return top
