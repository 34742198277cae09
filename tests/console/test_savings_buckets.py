"""Savings arithmetic (``console.savings``, pure): buckets are disjoint, they fit in the total,
unpriced types are listed and never priced at 0, recommendations follow the percentile rule."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.agents import parse_observation
from console.pricing import Price, PriceBook, PriceError, capacity_type, parse_price_book
from console.savings import (
    BaselinePool,
    NodeFacts,
    PodFacts,
    RecommendPolicy,
    pool_millis,
    recommend,
    savings,
)
from console.usage import UsageHistory, observed_use

POOLS = [("m6i.xlarge", "on-demand", "eu-west-1"), ("c6i.4xlarge", "spot", "eu-west-1"), ("", "", "")]


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[NodeFacts], list[PodFacts], list[BaselinePool]]:
    nodes = [NodeFacts(f"n{i}", draw(st.sampled_from(POOLS)), draw(st.integers(0, 64_000)))
             for i in range(draw(st.integers(0, 8)))]
    pods = []
    for _ in range(draw(st.integers(0, 40))):
        request = draw(st.integers(0, 20_000))
        pods.append(PodFacts(draw(st.sampled_from([n.name for n in nodes] + ["gone"])), request,
                             draw(st.none() | st.integers(0, 40_000)), draw(st.none() | st.integers(0, 20_000))))
    baseline = [BaselinePool(pool, draw(st.integers(0, 20)), draw(st.integers(0, 500_000)))
                for pool in draw(st.lists(st.sampled_from(POOLS), unique=True))]
    return nodes, pods, baseline


BOOK = PriceBook("USD", {("m6i.xlarge", "", ""): Price(node_hour=0.192),
                         ("c6i.4xlarge", "spot", ""): Price(vcpu_hour=0.02)})


@given(fleets())
def test_no_millicore_is_in_two_buckets_and_the_buckets_fit_in_the_pool(
        fleet: tuple[list[NodeFacts], list[PodFacts], list[BaselinePool]]) -> None:
    nodes, pods, baseline = fleet
    for pool in pool_millis(nodes, pods, baseline):
        buckets = (pool.removed_m, pool.packed_m, pool.identified_m)
        assert min(buckets) >= 0
        assert sum(buckets) <= pool.universe_m
        assert pool.packed_m + pool.identified_m <= pool.capacity_m


@given(fleets(), st.sampled_from([1.0, 24.0, 730.0]))
def test_realized_plus_identified_never_exceeds_the_total_cost(
        fleet: tuple[list[NodeFacts], list[PodFacts], list[BaselinePool]], hours: float) -> None:
    report = savings(pool_millis(*fleet), BOOK, hours, "w")
    assert report.realized.total >= 0 and report.identified.total >= 0
    assert report.realized.total + report.identified.total <= report.total_cost * (1 + 1e-9) + 1e-9
    assert all(line.amount > 0 for line in report.realized.by_instance_type + report.identified.by_instance_type)


def test_packing_that_let_a_node_go_is_counted_once_as_removal() -> None:
    nodes = [NodeFacts("a", POOLS[0], 4000)]
    pods = [PodFacts("a", 1000, 3000, None), PodFacts("a", 1000, 3000, None)]  # 4000 m packed away
    [pool] = pool_millis(nodes, pods, [BaselinePool(POOLS[0], 2, 8000)])
    assert (pool.removed_m, pool.packed_m, pool.realized_m) == (4000, 0, 4000)
    [pool] = pool_millis(nodes, pods, [])
    assert (pool.removed_m, pool.packed_m) == (0, 4000)


def test_identified_and_packed_ranges_of_one_pod_are_disjoint() -> None:
    # original 2000 -> request 1000 (1000 packed); recommended 300 -> 700 identified
    [pool] = pool_millis([NodeFacts("a", POOLS[0], 8000)], [PodFacts("a", 1000, 2000, 300)], [])
    assert (pool.packed_m, pool.identified_m) == (1000, 700)


def test_money_is_millicores_times_hours_times_the_pools_price() -> None:
    nodes = [NodeFacts("a", POOLS[0], 4000)]
    report = savings(pool_millis(nodes, [PodFacts("a", 1000, None, 200)], [BaselinePool(POOLS[0], 2, 8000)]),
                     BOOK, 730.0, "month")
    per_milli_hour = 0.192 / 4000
    assert math.isclose(report.total_cost, 8000 * 730 * per_milli_hour)
    assert math.isclose(report.realized.total, 4000 * 730 * per_milli_hour)
    assert report.realized.by_instance_type[0].node_hours == pytest.approx(730.0)
    assert math.isclose(report.identified.total, 800 * 730 * per_milli_hour)


def test_unpriced_types_are_listed_and_left_out_of_every_sum() -> None:
    nodes = [NodeFacts("a", ("r6i.2xlarge", "on-demand", "eu-west-1"), 8000), NodeFacts("b", ("", "", ""), 8000)]
    report = savings(pool_millis(nodes, [PodFacts("a", 4000, 8000, 100)], []), BOOK, 1.0, "1h")
    assert report.unpriced_instance_types == ["(no instance-type label)", "r6i.2xlarge"]
    assert report.total_cost == 0 and report.realized.by_instance_type == [] == report.identified.by_instance_type


def test_price_lookup_goes_from_the_most_specific_key_to_the_default() -> None:
    book = parse_price_book("""
