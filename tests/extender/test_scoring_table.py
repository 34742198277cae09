"""The scoring formula (extender.scoring docstring), pinned case by case.

Reference node unless a case says otherwise: 8 CPUs, CPUs 6-7 fenced, free_m 500, nothing
requested or used, no pressure, enforcing -> C=8000, H = 500 + (8000-2000-1000) = 5500,
idle = 1, shared = 0.75."""

from __future__ import annotations

from typing import Any

import pytest

from extender.scoring import NeutralReason, PodDemand, assess, refusal, score
from temper.annotations import SAFE_MODE_KEY, TIER_LOAD_KEY, EnforcementState
from temper.tiers import Tier
from tests.extender.factories import NOW, load_annotations

OBSERVE = EnforcementState.OBSERVE_ONLY
CASES: list[tuple[str, Tier, int, dict[str, Any], int]] = [
    # (case, pod tier, pod request m, node overrides, expected score)
    ("critical fits with spare headroom", Tier.CRITICAL, 500, {}, 6 + 2),  # 6 + ⌊4·5000/8000⌋
    ("critical fits exactly", Tier.CRITICAL, 500, {"requests": {Tier.HIGH: 5000}}, 6),
    ("critical one millicore too big", Tier.CRITICAL, 501, {"requests": {Tier.HIGH: 5000}}, 1),
    ("critical larger than any fence", Tier.CRITICAL, 6000, {}, 1),
    ("critical on observe-only node", Tier.CRITICAL, 100, {"state": OBSERVE}, 0),
    ("critical on safe-mode node", Tier.CRITICAL, 100, {"state": EnforcementState.SAFE_MODE}, 0),
    ("critical on unsupported node", Tier.CRITICAL, 100, {"state": EnforcementState.UNSUPPORTED}, 0),
    ("critical under 50% pressure", Tier.CRITICAL, 500, {"pressure": {Tier.CRITICAL: 50.0}}, 7),
    ("high on an empty enforcing node", Tier.HIGH, 0, {}, 8),  # ⌊10·(0.75+1)/2⌋
    ("high on an empty observe-only node", Tier.HIGH, 0, {"state": OBSERVE}, 6),  # ⌊8.75·0.7⌋
    ("normal with shared CPUs requested", Tier.NORMAL, 0, {"requests": {Tier.NORMAL: 6000}}, 5),  # ⌊10·(0+1)/2⌋
    ("normal under its own pressure", Tier.NORMAL, 0, {"pressure": {Tier.NORMAL: 100.0}}, 0),
    ("low on an idle node", Tier.LOW, 0, {}, 10),
    ("low where 3/4 is used", Tier.LOW, 0, {"used": {Tier.NORMAL: 6000}}, 2),  # ⌊10·0.25⌋
    ("background on a busy CFS node", Tier.BACKGROUND, 0, {"used": {Tier.NORMAL: 6000}, "state": OBSERVE}, 1),
    ("low on an over-used node", Tier.LOW, 0, {"used": {Tier.NORMAL: 9000}}, 0),
    ("fresh at exactly the stale limit", Tier.LOW, 0, {"ts": NOW - 120}, 10),
    ("stale one second past the limit", Tier.LOW, 0, {"ts": NOW - 121}, 5),
    ("timestamp far in the future", Tier.LOW, 0, {"ts": NOW + 121}, 5),
]


@pytest.mark.parametrize(("case", "tier", "request_m", "overrides", "expected"), CASES, ids=[c[0] for c in CASES])
def test_score_follows_the_documented_formula(case: str, tier: Tier, request_m: int,
                                              overrides: dict[str, Any], expected: int) -> None:
    assessment = assess(load_annotations(**overrides))
    assert score(PodDemand(tier, request_m), assessment, NOW, 120).value == expected


def test_safe_mode_requested_on_the_node_counts_as_unprotected() -> None:
    annotations = {**load_annotations(), SAFE_MODE_KEY: "true"}
    assert score(PodDemand(Tier.CRITICAL, 100), assess(annotations), NOW).value == 0


@pytest.mark.parametrize(("annotations", "reason"), [
    ({}, NeutralReason.MISSING),
    ({TIER_LOAD_KEY: load_annotations()[TIER_LOAD_KEY]}, NeutralReason.MISSING),
    ({**load_annotations(), TIER_LOAD_KEY: "{not json"}, NeutralReason.MALFORMED),
    ({**load_annotations(), TIER_LOAD_KEY: '{"v":2}'}, NeutralReason.MALFORMED),
])
def test_missing_or_malformed_annotations_score_neutral_with_a_reason(annotations: dict[str, str],
                                                                     reason: NeutralReason) -> None:
    result = score(PodDemand(Tier.CRITICAL, 100), assess(annotations), NOW)
    assert (result.value, result.neutral) == (5, reason)


def test_stale_annotations_score_neutral_with_reason_stale() -> None:
    result = score(PodDemand(Tier.HIGH, 0), assess(load_annotations(ts=NOW - 3600)), NOW, 120)
    assert (result.value, result.neutral) == (5, NeutralReason.STALE)


def test_filter_refuses_only_critical_pods_on_nodes_that_cannot_protect_them() -> None:
    observe = assess(load_annotations(state=OBSERVE))
    full = assess(load_annotations(requests={Tier.HIGH: 5000}))
    assert refusal(PodDemand(Tier.HIGH, 100), observe, NOW) is None
    assert "observe-only" in (refusal(PodDemand(Tier.CRITICAL, 100), observe, NOW) or "")
    assert "500m is less than" in (refusal(PodDemand(Tier.CRITICAL, 600), full, NOW) or "")
    assert refusal(PodDemand(Tier.CRITICAL, 500), full, NOW) is None
    assert refusal(PodDemand(Tier.CRITICAL, 100), NeutralReason.MISSING, NOW) is None
