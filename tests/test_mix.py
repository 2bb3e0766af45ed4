"""Mix planning without a JVM: apportionment, temperature shares, share bounds, budgets, epochs, synthetic cap."""
from __future__ import annotations

import random

import pytest

from engine.plan.budgets import InfeasibleMix, plan_mix
from engine.plan.shares import apportion, clip_shares, group_shares, temperature_shares
from engine.plan.cuts import Part, choose, cut_order, settle
from engine.spec import SpecError, parse_spec


def spec(sources: str, top: str = ""):
    return parse_spec(f"name: t\nseed: 1\n{top}output: {{path: /tmp/x}}\nsources:\n{sources}", check_paths=False)


def avail(source, group=None, tokens=0, docs=None, syn=0):
    return {"source": source, "group": group, "tokens": tokens, "docs": docs if docs is not None else tokens // 10,
            "synthetic_tokens": syn, "synthetic_docs": (docs if docs is not None else tokens // 10) * syn // max(tokens, 1)}


# ---------------------------------------------------------------- apportionment


def test_apportion_sums_exactly_and_uses_largest_remainder():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]             # tie: the earlier item gets the extra token
    assert apportion(100, [0.5, 0.3, 0.2]) == [50, 30, 20]
    assert apportion(7, [0.5, 0.25, 0.25]) == [3, 2, 2]       # 3.5, 1.75, 1.75: floors 3,1,1; the .75s go first
    assert apportion(0, [1, 2]) == [0, 0]
    rng = random.Random(3)
    for _ in range(500):
        n = rng.randint(1, 12)
        ws = [rng.random() for _ in range(n)]
        total = rng.randint(0, 10**12)
        parts = apportion(total, ws)
        assert sum(parts) == total
        s = sum(ws)
        assert all(abs(p - total * w / s) < 1 + 1e-6 * total for p, w in zip(parts, ws))
    with pytest.raises(ValueError):
        apportion(5, [0, 0])


def test_budgets_sum_exactly_to_target():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.5, group_by: lang, temperature: 0.3}
  - {name: code, kind: jsonl, paths: [b], weight: 0.3}
  - {name: qa, kind: jsonl, paths: [c], weight: 0.2}
