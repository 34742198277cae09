"""Properties of the layer planner (temper.plan), over generated topologies and pods."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from temper.plan import PlanConfig, fence_size_wanted, plan
from temper.pods import PodInfo, QosClass
from temper.tiers import Tier
from temper.topology import NodeTopology
from tests.core.plan_strategies import pod_infos, topologies

configs = st.builds(
    PlanConfig,
    critical_headroom=st.floats(min_value=0.0, max_value=1.0),
    min_shared_cpus=st.integers(min_value=1, max_value=4),
    smt_isolation=st.booleans(),
)


@given(topologies(), st.lists(pod_infos(), max_size=40), configs)
def test_every_live_pod_is_in_exactly_one_tier(topology: NodeTopology, pods: list[PodInfo],
                                                config: PlanConfig) -> None:
    result = plan(topology, pods, config)
    live = {p.uid for p in pods if not p.is_terminal}
    assert [m.uid for m in result.members] == sorted(live)
    assert sum(t.pods for t in result.tiers) == len(live)


@given(topologies(), st.lists(pod_infos(), max_size=40), configs)
def test_fence_is_whole_cores_of_online_cpus_and_leaves_the_shared_minimum(
        topology: NodeTopology, pods: list[PodInfo], config: PlanConfig) -> None:
    result = plan(topology, pods, config)
    assert result.fenced <= topology.online
    assert result.fenced.isdisjoint(result.shared)
    assert result.fenced | result.shared == topology.online
    assert len(result.shared) >= min(config.min_shared_cpus, len(topology.online))
    for core_cpus in topology.cores().values():
        assert set(core_cpus) <= result.fenced or result.fenced.isdisjoint(core_cpus)
    if result.critical_request_milli == 0:
        assert result.fenced == frozenset()


@given(topologies(), st.lists(pod_infos(Tier.CRITICAL), min_size=1, max_size=10), pod_infos(Tier.CRITICAL), configs)
def test_more_critical_requests_never_shrink_the_fence(topology: NodeTopology, pods: list[PodInfo],
                                                        extra: PodInfo, config: PlanConfig) -> None:
    assume(not extra.is_terminal and extra.uid not in {p.uid for p in pods})
    before = plan(topology, pods, config)
    after = plan(topology, [*pods, extra], config)
    assert before.fenced <= after.fenced


@given(topologies(), st.lists(pod_infos(), max_size=30), pod_infos(Tier.NORMAL), configs)
def test_a_non_critical_pod_arriving_changes_only_its_own_membership(
        topology: NodeTopology, pods: list[PodInfo], extra: PodInfo, config: PlanConfig) -> None:
    assume(extra.uid not in {p.uid for p in pods})
    assume(len({p.uid for p in pods}) == len(pods))
    before = plan(topology, pods, config)
    after = plan(topology, [*pods, extra], config)
    assert before.fenced == after.fenced
    assert set(before.members) <= set(after.members)
    assert plan(topology, list(reversed(pods)), config) == before, "order of pods must not matter"


@given(topologies(), st.lists(pod_infos(), max_size=30), configs)
def test_tier_treatment_follows_the_design(topology: NodeTopology, pods: list[PodInfo],
                                           config: PlanConfig) -> None:
    result = plan(topology, pods, config)
    for tier in (Tier.HIGH, Tier.NORMAL):
        assert result.tier(tier).cpus == result.shared
        assert result.tier(tier).preempt and not result.tier(tier).preemptible
    for tier in (Tier.LOW, Tier.BACKGROUND):
        assert result.tier(tier).cpus == topology.online
        assert result.tier(tier).preemptible and not result.tier(tier).preempt
    assert result.tier(Tier.HIGH).weight >= 1 and result.tier(Tier.BACKGROUND).weight <= result.tier(Tier.LOW).weight
    if result.fenced:
        assert result.tier(Tier.CRITICAL).cpus == result.fenced


@given(topologies(), st.lists(pod_infos(), max_size=10), configs)
def test_smt_siblings_pair_cpus_of_one_core_and_only_batch_yields(
        topology: NodeTopology, pods: list[PodInfo], config: PlanConfig) -> None:
    result = plan(topology, pods, config)
    core_of = {c.cpu: c.core for c in topology.cpus}
    siblings = dict(result.smt_siblings)
    assert len(siblings) == len(result.smt_siblings)
    for cpus in topology.cores().values():
        for cpu in cpus:
            others = [c for c in cpus if c != cpu]
            assert siblings.get(cpu) == (min(others) if others else None)
    assert all(core_of[cpu] == core_of[sib] for cpu, sib in siblings.items())
    yielding = {t.tier for t in result.tiers if t.yields_smt_sibling}
    assert yielding == ({Tier.LOW, Tier.BACKGROUND} if config.smt_isolation else set())


def test_worked_example_from_the_module_docstring() -> None:
    topology = NodeTopology.uniform(8, threads_per_core=2)
    crit = [PodInfo(f"00000000-0000-0000-0000-00000000000{i}", "ns", f"c{i}", Tier.CRITICAL, 750, None,
                    QosClass.BURSTABLE) for i in range(2)]
    assert sorted(plan(topology, crit).fenced) == [6, 7]
    crit.append(PodInfo("00000000-0000-0000-0000-000000000009", "ns", "c9", Tier.CRITICAL, 1000, None,
                        QosClass.BURSTABLE))
    assert sorted(plan(topology, crit).fenced) == [4, 5, 6, 7]


def test_fence_prefers_one_llc() -> None:
    topology = NodeTopology.uniform(16, threads_per_core=2, cores_per_llc=4)
    pods = [PodInfo("00000000-0000-0000-0000-000000000001", "ns", "c", Tier.CRITICAL, 5000, None,
                    QosClass.GUARANTEED)]
    fenced = plan(topology, pods).fenced
    assert len(fenced) == 6
    assert {cpu // 8 for cpu in fenced} == {1}, "all fenced cores come from one LLC"


def test_tiny_node_runs_critical_on_shared_cpus() -> None:
    topology = NodeTopology.uniform(1)
    pods = [PodInfo("00000000-0000-0000-0000-000000000001", "ns", "c", Tier.CRITICAL, 500, None,
                    QosClass.BURSTABLE)]
    result = plan(topology, pods)
    assert result.fenced == frozenset() and result.fence_capped
    assert result.tier(Tier.CRITICAL).cpus == frozenset({0})


def test_fence_size_rounds_up_with_headroom() -> None:
    assert fence_size_wanted(0, 0.1) == 0
    assert fence_size_wanted(1000, 0.0) == 1
    assert fence_size_wanted(1000, 0.1) == 2
    assert fence_size_wanted(900, 0.1) == 1
