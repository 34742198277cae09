"""Properties of scoring: bounded, total, monotone for Critical. (That the precomputed hot
path answers what this reference gives: tests/extender/test_table_exactness.py.)"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from extender.scoring import NeutralReason, NodeFacts, PodDemand, assess, facts_of, score
from temper.annotations import (
    ENFORCEMENT_KEY,
    SAFE_MODE_KEY,
    TIER_LOAD_KEY,
    EnforcementState,
    EnforcementStatus,
    NodeLoad,
    TierLoad,
    encode_enforcement,
    encode_node_load,
)
from temper.tiers import Tier
from tests.extender.factories import NOW

tier_loads = st.builds(TierLoad, st.integers(0, 10**7), st.integers(0, 10**7), st.floats(0, 1000))
node_loads = st.builds(
    NodeLoad, timestamp=st.integers(NOW - 500, NOW + 500), cpus=st.integers(1, 512),
    fenced=st.frozensets(st.integers(0, 511), max_size=64), free_protected_milli=st.integers(0, 10**7),
    tiers=st.dictionaries(st.sampled_from(list(Tier)), tier_loads),
)
statuses = st.builds(EnforcementStatus, st.sampled_from(list(EnforcementState)))
demands = st.builds(PodDemand, st.sampled_from(list(Tier)), st.integers(0, 10**7))
annotation_text = st.one_of(st.text(max_size=40), st.just('{"v":1}'), st.just("{}"),
                            node_loads.map(encode_node_load), statuses.map(encode_enforcement))
annotation_maps = st.dictionaries(st.sampled_from([TIER_LOAD_KEY, ENFORCEMENT_KEY, SAFE_MODE_KEY]), annotation_text)


@settings(max_examples=1000)
@given(node_loads, statuses, st.booleans(), demands, st.floats(NOW - 1000, NOW + 1000))
def test_scores_are_always_within_0_and_10(load: NodeLoad, status: EnforcementStatus, safe: bool,
                                           demand: PodDemand, now: float) -> None:
    assert 0 <= score(demand, facts_of(load, status, safe), now).value <= 10


@settings(max_examples=1000)
@given(annotation_maps, demands)
def test_scoring_is_total_over_any_annotation_strings(annotations: dict[str, str], demand: PodDemand) -> None:
    assessment = assess(annotations)
    assert isinstance(assessment, (NodeFacts, NeutralReason))
    assert 0 <= score(demand, assessment, NOW).value <= 10


@settings(max_examples=1000)
@given(node_loads, statuses, st.integers(0, 10**7), st.integers(0, 10**7))
def test_more_free_protected_capacity_never_lowers_a_critical_pods_score(
        load: NodeLoad, status: EnforcementStatus, extra: int, request: int) -> None:
    richer = dataclasses.replace(load, free_protected_milli=load.free_protected_milli + extra)
    demand = PodDemand(Tier.CRITICAL, request)
    assert score(demand, facts_of(richer, status), NOW).value >= score(demand, facts_of(load, status), NOW).value