""", "target_tokens: 1000003\n")
    a = [avail("web", "en", 10**8), avail("web", "de", 10**7), avail("web", "sw", 10**6),
         avail("code", None, 10**7), avail("qa", None, 10**7)]
    plan = plan_mix(s, a)
    assert plan.requested_tokens == 1000003
    web = sum(l.requested_tokens for l in plan.leaves if l.source == "web")
    assert web == 500002 or web == 500001   # 500001.5 -> largest remainder
    assert plan.leaf("code").requested_tokens + plan.leaf("qa").requested_tokens + web == 1000003
    assert plan.mode == "budget"


# ---------------------------------------------------------------- group shares


def test_temperature_shares_match_hand_computed_values():
    # 1000^0.3 = 7.943282, 100^0.3 = 3.981072, 10^0.3 = 1.995262; sum 13.919616
    sh = temperature_shares({"en": 1000, "de": 100, "sw": 10}, 0.3)
    assert sh["en"] == pytest.approx(7.943282 / 13.919616, abs=1e-6)   # 0.570655
    assert sh["de"] == pytest.approx(3.981072 / 13.919616, abs=1e-6)   # 0.286004
    assert sh["sw"] == pytest.approx(1.995262 / 13.919616, abs=1e-6)   # 0.143341
    assert sum(sh.values()) == pytest.approx(1)
    # temperature 1 is proportional; groups with no tokens get nothing
    assert temperature_shares({"a": 3, "b": 1, "c": 0}, 1.0) == {"a": 0.75, "b": 0.25, "c": 0.0}


def test_clip_shares_pins_bounds_and_renormalizes():
    # max only: 0.7 -> 0.5, the rest (0.5) split 2:1
    c = clip_shares({"a": 0.7, "b": 0.2, "c": 0.1}, max_share=0.5)
    assert c == pytest.approx({"a": 0.5, "b": 1 / 3, "c": 1 / 6})
    # min only: b and c pinned at 0.1, a gets the rest
    assert clip_shares({"a": 0.9, "b": 0.08, "c": 0.02}, min_share=0.1) == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})
    # both bounds bind: pinning a at 0.6 pushes b and c above their min, so they are not pinned at 0.1
    # (one pass that pins every violator at once would give 0.6 + 0.1 + 0.1 = 0.8)
    assert clip_shares({"a": 0.9, "b": 0.05, "c": 0.05}, 0.1, 0.6) == pytest.approx({"a": 0.6, "b": 0.2, "c": 0.2})
    # a group raised to the min takes from the others in proportion
    c = clip_shares({"a": 0.6, "b": 0.3, "c": 0.1}, min_share=0.2)
    assert c == pytest.approx({"a": 0.8 * 2 / 3, "b": 0.8 / 3, "c": 0.2})
    # nothing to do
    assert clip_shares({"a": 0.5, "b": 0.5}, 0.1, 0.9) == pytest.approx({"a": 0.5, "b": 0.5})
    # the fixed point: shares inside the bounds stay proportional to the input
    rng = random.Random(1)
    for _ in range(300):
        n = rng.randint(2, 9)
        p = {str(i): rng.random() ** 3 for i in range(n)}
        lo, hi = rng.uniform(0, 1 / n), rng.uniform(1 / n, 1)
        c = clip_shares(p, lo, hi)
        assert sum(c.values()) == pytest.approx(1)
        assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in c.values())
        free = [g for g, v in c.items() if lo + 1e-9 < v < hi - 1e-9]
        ratios = [c[g] / p[g] for g in free]
        assert max(ratios, default=1) == pytest.approx(min(ratios, default=1))
    with pytest.raises(ValueError, match="min_share 0.4 x 3 groups"):
        clip_shares({"a": 1, "b": 1, "c": 1}, min_share=0.4)
    with pytest.raises(ValueError, match="max_share 0.2 x 3 groups"):
        clip_shares({"a": 1, "b": 1, "c": 1}, max_share=0.2)


def test_group_weights_and_bounds_in_a_plan():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], tokens: 10000, group_by: lang, group_weights: {en: 3, de: 1},
     min_share: 0.3, max_epochs: 10}
""")
    plan = plan_mix(s, [avail("web", "en", 10**6), avail("web", "de", 10**6), avail("web", "fr", 10**6)])
    assert plan.leaf("web", "en").requested_tokens == 7000      # 0.75/0.25 -> de raised to 0.3
    assert plan.leaf("web", "de").requested_tokens == 3000
    assert plan.leaf("web", "fr").requested_tokens == 0          # not named in group_weights
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], tokens: 1000, group_by: lang, temperature: 0.3, min_share: 0.5}
""")
    with pytest.raises(InfeasibleMix, match="source 'web': group shares: min_share 0.5 x 3 groups"):
        plan_mix(s, [avail("web", g, 10**5) for g in ("en", "de", "fr")])


def test_temperature_group_budget_and_epochs():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], tokens: 13919616, group_by: lang, temperature: 0.3, max_epochs: 3}
""")
    plan = plan_mix(s, [avail("web", "en", 10**8), avail("web", "de", 10**7), avail("web", "sw", 10**6)])
    # shares as in the hand computation above (ratios 1000:100:10)
    assert plan.leaf("web", "en").requested_tokens == pytest.approx(7943282, abs=2)
    assert plan.leaf("web", "de").requested_tokens == pytest.approx(3981072, abs=2)
    assert plan.leaf("web", "sw").requested_tokens == pytest.approx(1995262, abs=2)
    assert plan.leaf("web", "sw").epochs == pytest.approx(1.995262, abs=1e-5)   # upsampled, within max_epochs
    assert plan.requested_tokens == 13919616


# ---------------------------------------------------------------- keep everything, tokens + weights


def test_without_budget_everything_is_kept_once():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.7}
  - {name: code, kind: jsonl, paths: [b], weight: 0.3}
