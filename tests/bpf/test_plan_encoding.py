"""A plan encodes into the map entries the scheduler expects (temper.bpfmaps)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper import bpfmaps
from temper.plan import PlanConfig, plan
from temper.pods import PodInfo, QosClass
from temper.tiers import Tier
from temper.topology import CpuInfo, NodeTopology


def pod(uid: str, tier: Tier, milli: int) -> PodInfo:
    return PodInfo(uid, "ns", uid, tier, milli, None, QosClass.BURSTABLE)


def test_a_small_plan_encodes_exactly() -> None:
    result = plan(NodeTopology.uniform(4), [pod("a", Tier.CRITICAL, 800), pod("b", Tier.BACKGROUND, 100)])
    contents = bpfmaps.encode_plan(result, {"a": 1001, "b": 1002}, generation=7)
    assert contents.cpus == {bpfmaps.U32.pack(c): bpfmaps.U32.pack(1 if c == 3 else 0) for c in range(4)}
    assert contents.cgroups == {
        bpfmaps.U64.pack(1001): bpfmaps.CGROUP_ENTRY.pack(0, result.members[0].weight),
        bpfmaps.U64.pack(1002): bpfmaps.CGROUP_ENTRY.pack(4, result.members[1].weight),
    }
    slice_ns, weight, flags = bpfmaps.TIER_CONFIG.unpack(contents.tiers[bpfmaps.U32.pack(Tier.BACKGROUND)])
    assert slice_ns == result.tier(Tier.BACKGROUND).slice_us * 1000 and weight == 1
    assert flags == bpfmaps.TierFlag.PREEMPTIBLE | bpfmaps.TierFlag.BORROW_FENCED | bpfmaps.TierFlag.SMT_YIELD
    _, critical_flags = bpfmaps.TIER_CONFIG.unpack(contents.tiers[bpfmaps.U32.pack(0)])[1:]
    assert critical_flags == bpfmaps.TierFlag.PREEMPT
    generation, guard_ns, nr_fenced, abi = bpfmaps.GLOBAL_CONFIG.unpack(contents.global_config[1])
    assert (generation, guard_ns, nr_fenced, abi) == (7, 200_000_000, 1, bpfmaps.ABI_VERSION)


def test_smt_siblings_are_encoded_and_only_batch_yields_them() -> None:
    """2-way SMT, cores {0,1} {2,3}: each CPU names its sibling; an offline sibling is -1."""
    topology = NodeTopology.uniform(4, threads_per_core=2)
    result = plan(topology, [pod("a", Tier.CRITICAL, 800), pod("b", Tier.LOW, 100)])
    contents = bpfmaps.encode_plan(result, {}, generation=1)
    assert contents.topology == {bpfmaps.U32.pack(c): bpfmaps.CPU_TOPOLOGY.pack(s, 0)
                                 for c, s in ((0, 1), (1, 0), (2, 3), (3, 2))}
    yielding = {t.tier for t in result.tiers if t.yields_smt_sibling}
    assert yielding == {Tier.LOW, Tier.BACKGROUND}
    lone = plan(NodeTopology((CpuInfo(0, 0, 0), CpuInfo(1, 0, 0), CpuInfo(2, 1, 0))), [])
    assert bpfmaps.encode_plan(lone, {}, generation=1).topology[bpfmaps.U32.pack(2)] == bpfmaps.CPU_TOPOLOGY.pack(-1, 0)


def test_llcs_get_dense_indexes_and_more_than_the_maximum_fold() -> None:
    """LLC ids are opaque (sysfs: lowest CPU sharing it); the map gets 0.. in id order."""
    two = plan(NodeTopology.uniform(4, cores_per_llc=2), [])
    assert two.llc_index == ((0, 0), (1, 0), (2, 1), (3, 1))
    many = plan(NodeTopology.uniform(40, cores_per_llc=2), [])
    llcs = {bpfmaps.CPU_TOPOLOGY.unpack(v)[1] for v in bpfmaps.encode_plan(many, {}, generation=1).topology.values()}
    assert llcs == set(range(bpfmaps.MAX_LLCS))


def test_smt_isolation_off_clears_the_flag() -> None:
    result = plan(NodeTopology.uniform(4), [pod("b", Tier.BACKGROUND, 100)], PlanConfig(smt_isolation=False))
    flags = bpfmaps.TIER_CONFIG.unpack(bpfmaps.encode_plan(result, {}, generation=1).tiers[bpfmaps.U32.pack(4)])[2]
    assert not flags & bpfmaps.TierFlag.SMT_YIELD


def test_pods_without_a_cgroup_yet_are_left_out() -> None:
    result = plan(NodeTopology.uniform(2), [pod("a", Tier.HIGH, 100)])
    assert bpfmaps.encode_plan(result, {}, generation=1).cgroups == {}


def test_generation_zero_and_bad_cgroup_ids_are_refused() -> None:
    result = plan(NodeTopology.uniform(2), [pod("a", Tier.HIGH, 100)])
    with pytest.raises(ValueError, match="generation"):
        bpfmaps.encode_plan(result, {}, generation=0)
    with pytest.raises(ValueError, match="cgroup id"):
        bpfmaps.encode_plan(result, {"a": 0}, generation=1)


def test_exit_record_decodes_and_describes() -> None:
    raw = bpfmaps.EXIT_RECORD.pack(1026, 0, 5, b"runnable task stall", b"watchdog failed to check in")
    record = bpfmaps.decode_exit_record(raw)
    assert record.describe() == "ERROR_STALL: runnable task stall: watchdog failed to check in"
    assert bpfmaps.decode_exit_record(bytes(bpfmaps.EXIT_RECORD.size)).describe() == ""
    with pytest.raises(ValueError):
        bpfmaps.decode_exit_record(b"short")


@given(st.dictionaries(st.integers(0, 40), st.integers(0, 2**40)))
def test_stats_decode_is_total(values: dict[int, int]) -> None:
    decoded = bpfmaps.decode_stats(values)
    assert set(decoded) == set(Tier)
    assert all(len(counters) == bpfmaps.NR_STATS for counters in decoded.values())
