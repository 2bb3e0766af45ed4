"""Per leaf, where its documents went (pure Python over `engine.spark.explain.leaf_reasons`): read ->
dropped per reason -> removed as duplicates -> available -> requested -> expected realized.

A grouped source's records whose group is not a leaf of the plan (a language the language filter drops,
say) are one row per source, group `(all dropped)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

TOP_REASONS = 3
OTHER_GROUPS = "(all dropped)"   # the groups of a source without a kept document
DUPLICATE = "duplicate"


@dataclass
class LeafStory:
    source: str
    group: str | None
    read: int = 0
    dropped: int = 0                    # by filters and readers (duplicates not included)
    reasons: list = field(default_factory=list)   # [(reason, docs)]: the top ones, then ("other", n)
    duplicates: int = 0
    available_docs: int = 0
    available_tokens: int = 0
    requested_tokens: int | None = None
    expected_tokens: int | None = None
    expected_docs: int | None = None


def explain(rows: list[dict], plan) -> list[LeafStory]:
    """One story per leaf of `plan` (in its order), then one per source for records outside its leaves."""
    leaves = {(l.source, l.group): l for l in plan.leaves} if plan else {}
    stories: dict[tuple, LeafStory] = {k: LeafStory(*k) for k in leaves}
    drops: dict[tuple, dict] = {}
    for r in rows:
        key = (r["source"], r["group"])
        if key not in leaves:
            key = (r["source"], None) if (r["source"], None) in leaves else (r["source"], OTHER_GROUPS)
        st = stories.setdefault(key, LeafStory(*key))
        st.read += r["docs"]
        if r["reason"] is None:
            st.available_docs += r["docs"]
            st.available_tokens += r["tokens"]
        elif r["reason"] == DUPLICATE:
            st.duplicates += r["docs"]
        else:
            st.dropped += r["docs"]
            d = drops.setdefault(key, {})
            d[r["reason"]] = d.get(r["reason"], 0) + r["docs"]
    for key, st in stories.items():
        st.reasons = top_reasons(drops.get(key, {}))
        if key in leaves:
            l = leaves[key]
            st.requested_tokens, st.expected_tokens, st.expected_docs = (l.requested_tokens, l.expected_tokens,
                                                                         l.expected_docs)
    order = {k: i for i, k in enumerate(leaves)}
    first = {}
    for src, _g in leaves:
        first.setdefault(src, len(first))
    return sorted(stories.values(), key=lambda s: (first.get(s.source, len(first)), s.source,
                                                   order.get((s.source, s.group), len(order))))


def top_reasons(counts: dict, n: int = TOP_REASONS) -> list[tuple]:
    """The n most frequent reasons (ties by name), then ("other", the rest) when there are more."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = ranked[:n]
    rest = sum(v for _k, v in ranked[n:])
    return out + ([("other", rest)] if rest else [])