""")
    plan = plan_mix(s, [avail("web", None, 5000), avail("code", None, 100)])
    assert plan.mode == "keep"
    assert [(l.requested_tokens, l.epochs) for l in plan.leaves] == [(5000, 1.0), (100, 1.0)]
    assert any("weights are not applied" in n for n in plan.notes)


def test_keep_mode_keeps_every_group_exactly():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], group_by: lang}
""")
    groups = {g: 10**6 // (i + 3) for i, g in enumerate(["en", "de", "fr", "sw", "yo", "zu", "xh"])}
    plan = plan_mix(s, [avail("web", g, t) for g, t in groups.items()])
    assert all(plan.leaf("web", g).requested_tokens == t and plan.leaf("web", g).epochs == 1 for g, t in groups.items())


def test_keep_mode_grouped_source_takes_the_most_it_can_at_its_shares():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], group_by: lang, group_weights: {en: 0.5, sw: 0.5}}
""")
    plan = plan_mix(s, [avail("web", "en", 9000), avail("web", "sw", 1000)])
    assert plan.leaf("web", "en").requested_tokens == 1000 == plan.leaf("web", "sw").requested_tokens
    with pytest.raises(InfeasibleMix, match="source 'web' group 'sw' has 0 tokens after filters, but its group share 0.5"):
        plan_mix(s, [avail("web", "en", 9000)])


def test_tokens_and_weights_share_the_rest_of_the_target():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 3}
  - {name: code, kind: jsonl, paths: [b], weight: 1}
  - {name: qa, kind: jsonl, paths: [c], tokens: 200}
  - {name: bench, kind: jsonl, paths: [d]}
""".replace("weight: 3", "weight: 0.75").replace("weight: 1}", "weight: 0.25}"), "target_tokens: 1000\n")
    plan = plan_mix(s, [avail("web", None, 10**4), avail("code", None, 10**4), avail("qa", None, 10**4),
                        avail("bench", None, 400)])
    assert plan.leaf("qa").requested_tokens == 200
    assert plan.leaf("bench").requested_tokens == 400       # neither weight nor tokens: kept whole
    assert plan.leaf("web").requested_tokens == 300 and plan.leaf("code").requested_tokens == 100
    assert plan.requested_tokens == 1000


# ---------------------------------------------------------------- feasibility


def test_epoch_cap_makes_the_mix_infeasible_naming_source_and_group():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.5, group_by: lang, group_weights: {en: 0.5, sw: 0.5},
     max_epochs: 2}
  - {name: code, kind: jsonl, paths: [b], weight: 0.5}
""", "target_tokens: 10000\n")
    with pytest.raises(InfeasibleMix) as e:
        plan_mix(s, [avail("web", "en", 10**6), avail("web", "sw", 1000), avail("code", None, 10**6)])
    msg = str(e.value)
    assert "source 'web' group 'sw' needs 2,500 tokens but has 1,000" in msg
    assert "max_epochs 2 allows 2,000" in msg and "2.5 epochs" in msg
    assert e.value.plan.leaf("web", "sw").problem and not e.value.plan.leaf("web", "en").problem
    # with max_epochs 3 the same leaf is upsampled 2.5 times
    plan = plan_mix(spec(s_yaml := """\
  - {name: web, kind: jsonl, paths: [a], weight: 0.5, group_by: lang, group_weights: {en: 0.5, sw: 0.5},
     max_epochs: 3}
  - {name: code, kind: jsonl, paths: [b], weight: 0.5}
""", "target_tokens: 10000\n"), [avail("web", "en", 10**6), avail("web", "sw", 1000), avail("code", None, 10**6)])
    assert plan.leaf("web", "sw").epochs == 2.5


def test_weight_on_a_source_with_no_tokens_is_infeasible():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.6}
  - {name: empty, kind: jsonl, paths: [b], weight: 0.4}
""", "target_tokens: 1000\n")
    with pytest.raises(InfeasibleMix, match=r"source 'empty' has 0 tokens after filters, but weight 0.4 asks for 400 tokens"):
        plan_mix(s, [avail("web", None, 10**5)])
    # a group named by group_weights that has no documents
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], tokens: 1000, group_by: lang, group_weights: {en: 0.5, xx: 0.5}}
""")
    with pytest.raises(InfeasibleMix, match=r"source 'web' group 'xx' has 0 tokens after filters"):
        plan_mix(s, [avail("web", "en", 10**5)])


def test_weight_without_target_next_to_tokens_is_an_error():
    sources = """\
  - {name: web, kind: jsonl, paths: [a], weight: 0.6}
  - {name: qa, kind: jsonl, paths: [b], tokens: 400}
