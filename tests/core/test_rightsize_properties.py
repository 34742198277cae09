"""Properties of the rightsizer's pure core, over arbitrary usage series and policies.

The request is never below the floor, always covers the percentile plus the margin (and by
less than one rounding step more), never falls when the percentile or the margin rises; the
HPA arithmetic preserves the scaling point; the nearest-rank percentile is an observed value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from temper.rightsize import Kind, Policy, recommend
from temper.rightsize.hpa import adjust
from temper.rightsize.owners import CpuTarget, Hpa
from temper.rightsize.stats import percentile
from tests.core.rightsize_scenarios import PodTrack, documents

usage = st.lists(st.floats(min_value=0, max_value=64_000, allow_nan=False), min_size=10, max_size=60)
percentiles = st.floats(min_value=1, max_value=100)
margins = st.floats(min_value=0, max_value=100)
floors = st.integers(min_value=0, max_value=2000)


def request_for(samples: list[float], policy: Policy) -> int:
    (rec,) = recommend(documents([PodTrack("uid-p", "p-0", samples)], threads=False), policy)
    assert rec.kind is Kind.REQUEST
    return int(rec.values["request_m"])


@settings(max_examples=150, deadline=None)
@given(usage, percentiles, margins, floors)
def test_the_request_covers_floor_percentile_and_margin_within_one_step(samples: list[float], p: float,
                                                                         margin: float, floor: int) -> None:
    policy = Policy(percentile=p, margin_pct=margin, floor_m=floor)
    request = request_for(samples, policy)
    covered = percentile(samples, p) * (1 + margin / 100)
    assert request >= floor
    assert request >= covered - 1e-6
    assert request <= max(floor, covered + policy.step_m)
    assert request % policy.step_m == 0 or request == floor


@settings(max_examples=100, deadline=None)
@given(usage, percentiles, percentiles, margins)
def test_the_request_is_monotone_in_the_percentile(samples: list[float], p1: float, p2: float, margin: float) -> None:
    low, high = sorted((p1, p2))
    assert request_for(samples, Policy(percentile=low, margin_pct=margin)) <= \
        request_for(samples, Policy(percentile=high, margin_pct=margin))


@settings(max_examples=100, deadline=None)
@given(usage, percentiles, margins, margins)
def test_the_request_is_monotone_in_the_margin(samples: list[float], p: float, m1: float, m2: float) -> None:
    low, high = sorted((m1, m2))
    assert request_for(samples, Policy(percentile=p, margin_pct=low)) <= \
        request_for(samples, Policy(percentile=p, margin_pct=high))


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50), percentiles)
def test_the_percentile_is_an_observed_value(values: list[float], p: float) -> None:
    assert percentile(values, p) in values
    assert percentile(values, 100) == max(values)


@given(st.integers(min_value=10, max_value=64_000), st.integers(min_value=10, max_value=64_000),
       st.integers(min_value=1, max_value=100))
def test_the_hpa_aware_target_keeps_the_scaling_point_or_is_refused(old: int, new: int, target: int) -> None:
    hpa = Hpa("default", "web", "Deployment", "web", (CpuTarget("Utilization", float(target)),), 0, 1, 10, 2)
    outcome = adjust([hpa], old, new, 100.0)
    assert outcome is not None
    point = target * old / 100
    if outcome.refused:
        assert target * old / new > 100
        assert outcome.values["smallest_request_keeping_scaling_point_m"] * 100 / 100 >= point
    else:
        new_target = outcome.values["target_utilization_pct"]
        assert 1 <= new_target <= 100
        assert abs(new_target * new / 100 - point) <= new / 200 + 1e-9 or new_target == 1
