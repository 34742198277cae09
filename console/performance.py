"""Per-pod performance from the node agent's ``/observe`` (pure, no I/O).

Why it exists: the pod view's panels — CPU used against request and limit, throttling, CPU
pressure, runqueue wait, the layer the pod landed in — need no Prometheus; they are read from
the agent's live snapshot (``console.agents``) and the console's own pod cache.

Rules:
- ``request_m`` / ``limit_m`` come from the pod as the API server holds it (the console's
  cache), so they are there even when the agent is not.
- ``used_m``, ``pressure_pct``, ``throttled`` and ``layer`` come from the agent; absent data
  (agent unreachable, pod not seen by the agent, a value it did not measure) is ``None``,
  never 0. ``throttled`` is cumulative (the UI derives a rate between samples).
- ``runqueue_wait_p99_us``: the agent's per-pod runqueue-wait p99 (the upper bound of the
  scheduler's log2 bucket, since it attached); ``None`` when the agent reports no wait for the
  pod (older agent, not attached, nothing recorded yet). ``threads``: the thread table is not
  mapped into this view yet, so ``None``.
- ``sampled_at`` is the UNIX time the console read the agent (or tried to).
"""

from __future__ import annotations

from console import models as m
from console.agents import Observation, ObservedPod, layer_of


def pod_performance(pod: m.PodSummary, observation: Observation | m.AgentStatus, now: float) -> m.PodPerformance:
    if isinstance(observation, m.AgentStatus):
        return m.PodPerformance(used_m=None, request_m=pod.request_m, limit_m=pod.limit_m, throttled=None,
                                pressure_pct=None, runqueue_wait_p99_us=None, layer=None, threads=None,
                                source="agent", sampled_at=now, agent=observation)
    seen = observation.pod(pod.uid)
    status = m.AgentStatus(reachable=True, error=None if seen is not None else "the agent does not report this pod")
    throttled = None
    if seen is not None and seen.throttling is not None:
        t = seen.throttling
        throttled = m.Throttling(nr_periods=t.nr_periods, nr_throttled=t.nr_throttled,
                                 throttled_seconds=t.throttled_seconds)
    return m.PodPerformance(used_m=seen.used_m if seen is not None else None, request_m=pod.request_m,
                            limit_m=pod.limit_m, throttled=throttled,
                            pressure_pct=seen.pressure_pct if seen is not None else None,
                            runqueue_wait_p99_us=_wait_p99(seen), layer=layer_of(observation, pod.uid), threads=None,
                            source="agent", sampled_at=now, agent=status)


def _wait_p99(seen: ObservedPod | None) -> float | None:
    if seen is None or seen.runqueue_wait is None or not seen.runqueue_wait.count:
        return None
    return seen.runqueue_wait.p99_us