"""
    with pytest.raises(SpecError, match=r":5: sources\[0\].weight: weight 0.6 needs target_tokens"):
        spec(sources)                           # validate refuses it (engine/plan/feasible.py) ...
    s = spec(sources, top="target_tokens: 1000\n")
    s.target_tokens = None                      # ... and the planner too, for a spec built in code
    with pytest.raises(InfeasibleMix, match="source 'web': weight 0.6 needs target_tokens"):
        plan_mix(s, [avail("web", None, 10**5), avail("qa", None, 10**5)])


# ---------------------------------------------------------------- synthetic cap


def test_synthetic_cap_shrinks_synthetic_and_gives_the_rest_in_proportion():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.45}
  - {name: code, kind: jsonl, paths: [b], weight: 0.15}
  - {name: synth, kind: synthetic, paths: [c], weight: 0.4}
""", "target_tokens: 100000\nlimits: {synthetic_max_share: 0.1}\n")
    plan = plan_mix(s, [avail("web", None, 10**6), avail("code", None, 10**6), avail("synth", None, 10**6, syn=10**6)])
    assert plan.synthetic_capped
    assert plan.leaf("synth").requested_tokens == 10000 == plan.leaf("synth").synthetic_requested_tokens
    assert plan.leaf("web").requested_tokens == 67500 and plan.leaf("code").requested_tokens == 22500  # 3:1 kept
    assert plan.requested_tokens == 100000
    assert plan.synthetic_share == pytest.approx(0.1)


def test_synthetic_cap_counts_synthetic_documents_inside_other_sources():
    # `mixed` holds 50% synthetic tokens: the cap shrinks that part and grows its non-synthetic part
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.5}
  - {name: mixed, kind: jsonl, paths: [b], weight: 0.5, group_by: lang}
""", "target_tokens: 10000\nlimits: {synthetic_max_share: 0.1}\n")
    plan = plan_mix(s, [avail("web", None, 10**6), avail("mixed", "en", 10**6, syn=5 * 10**5)])
    m = plan.leaf("mixed", "en")
    assert m.synthetic_requested_tokens == 1000                  # 2,500 planned -> 10% of 10,000
    assert plan.requested_tokens == 10000
    # non-synthetic 7,500 (web 5,000 + mixed 2,500) grows to 9,000 in proportion: 6,000 + 3,000
    assert plan.leaf("web").requested_tokens == 6000
    assert m.requested_tokens - m.synthetic_requested_tokens == 3000
    # not binding: nothing moves
    plan = plan_mix(s.model_copy(update={"limits": s.limits.model_copy(update={"synthetic_max_share": 0.5})}),
                    [avail("web", None, 10**6), avail("mixed", "en", 10**6, syn=5 * 10**5)])
    assert not plan.synthetic_capped and plan.leaf("web").requested_tokens == 5000


def test_synthetic_cap_infeasible_when_the_others_cannot_take_the_tokens():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.5}
  - {name: synth, kind: synthetic, paths: [c], weight: 0.5}
""", "target_tokens: 10000\nlimits: {synthetic_max_share: 0.2}\n")
    with pytest.raises(InfeasibleMix, match=r"source 'web' needs 8,000 tokens but has 6,000 \(max_epochs 1"):
        plan_mix(s, [avail("web", None, 6000), avail("synth", None, 10**6, syn=10**6)])


def test_synthetic_cap_without_budget_drops_synthetic_tokens_only():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a]}
  - {name: synth, kind: synthetic, paths: [c]}
