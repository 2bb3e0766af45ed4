"""Where each part of the mix stops taking documents (pure Python: the decisions, from what Spark counted).

Within a part (a leaf's synthetic or non-synthetic documents), documents are taken in the order of their
sampling key (hash(seed, id), ties by id). A part with target t and available a takes floor(t / a) full
epochs and, from the partial epoch, a prefix of that order; this module picks the prefix, given the
documents of a *window* around the target (`engine.spark.cuts` finds the window with token sums per key
bucket and collects only its documents).

`cut:` (mix spec) chooses the policy:
- `nearest` (default): the parts are cut in a fixed order and each one aims at its target minus the
  surplus (or plus the shortfall) of the parts cut before it, stopping at whichever document boundary is
  nearest. Rounding errors then do not add up over leaves: the mix total lands within about half a
  document of `target_tokens`, where cutting every leaf on its own is off by up to a document per leaf
  (+4.1% on a 200,000-token mix of 11 leaves with big code files). A leaf may then differ from its own
  budget by about a document. The order: parts with the largest documents (tokens / docs) first, so the
  last cuts, which settle the total, fall between small documents.
- `under`: every part stops at or below its target (no carry: no leaf exceeds its budget).
- `over`: every part takes documents until its target is met (no carry), as tamis did before `cut:`.

Under `limits.synthetic_max_share`, synthetic parts never exceed their (capped) total: with `nearest` they
are cut first, at or below their targets with carry among them, and the non-synthetic parts then make up
the shortfall; the last non-synthetic cut stops no lower than the cap allows, so the realized share stays
within it. With `over`, synthetic parts are cut at or below their target, the others at or above (the
previous behaviour).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

POLICIES = ("nearest", "under", "over")


@dataclass
class Part:
    key: tuple                 # (source, group ('' for none), synthetic)
    full: int                  # full epochs
    target: int                # tokens wanted from the partial epoch (0 <= target < available)
    available: int             # tokens of the part (one epoch)
    docs: int                  # documents of the part (one epoch)
    rule: str = "nearest"      # nearest | under | over: how this part picks its boundary
    # the window (set by the sampler's aggregates): the documents of a key range and what lies before it
    before: int = 0            # tokens of the documents below the window
    before_docs: int = 0
    window: list = field(default_factory=list)   # [(sk, id, n_tokens)] sorted by (sk, id)
    end: int | None = None     # the window's end as a key (sk); None: the end of the key space
    # the decision
    threshold: tuple | None = None   # (sk, id): the partial epoch takes the documents below it
    take_all: bool = False
    taken: int = 0             # tokens taken from the partial epoch
    taken_docs: int = 0

    @property
    def realized(self) -> int:
        return self.full * self.available + self.taken

    @property
    def realized_docs(self) -> int:
        return self.full * self.docs + self.taken_docs


def part_table(plan, policy: str = "nearest") -> list[Part]:
    """The parts that contribute documents, each with its full epochs and remainder target."""
    out = []
    for l in plan.leaves:
        for syn, a, d, req in l.parts():
            if req <= 0 or a <= 0:
                continue
            full, rem = divmod(req, a)
            out.append(Part((l.source, "" if l.group is None else l.group, syn), full, rem, a, d,
                            _rule(policy, syn, plan.synthetic_max_share is not None)))
    return out


def _rule(policy: str, syn: bool, capped: bool) -> str:
    if capped and syn:
        return "under"       # the synthetic share must not grow past the cap by rounding
    return policy


def carries(policy: str) -> bool:
    return policy == "nearest"


def cut_order(parts: list[Part]) -> list[Part]:
    """The fixed order of the carry: synthetic parts first under a cap (see the module doc), then the parts
    with the largest mean document first, ties by key."""
    return sorted(parts, key=lambda p: (p.rule != "under", -p.available / max(p.docs, 1), p.key))


def choose(before: int, target: float, docs: list[tuple], rule: str, at_least: int | None = None) -> int:
    """How many of `docs` (sorted, running sum starting at `before`) to take: the boundary at or below
    (`under`), at or above (`over`), or nearest to `target` (ties: the lower one); `at_least`: no boundary
    whose sum is below it, when the window has one at or above it."""
    sums = [before]
    for d in docs:
        sums.append(sums[-1] + (d[2] or 0))
    lo = max([j for j, c in enumerate(sums) if c <= target], default=0)
    hi = next((j for j, c in enumerate(sums) if c >= target), len(docs))
    j = lo if rule == "under" else hi if rule == "over" else (lo if target - sums[lo] <= sums[hi] - target else hi)
    if at_least is not None and sums[j] < at_least:
        j = next((k for k, c in enumerate(sums) if c >= at_least), len(docs))
    return j


def settle(parts: list[Part], policy: str, cap: float | None = None):
    """Cut every part inside its window, in `cut_order`, carrying the running surplus when the policy does."""
    carry = 0
    order = [p for p in cut_order(parts) if p.target > 0]
    last_non_syn = next((p for p in reversed(order) if not p.key[2]), None)
    for p in order:
        aim = p.target - carry if carries(policy) else p.target
        floor = None
        if cap is not None and p is last_non_syn and carries(policy):
            floor = _cap_floor(parts, p, cap)
        j = choose(p.before, aim, p.window, p.rule, floor)
        _set_cut(p, j)
        carry += p.taken - p.target


def _cap_floor(parts: list[Part], last: Part, cap: float) -> int:
    """The fewest partial-epoch tokens `last` may take so that synthetic / total stays within the cap."""
    syn = sum(p.realized for p in parts if p.key[2])
    others = sum(p.realized for p in parts if not p.key[2] and p is not last) + last.full * last.available
    need = math.ceil(syn * (1 - cap) / cap) if cap > 0 else 0
    return need - others


def _set_cut(p: Part, j: int):
    p.taken = p.before + sum(d[2] or 0 for d in p.window[:j])
    p.taken_docs = p.before_docs + j
    if j < len(p.window):
        p.threshold = (p.window[j][0], p.window[j][1])
    elif p.end is None:
        p.take_all = True
    else:
        p.threshold = (p.end, "")    # every document of the window: the cut is the window's end
