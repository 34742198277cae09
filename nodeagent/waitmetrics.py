"""Runqueue waits as the agent serves them: Prometheus histograms and the ``/observe`` summaries.

Why a module of its own: ``nodeagent.server`` stays the endpoint wiring; this is the mapping
from the enforcer's wait histograms (``EnforcerStatus.waits`` per tier, ``pod_waits`` per pod
cgroup id, read with bpf(2) once per scan - never per scrape) to what users read.

- ``temper_runqueue_wait_seconds{tier}``: a histogram with the scheduler's own log2 bounds
  (1.024 µs x 2^b, 23 finite buckets): five tiers, fixed cardinality.
- ``temper_pod_runqueue_wait_seconds{namespace,pod}``: the same per pod with 8 coarse finite
  bounds (16 µs .. 1.07 s: ``POD_BOUNDS``), so a pod costs 11 series; only pods the agent knows
  a cgroup id of (as for the throttle counters).
- ``/observe``: ``tiers[tier]["runqueue_wait"]`` and ``pods[]["runqueue_wait"]`` are
  ``temper.waits.summary`` (count, seconds, p50/p99 upper bounds in µs); null when the
  scheduler has no histogram for it (not attached, or no wait recorded yet).
All counts are since the scheduler attached (a re-attach starts them again, as a counter reset).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import HistogramMetricFamily, Metric

from nodeagent.agent import AgentState
from temper.tiers import Tier
from temper.waits import WAIT_BUCKETS, WaitHistogram, summary, upper_bound_ns

POD_BOUNDS = (4, 7, 10, 12, 14, 16, 18, 20)
"""Bucket indexes kept per pod: 16.4 µs, 131 µs, 1.05 ms, 4.19 ms, 16.8 ms, 67.1 ms, 268 ms, 1.07 s."""


def _le(bound_ns: float) -> str:
    return "+Inf" if math.isinf(bound_ns) else repr(bound_ns / 1e9)


def _full(h: WaitHistogram) -> list[tuple[str, float]]:
    cumulative = h.cumulative()
    return [(_le(upper_bound_ns(b)), float(cumulative[b])) for b in range(WAIT_BUCKETS)]


def pod_waits(state: AgentState) -> dict[str, WaitHistogram]:
    """Pure: pod uid -> its waits, for pods whose cgroup id has a histogram."""
    waits = state.enforcer_status.pod_waits
    return {uid: waits[cg.cgroup_id] for uid, cg in state.cgroups.items() if cg.cgroup_id in waits}


def wait_metrics(state: AgentState) -> Iterable[Metric]:
    tiers = HistogramMetricFamily("temper_runqueue_wait_seconds", "Time runnable tasks waited for a CPU, per "
                                  "tier, since the scheduler attached (from its BPF histograms).", labels=["tier"])
    for tier in Tier:
        h = state.enforcer_status.waits.get(tier, WaitHistogram())
        tiers.add_metric([tier.label], _full(h), h.sum_ns / 1e9)
    yield tiers
    pods = HistogramMetricFamily("temper_pod_runqueue_wait_seconds", "Time the pod's runnable tasks waited "
                                 "for a CPU, since the scheduler attached (coarse buckets).",
                                 labels=["namespace", "pod"])
    by_uid = pod_waits(state)
    for pod in state.pods:
        pod_h = by_uid.get(pod.uid)
        if pod_h is not None:
            buckets = [(_le(bound), float(count)) for bound, count in pod_h.coarse(POD_BOUNDS)]
            pods.add_metric([pod.namespace, pod.name], buckets, pod_h.sum_ns / 1e9)
    yield pods


def tier_wait_summaries(state: AgentState) -> dict[str, dict[str, Any] | None]:
    waits = state.enforcer_status.waits
    return {tier.label: summary(waits[tier]) if tier in waits else None for tier in Tier}


def pod_wait_summaries(state: AgentState) -> dict[str, dict[str, Any]]:
    return {uid: summary(h) for uid, h in pod_waits(state).items()}