currency: EUR
default: {vcpuHour: 0.05}
prices:
  - {instanceType: m6i.xlarge, nodeHour: 0.2}
  - {instanceType: m6i.xlarge, capacityType: spot, nodeHour: 0.07}
  - {instanceType: m6i.xlarge, capacityType: spot, region: us-east-1, nodeHour: 0.06}
""")
    assert book.currency == "EUR"
    assert book.lookup("m6i.xlarge", "spot", "us-east-1") == Price(node_hour=0.06)
    assert book.lookup("m6i.xlarge", "spot", "eu-west-1") == Price(node_hour=0.07)
    assert book.lookup("m6i.xlarge", "on-demand", "eu-west-1") == Price(node_hour=0.2)
    assert book.lookup("z9.huge", "", "") == Price(vcpu_hour=0.05)
    assert book.lookup(None, "", "") is None
    assert parse_price_book("").lookup("m6i.xlarge", "", "") is None


@pytest.mark.parametrize("text, message", [
    ("prices: [{instanceType: a}]", "exactly one of nodeHour or vcpuHour"),
    ("prices: [{instanceType: a, nodeHour: -1}]", "finite number >= 0"),
    ("prices: [{instanceType: a, nodeHour: .nan}]", "finite number >= 0"),
    ("prices: [{nodeHour: 1}]", "instanceType: expected a non-empty string"),
    ("prices: [{instanceType: a, capacityType: cheap, nodeHour: 1}]", "spot or on-demand"),
    ("prices: [{instanceType: a, nodeHour: 1}, {instanceType: a, vcpuHour: 1}]", "a second price"),
    ("default: {nodeHour: 1}", "only vcpuHour"),
    ("cost: 3", "unknown field"),
    ("[1, 2]", "must be a mapping"),
    ("prices: {", "not YAML"),
])
def test_a_bad_price_book_is_refused_with_the_field_named(text: str, message: str) -> None:
    with pytest.raises(PriceError, match=message):
        parse_price_book(text)


@pytest.mark.parametrize("labels, expected", [
    ({"karpenter.sh/capacity-type": "spot"}, "spot"),
    ({"eks.amazonaws.com/capacityType": "ON_DEMAND"}, "on-demand"),
    ({"cloud.google.com/gke-spot": "true"}, "spot"),
    ({"cloud.google.com/gke-preemptible": "true"}, "spot"),
    ({"kubernetes.azure.com/scalesetpriority": "regular"}, "on-demand"),
    ({}, ""),
])
def test_capacity_type_comes_from_the_provisioners_labels(labels: dict[str, str], expected: str) -> None:
    assert capacity_type(labels) == expected


def test_recommendation_is_the_p95_with_headroom_after_enough_samples() -> None:
    policy = RecommendPolicy(quantile=0.95, headroom=1.5, floor_m=10, min_samples=20)
    assert recommend(list(range(19)), policy) is None
    assert recommend(list(range(1, 101)), policy) == math.ceil(95 * 1.5)
    assert recommend([0] * 30, policy) == 10


@given(st.lists(st.integers(0, 100_000), min_size=12, max_size=200))
def test_a_recommendation_covers_the_quantile_of_use(samples: list[int]) -> None:
    value = recommend(samples)
    assert value is not None
    assert sum(1 for s in samples if s <= value) >= 0.95 * len(samples)


def test_usage_history_keeps_the_last_samples_and_forgets_pods_that_are_gone() -> None:
    history = UsageHistory(keep=3)
    for used in (5, 6, 7, 8):
        history.add("ns/a", used)
    history.add("ns/b", 1)
    assert list(history.samples["ns/a"]) == [6, 7, 8]
    history.retain({"ns/a"})
    history.refresh(RecommendPolicy(quantile=1.0, headroom=1.0, floor_m=0, min_samples=3))
    assert set(history.samples) == {"ns/a"} and history.recommended == {"ns/a": 8}


def test_observed_use_skips_pods_without_a_name_or_a_measured_use() -> None:
    observation = parse_observation(json.dumps({"pods": [
        {"uid": "1", "namespace": "ns", "name": "a", "used_m": 40}, {"uid": "2", "namespace": "ns", "name": "b"},
        {"uid": "3", "name": "d", "used_m": 1},
        {"uid": "4", "namespace": "ns", "name": "e", "used_m": None}]}).encode())
    assert observed_use(observation) == {"ns/a": 40}
    assert observed_use(parse_observation(b"{}")) == {}
