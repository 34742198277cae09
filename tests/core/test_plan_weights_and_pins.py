"""Properties of the planner's two newer rules (issue #10): tier weights are per-tier
constants, so High never loses to Normal in their shared queue; and CPUs kubelet's static CPU
manager pinned a pod to agree with the fence (never fenced for a non-Critical pod, fenced for
a Critical one)."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from temper.plan import (
    HIGH_OVER_NORMAL,
    MAX_WEIGHT,
    TIER_DEFAULTS,
    Plan,
    PlanConfig,
    aggregate_weight,
    effective_weight,
    kubelet_cpu_weight,
    pinned_cpus,
    plan,
    pod_cpuset,
)
from temper.pods import PodInfo, QosClass
from temper.render import render_scx_layered, render_table
from temper.tiers import Tier
from temper.topology import NodeTopology
from tests.core import plan_strategies


def topologies() -> st.SearchStrategy[NodeTopology]:
    return plan_strategies.topologies(max_cores=16)


def pod_infos(tier: Tier | None = None) -> st.SearchStrategy[PodInfo]:
    return plan_strategies.pod_infos(tier, qos=tuple(QosClass), whole_cpus=True)


configs = st.builds(
    PlanConfig,
    critical_headroom=st.floats(min_value=0.0, max_value=1.0),
    min_shared_cpus=st.integers(min_value=1, max_value=4),
    unfenceable_cpus=st.frozensets(st.integers(min_value=0, max_value=3), max_size=2),
)


@st.composite
def node_facts(draw: st.DrawFn) -> tuple[NodeTopology, list[PodInfo], dict[str, frozenset[int]]]:
    """A node, its pods and, for some pods, an observed cpuset (any subset of the CPUs)."""
    topology = draw(topologies())
    pods = draw(st.lists(pod_infos(), max_size=30))
    cpus = sorted(topology.online)
    cpusets = {pod.uid: draw(st.frozensets(st.sampled_from(cpus), max_size=len(cpus)))
               for pod in pods if draw(st.booleans())}
    return topology, pods, cpusets


def _pinned(result: Plan, critical: bool) -> frozenset[int]:
    """The CPUs the plan found pinned to its Critical (or to its other) members."""
    return frozenset().union(*(m.pinned_cpus for m in result.members if (m.tier is Tier.CRITICAL) == critical))


def _weight(result: Plan, tier: Tier, pod_weight: int, nice_weight: int = 100) -> int:
    return effective_weight(result.tier(tier).weight, pod_weight, nice_weight)


# -- A: High never loses to Normal ---------------------------------------------------------

@given(topologies(), st.lists(pod_infos(), max_size=40), st.integers(min_value=1, max_value=10_000))
def test_a_high_pod_outweighs_any_normal_pod_with_no_larger_request_by_the_documented_multiple(
        topology: NodeTopology, pods: list[PodInfo], nice_weight: int) -> None:
    result = plan(topology, pods)
    high = [m for m in result.members if m.tier is Tier.HIGH]
    normal = [m for m in result.members if m.tier is Tier.NORMAL]
    for h in high:
        for n in normal:
            if n.cpu_request_milli <= h.cpu_request_milli:
                assert _weight(result, Tier.HIGH, h.weight, nice_weight) >= \
                    HIGH_OVER_NORMAL * _weight(result, Tier.NORMAL, n.weight, nice_weight)


@given(topologies(), st.lists(pod_infos(), max_size=30), st.lists(pod_infos(), max_size=30))
def test_a_pods_weight_does_not_depend_on_what_else_runs_on_the_node(
        topology: NodeTopology, pods: list[PodInfo], others: list[PodInfo]) -> None:
    alone, crowded = plan(topology, pods), plan(topology, [*pods, *others])
    for tier in Tier:
        assert alone.tier(tier).weight == crowded.tier(tier).weight == TIER_DEFAULTS[tier].base_weight
    weights = {m.uid: m.weight for m in crowded.members}
    assert all(weights[m.uid] == m.weight for m in alone.members)


@given(topologies(), st.lists(pod_infos(), max_size=40))
def test_weights_stay_in_range_and_low_outweighs_background(topology: NodeTopology, pods: list[PodInfo]) -> None:
    result = plan(topology, pods)
    assert all(1 <= t.weight <= MAX_WEIGHT for t in result.tiers)
    assert all(1 <= m.weight <= MAX_WEIGHT for m in result.members)
    assert result.tier(Tier.LOW).weight > result.tier(Tier.BACKGROUND).weight
    ordered = [result.tier(tier).weight for tier in Tier]
    assert ordered == sorted(ordered, reverse=True), "a higher tier never has a smaller base weight"


@given(st.integers(min_value=0, max_value=256_000))
def test_at_equal_requests_high_gets_exactly_its_multiple_of_normal(request: int) -> None:
    pod_weight = kubelet_cpu_weight(request)
    high = effective_weight(TIER_DEFAULTS[Tier.HIGH].base_weight, pod_weight)
    assert high == HIGH_OVER_NORMAL * effective_weight(TIER_DEFAULTS[Tier.NORMAL].base_weight, pod_weight)


def _pod(index: int, tier: Tier, request: int, qos: QosClass = QosClass.BURSTABLE) -> PodInfo:
    return PodInfo(f"00000000-0000-0000-0000-{index:012d}", "ns", f"p{index}", tier, request, None, qos,
                   phase="Running")


def test_fifty_normal_pods_no_longer_outweigh_a_high_pod() -> None:
    """The issue's case: under the old rule (tier weight x the tier's total cores) fifty 1-CPU
    Normal pods made each Normal task weigh 12.5 times a High task of the same size."""
    pods = [_pod(0, Tier.HIGH, 1000), *(_pod(i, Tier.NORMAL, 1000) for i in range(1, 51))]
    result = plan(NodeTopology.uniform(8), pods)
    one_core = kubelet_cpu_weight(1000)
    assert _weight(result, Tier.HIGH, one_core) == 4 * _weight(result, Tier.NORMAL, one_core)


def test_scx_layered_layers_still_weigh_a_tier_by_its_requested_cores() -> None:
    pods = [_pod(0, Tier.HIGH, 1000), *(_pod(i, Tier.NORMAL, 1000) for i in range(1, 31))]
    result = plan(NodeTopology.uniform(8), pods)
    paths = {p.uid: f"kubepods.slice/p{i}.slice" for i, p in enumerate(pods)}
    layers = {layer["name"]: next(iter(layer["kind"].values())) for layer in render_scx_layered(result, paths)}
    assert layers["high"]["weight"] == aggregate_weight(Tier.HIGH, 1000) == 400
    assert layers["normal"]["weight"] == aggregate_weight(Tier.NORMAL, 30_000) == 3000
    assert aggregate_weight(Tier.NORMAL, 10**9) == MAX_WEIGHT


# -- C: pinned CPUs vs the fence ----------------------------------------------------------

@given(node_facts(), configs)
def test_the_fence_never_holds_a_cpu_pinned_by_a_non_critical_pod(
        facts: tuple[NodeTopology, list[PodInfo], dict[str, frozenset[int]]], config: PlanConfig) -> None:
    topology, pods, cpusets = facts
    result = plan(topology, pods, config, cpusets=cpusets)
    others = _pinned(result, critical=False)
    assert result.fenced.isdisjoint(others)
    assert result.pinned_unfenced == others & topology.online
    assert result.fenced <= topology.online and result.fenced.isdisjoint(config.unfenceable_cpus)
    assert result.fenced | result.shared == topology.online and result.fenced.isdisjoint(result.shared)
    assert len(result.shared) >= min(config.min_shared_cpus, len(topology.online))


@given(node_facts(), configs)
def test_a_critical_pods_pinned_cpus_are_fenced_when_there_is_room(
        facts: tuple[NodeTopology, list[PodInfo], dict[str, frozenset[int]]], config: PlanConfig) -> None:
    topology, pods, cpusets = facts
    result = plan(topology, pods, config, cpusets=cpusets)
    others, critical = _pinned(result, critical=False), _pinned(result, critical=True)
    wanted = critical - others - config.unfenceable_cpus
    assert result.pinned_fenced <= result.fenced and result.pinned_fenced <= wanted
    if len(wanted) <= len(topology.online) - config.min_shared_cpus:
        assert result.pinned_fenced == wanted


@given(node_facts(), configs)
def test_cores_without_pinned_cpus_are_fenced_whole(
        facts: tuple[NodeTopology, list[PodInfo], dict[str, frozenset[int]]], config: PlanConfig) -> None:
    topology, pods, cpusets = facts
    result = plan(topology, pods, config, cpusets=cpusets)
    pinned = _pinned(result, critical=True) | _pinned(result, critical=False)
    for core in topology.cores().values():
        if pinned.isdisjoint(core):
            assert set(core) <= result.fenced or result.fenced.isdisjoint(core)


@given(node_facts())
def test_a_cpu_two_pods_hold_is_nobodys_pin_and_pins_stay_within_what_was_observed(
        facts: tuple[NodeTopology, list[PodInfo], dict[str, frozenset[int]]]) -> None:
    topology, pods, cpusets = facts
    result = plan(topology, pods, cpusets=cpusets)
    live = {m.uid for m in result.members}
    for member in result.members:
        assert member.pinned_cpus <= cpusets.get(member.uid, frozenset()) & topology.online
        for other, cpus in cpusets.items():
            if other != member.uid and other in live:
                assert member.pinned_cpus.isdisjoint(cpus)


@given(node_facts(), pod_infos(Tier.CRITICAL), configs)
def test_with_pins_fixed_more_critical_requests_never_shrink_the_fence(
        facts: tuple[NodeTopology, list[PodInfo], dict[str, frozenset[int]]], extra: PodInfo,
        config: PlanConfig) -> None:
    topology, pods, cpusets = facts
    assume(not extra.is_terminal and extra.uid not in {p.uid for p in pods})
    before = plan(topology, pods, config, cpusets=cpusets)
    after = plan(topology, [*pods, extra], config, cpusets=cpusets)
    assert before.fenced <= after.fenced


@given(topologies(), st.lists(pod_infos(), max_size=30), configs)
def test_no_observed_cpusets_is_the_plan_without_pins(topology: NodeTopology, pods: list[PodInfo],
                                                       config: PlanConfig) -> None:
    result = plan(topology, pods, config, cpusets={})
    assert result == plan(topology, pods, config)
    assert not result.pinned_fenced and not result.pinned_unfenced


def test_only_a_guaranteed_pod_within_its_request_counts_as_pinned() -> None:
    online = frozenset(range(8))
    guaranteed = _pod(1, Tier.HIGH, 2000, QosClass.GUARANTEED)
    assert pinned_cpus(guaranteed, frozenset({2, 3}), online) == {2, 3}
    assert pinned_cpus(guaranteed, frozenset({2, 3, 9}), online) == {2, 3}, "offline CPUs do not count"
    assert pinned_cpus(guaranteed, online, online) == frozenset(), "every online CPU is no pin"
    assert pinned_cpus(guaranteed, frozenset(range(5)), online) == frozenset(), "the shared pool is no pin"
    assert pinned_cpus(_pod(2, Tier.HIGH, 2000), frozenset({2, 3}), online) == frozenset(), "Burstable"
    assert pinned_cpus(_pod(3, Tier.HIGH, 1500, QosClass.GUARANTEED), frozenset({2, 3}), online) == frozenset()


def test_worked_example_pins_move_the_fence() -> None:
    topology = NodeTopology.uniform(8, threads_per_core=2)  # cores {0,1} {2,3} {4,5} {6,7}
    critical = _pod(1, Tier.CRITICAL, 1500)
    high = _pod(2, Tier.HIGH, 2000, QosClass.GUARANTEED)
    assert plan(topology, [critical, high]).fenced == {6, 7}
    moved = plan(topology, [critical, high], cpusets={high.uid: frozenset({6, 7})})
    assert moved.fenced == {4, 5} and moved.pinned_unfenced == {6, 7}, "the pinned core is skipped whole"
    pinned_critical = _pod(3, Tier.CRITICAL, 2000, QosClass.GUARANTEED)
    result = plan(topology, [pinned_critical], cpusets={pinned_critical.uid: frozenset({2, 3})})
    assert result.fenced == result.pinned_fenced == {2, 3} and result.fence_wanted_cpus == 2
    assert "fenced for critical 2-3" in render_table(result)


@given(st.lists(st.frozensets(st.integers(min_value=0, max_value=11), max_size=12), max_size=5))
def test_a_pods_cpuset_leaves_out_unconstrained_containers(container_cpusets: list[frozenset[int]]) -> None:
    online = frozenset(range(8))
    result = pod_cpuset(container_cpusets, online)
    constrained = [cpus for cpus in container_cpusets if not online <= cpus]
    assert result == frozenset().union(*constrained)
    assert pod_cpuset([online, frozenset({2, 3})], online) == {2, 3}, "the sandbox inherits every CPU"


def test_the_shared_pool_is_no_pin_even_for_a_pod_that_requests_more_than_it() -> None:
    topology = NodeTopology.uniform(8, threads_per_core=2)
    pool = frozenset(range(6))  # CPUs 6-7 are exclusive to someone else
    big = _pod(1, Tier.HIGH, 7000, QosClass.GUARANTEED)
    small = _pod(2, Tier.NORMAL, 500, QosClass.GUARANTEED)
    pinned = _pod(3, Tier.HIGH, 2000, QosClass.GUARANTEED)
    critical = _pod(4, Tier.CRITICAL, 1500)
    result = plan(topology, [big, small, pinned, critical],
                  cpusets={big.uid: pool, small.uid: pool, pinned.uid: frozenset({6, 7})})
    assert {m.uid: m.pinned_cpus for m in result.members if m.pinned_cpus} == {pinned.uid: {6, 7}}
    assert result.fenced == {4, 5}
