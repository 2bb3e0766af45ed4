"""Mixing by tokens: which documents (and how many repetitions of each) go into the output.

Interface used by engine/run.py:
- `available_tokens(kept_df, spec) -> list[dict(source, group, docs, tokens)]`  (a Spark aggregate)
- `plan_mix(spec, available) -> MixPlan`  (pure Python on the driver: budgets per leaf)
- `apply_mix(kept_df, spec, plan) -> DataFrame`  with an `epoch` column (0 for a first copy)
A leaf is (source, group); group is null for a source without `group_by`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class InfeasibleMix(Exception):
    """A mix that cannot be met: names the source, the tokens it has and the tokens it needs."""


@dataclass
class Leaf:
    source: str
    group: str | None
    available_tokens: int
    available_docs: int
    requested_tokens: int | None      # None: keep everything that passed
    epochs: float = 1.0               # requested / available


@dataclass
class MixPlan:
    leaves: list[Leaf] = field(default_factory=list)
    group_cols: tuple = ()

    @property
    def expected_ratio(self) -> float:
        avail = sum(l.available_tokens for l in self.leaves) or 1
        req = sum(l.available_tokens if l.requested_tokens is None else l.requested_tokens for l in self.leaves)
        return req / avail

    def manifest_leaves(self, realized) -> list[dict]:
        out = []
        for l in self.leaves:
            rows = [r for r in realized if r["source"] == l.source]
            out.append({"source": l.source, "group": l.group, "available_tokens": l.available_tokens,
                        "requested_tokens": l.requested_tokens,
                        "realized_tokens": sum(r["tokens"] or 0 for r in rows),
                        "realized_docs": sum(r["docs"] for r in rows), "epochs": l.epochs})
        return out


def available_tokens(kept, spec) -> list[dict]:
    from pyspark.sql import functions as F

    rows = kept.groupBy("source").agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens")).collect()
    return [{"source": r["source"], "group": None, "docs": r["docs"], "tokens": int(r["tokens"] or 0)} for r in rows]


def plan_mix(spec, available: list[dict]) -> MixPlan:
    if spec.target_tokens is not None or any(s.tokens is not None for s in spec.sources):
        raise InfeasibleMix("token budgets (target_tokens / tokens) are not implemented yet")
    by_source = {a["source"]: a for a in available}
    leaves = [Leaf(s.name, None, by_source.get(s.name, {}).get("tokens", 0), by_source.get(s.name, {}).get("docs", 0), None)
              for s in spec.sources]
    return MixPlan(leaves)


def apply_mix(kept, spec, plan: MixPlan):
    from pyspark.sql import functions as F

    return kept.withColumn("epoch", F.lit(0).cast("int"))