""", "limits: {synthetic_max_share: 0.2}\n")
    plan = plan_mix(s, [avail("web", None, 8000), avail("synth", None, 5000, syn=5000)])
    assert plan.leaf("web").requested_tokens == 8000
    assert plan.leaf("synth").requested_tokens == 2000          # 2000 / 10000 = 20%


# ---------------------------------------------------------------- the cut inside the boundary bucket


def test_choose_cut_rules():
    docs = [(1, "a", 10), (2, "b", 10), (3, "c", 10)]
    assert choose(0, 14, docs, "nearest") == 1       # take a (10): |14-10| < |14-20|
    assert choose(0, 16, docs, "nearest") == 2       # take a, b (20)
    assert choose(0, 15, docs, "nearest") == 1       # a tie goes to the lower boundary
    assert choose(0, 16, docs, "under") == 1
    assert choose(0, 14, docs, "over") == 2
    assert choose(0, 30, docs, "over") == 3          # everything in the window
    assert choose(5, 14, docs, "under") == 0         # nothing from this window (5 + 10 > 14)
    assert choose(0, 14, docs, "nearest", at_least=15) == 2   # the cap's floor wins over nearest
    assert choose(0, -3, docs, "nearest") == 0 and choose(0, 99, docs, "nearest") == 3   # aims off the window


def _parts(targets, size=10, n=6, syn=()):
    """Parts whose windows are the whole part: n documents of `size` tokens each."""
    out = []
    for i, t in enumerate(targets):
        docs = [(k, f"p{i}d{k}", size) for k in range(n)]
        out.append(Part(("s", f"g{i}", i in syn), 0, t, size * n, n, "under" if i in syn else "nearest",
                        window=docs, end=None))
    return out


def test_nearest_carries_the_rounding_so_the_total_lands_within_half_a_document():
    # three leaves of 15 tokens each over 10-token documents: cut alone, each rounds to 10 (or 20 with over)
    for policy, want in (("nearest", 40), ("under", 30), ("over", 60)):
        parts = _parts([15, 15, 15])
        for p in parts:
            p.rule = policy
        settle(parts, policy)
        assert sum(p.realized for p in parts) == want, policy
    parts = _parts([15, 15, 15])
    settle(parts, "nearest")
    assert [p.taken for p in parts] == [10, 20, 10]      # the second leaf absorbs the first one's shortfall
    assert [p.threshold for p in parts] == [(1, "p0d1"), (2, "p1d2"), (1, "p2d1")]
    full = _parts([56], n=6)
    settle(full, "nearest")
    assert full[0].take_all and full[0].taken == 60 and full[0].realized_docs == 6


def test_carry_order_puts_synthetic_first_under_a_cap_and_big_documents_first():
    a = Part(("s", "", False), 0, 5, 100, 10)       # mean 10 tokens
    b = Part(("t", "", False), 0, 5, 100, 2)        # mean 50 tokens: cut first
    c = Part(("s", "", True), 0, 5, 100, 50, "under")
    assert [p.key for p in cut_order([a, b, c])] == [c.key, b.key, a.key]


def test_the_cap_floor_keeps_the_synthetic_share_within_the_cap():
    # synthetic 20 of a 100-token mix, cap 0.2: the last non-synthetic cut must reach 80, not stop at 70
    parts = _parts([20, 74], n=10, syn=(0,))
    settle(parts, "nearest", cap=0.2)
    assert parts[0].taken == 20 and parts[1].taken == 80
    parts = _parts([20, 74], n=10, syn=(0,))
    settle(parts, "nearest")
    assert parts[1].taken == 70 and 20 / 90 > 0.2     # without the floor, nearest would break the cap


def test_synthetic_cap_gives_freed_tokens_to_weighted_sources_only():
    s = spec("""\
  - {name: web, kind: jsonl, paths: [a], weight: 0.6}
  - {name: whole, kind: jsonl, paths: [b]}
  - {name: fixed, kind: jsonl, paths: [c], tokens: 1000}
  - {name: synth, kind: synthetic, paths: [d], weight: 0.4}
""", "target_tokens: 11000\nlimits: {synthetic_max_share: 0.1}\n")
    plan = plan_mix(s, [avail("web", None, 10**6), avail("whole", None, 5000), avail("fixed", None, 10**6),
                        avail("synth", None, 10**6, syn=10**6)])
    # planned: whole 5,000 + fixed 1,000; web 3,000, synth 2,000 (18%) -> synth 1,100, web 3,900
    assert plan.leaf("whole").requested_tokens == 5000 and plan.leaf("fixed").requested_tokens == 1000
    assert plan.leaf("synth").requested_tokens == 1100 and plan.leaf("web").requested_tokens == 3900
