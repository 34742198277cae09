"""A pod's tier comes from its infera-* class, else its priority, else Normal."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper.tiers import PRIORITY_CLASSES, Tier, tier_from_priority, tier_of_pod
from tests.core.factories import pod

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)


@pytest.mark.parametrize("tier", list(Tier))
def test_infera_class_name_selects_the_tier(tier: Tier) -> None:
    assert tier_of_pod(pod(priority_class=f"infera-{tier.label}", priority=-5)) is tier


def test_pods_without_priority_are_normal() -> None:
    assert tier_of_pod(pod()) is Tier.NORMAL
    assert tier_of_pod(pod(priority=0)) is Tier.NORMAL


@pytest.mark.parametrize(("name", "value"), [("system-node-critical", 2_000_001_000),
                                             ("system-cluster-critical", 2_000_000_000)])
def test_system_critical_pods_never_land_below_normal(name: str, value: int) -> None:
    tier = tier_of_pod(pod(priority_class=name, priority=value))
    assert tier <= Tier.NORMAL
    assert tier is not Tier.CRITICAL, "system daemons must not consume fenced CPUs"


@pytest.mark.parametrize(("priority", "tier"), [
    (1_000_000, Tier.CRITICAL), (999_999, Tier.HIGH), (100_000, Tier.HIGH), (99_999, Tier.NORMAL),
    (-1, Tier.LOW), (-10_000, Tier.LOW), (-10_001, Tier.BACKGROUND), (-(2**31), Tier.BACKGROUND),
])
def test_priority_thresholds(priority: int, tier: Tier) -> None:
    assert tier_from_priority(priority) is tier


def test_priority_class_values_map_back_to_their_tier() -> None:
    for spec in PRIORITY_CLASSES:
        assert tier_from_priority(spec.value) is spec.tier
        assert spec.name == f"infera-{spec.tier.label}"


def test_unknown_infera_class_falls_back_to_priority() -> None:
    assert tier_of_pod(pod(priority_class="infera-platinum", priority=-50_000)) is Tier.BACKGROUND


@given(json_values)
def test_tier_of_pod_is_total(document: Any) -> None:
    assert tier_of_pod(document if isinstance(document, dict) else {"spec": document}) in Tier


@given(st.integers(min_value=1_000_000_001, max_value=2**31 - 1))
def test_system_range_priorities_are_at_least_normal(priority: int) -> None:
    assert tier_from_priority(priority) <= Tier.NORMAL
