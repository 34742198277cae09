"""Hypothesis strategies shared by the planner's property tests: regular topologies and pods."""

from __future__ import annotations

import uuid

from hypothesis import strategies as st

from temper.pods import PodInfo, QosClass
from temper.tiers import Tier
from temper.topology import NodeTopology


@st.composite
def topologies(draw: st.DrawFn, max_cores: int = 32) -> NodeTopology:
    threads = draw(st.sampled_from([1, 2]))
    cores = draw(st.integers(min_value=1, max_value=max_cores))
    per_llc = draw(st.integers(min_value=1, max_value=cores))
    return NodeTopology.uniform(cores * threads, threads, per_llc)


@st.composite
def pod_infos(draw: st.DrawFn, tier: Tier | None = None, qos: tuple[QosClass, ...] = (QosClass.BURSTABLE,),
              whole_cpus: bool = False) -> PodInfo:
    """A pod of ``tier`` (any if None) and one of ``qos``; ``whole_cpus`` also draws requests of
    whole CPUs often (the only ones kubelet's static CPU manager pins)."""
    request = st.integers(min_value=0, max_value=64_000)
    if whole_cpus:
        request = st.one_of(request, st.integers(min_value=0, max_value=8).map(lambda n: n * 1000))
    return PodInfo(
        uid=str(uuid.UUID(int=draw(st.integers(min_value=0, max_value=2**64)))),
        namespace="ns", name=f"p{draw(st.integers(0, 10**6))}",
        tier=tier if tier is not None else draw(st.sampled_from(list(Tier))),
        cpu_request_milli=draw(request),
        cpu_limit_milli=None, qos=draw(st.sampled_from(qos)),
        phase=draw(st.sampled_from(["Running", "Pending", "Succeeded"])),
    )
