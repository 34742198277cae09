"""The agent's HTTP face: /metrics, /observe, /healthz, /readyz.

Why it exists: operators and Prometheus see the agent only through these four endpoints; the
DaemonSet's probes use the last two.

Design:
- ``create_app(agent)`` is the real app factory (tests use it with ``aiohttp_client``). The
  agent lives in ``web.AppKey`` slots; its lifetime (the control loop, the pod source, the
  safe-mode poller, and ``stand_down`` on exit) is one ``cleanup_ctx`` generator, so stopping
  the runner — SIGTERM in ``nodeagent.main`` — always stands the scheduler down.
- ``/metrics``: a custom ``Collector`` reads ``AgentState`` at scrape time (no gauges to keep
  in step). Names are ``temper_agent_*`` in base units: CPU in cores (``_cpus``), time in
  ``_seconds``, counters end in ``_total``. Label values are bounded and pre-initialised:
  ``tier`` is one of the five tiers, ``state`` one of the four enforcement states, ``reason``
  one of ``nodeagent.agent.ALL_SKIP_REASONS``; scheduler counters come from the enforcer's
  fixed stats enum. Per-pod throttle counters (``temper_pod_cpu_*``, the scheduler's
  cpu.stat-style counters for CPU-limited pods) are labelled ``namespace`` and ``pod`` and
  exist only for pods the agent knows a cgroup id of (``AgentState.cgroups``, the ids it
  hands the enforcer); entries for other cgroups (container levels) are not exported.
  Per-thread series (``temper_pod_thread_cpu_seconds`` / ``_wait_seconds``, labels
  ``namespace``, ``pod``, ``thread``) come from the scan's ``ThreadSnapshot``: ``thread`` is
  ``<comm>-<tid>`` for a pod's top K threads and ``other`` for the sum of the rest, so a pod
  has at most K+1 series per family whatever its thread count (``temper_pod_threads`` is the
  count). ``other`` and a series whose thread leaves the top K are not monotonic across that
  change (see docs/telemetry.md); per-thread counters are for "which threads", the pod's
  cgroup usage stays the authority for "how much".
- Runqueue waits (``temper_runqueue_wait_seconds{tier}``, ``temper_pod_runqueue_wait_seconds``
  and the ``runqueue_wait`` summaries in ``/observe``) are ``nodeagent.waitmetrics``.
- ``/observe``: ``observe_document(state)`` (pure) as JSON, or CBOR when the client sends
  ``Accept: application/cbor``; its ``threads`` key is ``temper.threadsnap``'s
  ``temper.threads/v1`` document.
- ``/healthz``: 200 while the loop completes iterations (``AgentState.healthy``);
  ``/readyz``: 200 once the first plan is computed and, when enforcing, applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nodeagent.agent import ALL_SKIP_REASONS, Agent, AgentState
from nodeagent.waitmetrics import pod_wait_summaries, tier_wait_summaries, wait_metrics
from temper.annotations import EnforcementState
from temper.bpfmaps import ThrottleStats
from temper.cpuset import format_cpulist
from temper.render import plan_to_dict
from temper.threadsnap import snapshot_to_dict
from temper.tiers import Tier

AGENT_KEY = web.AppKey("agent", Agent)
Background = Callable[[], Coroutine[Any, Any, None]]
"""A coroutine function that runs as long as the app (pod source, safe-mode poller)."""
BACKGROUND_KEY = web.AppKey("background", list[Background])
CBOR = "application/cbor"
log = logging.getLogger(__name__)


class AgentCollector(Collector):
    """Exports ``AgentState`` at scrape time."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterable[Metric]:
        state = self.agent.state
        prefix = "temper_agent"
        pods = GaugeMetricFamily(f"{prefix}_pods", "Pods planned on this node, per tier.", labels=["tier"])
        requested = GaugeMetricFamily(f"{prefix}_requested_cpus", "CPU requested per tier, in cores.",
                                      labels=["tier"])
        used = GaugeMetricFamily(f"{prefix}_used_cpus", "CPU used per tier over the last scan, in cores.",
                                 labels=["tier"])
        used_by_tier = dict.fromkeys(Tier, 0)
        if state.plan is not None:
            for member in state.plan.members:
                used_by_tier[member.tier] += state.used_milli.get(member.uid, 0)
        for tier in Tier:
            tier_plan = state.plan.tier(tier) if state.plan is not None else None
            pods.add_metric([tier.label], tier_plan.pods if tier_plan else 0)
            requested.add_metric([tier.label], (tier_plan.request_milli if tier_plan else 0) / 1000.0)
            used.add_metric([tier.label], used_by_tier[tier] / 1000.0)
        yield from (pods, requested, used)
        yield GaugeMetricFamily(f"{prefix}_online_cpus", "Online CPUs on this node.",
                                value=len(state.topology.online))
        yield GaugeMetricFamily(f"{prefix}_fenced_cpus", "CPUs fenced for the Critical tier.",
                                value=len(state.plan.fenced) if state.plan else 0)
        yield CounterMetricFamily(f"{prefix}_plan_applies", "Plans applied by the enforcer.",
                                  value=state.plan_applies)
        yield CounterMetricFamily(f"{prefix}_plan_apply_failures", "Plan applies the enforcer refused.",
                                  value=state.plan_failures)
        yield CounterMetricFamily(f"{prefix}_plans_computed", "Layer plans computed.", value=state.plans_computed)
        yield CounterMetricFamily(f"{prefix}_loop_errors", "Control-loop iterations that raised (logged, retried).",
                                  value=state.loop_errors)
        yield CounterMetricFamily(f"{prefix}_api_errors", "Failed Kubernetes API calls.", value=state.api_errors)
        skipped = GaugeMetricFamily(f"{prefix}_skipped_pods", "Pods currently skipped, by reason.",
                                    labels=["reason"])
        for reason in ALL_SKIP_REASONS:
            skipped.add_metric([reason], state.skipped.get(reason, 0))
        yield skipped
        enforcement = GaugeMetricFamily(f"{prefix}_enforcement_state",
                                        "1 for the current enforcement state, 0 for the others.",
                                        labels=["state"])
        for kind in EnforcementState:
            enforcement.add_metric([kind.value], 1.0 if state.enforcement.state is kind else 0.0)
        yield enforcement
        yield GaugeMetricFamily(f"{prefix}_scheduler_attached", "1 while the BPF scheduler is attached.",
                                value=1.0 if state.enforcer_status.attached else 0.0)
        yield CounterMetricFamily(f"{prefix}_scheduler_attaches", "Times the scheduler was attached.",
                                  value=state.enforcer_status.attach_count)
        names = sorted({name for counters in state.enforcer_status.counters.values() for name in counters})
        scheduler = CounterMetricFamily(f"{prefix}_scheduler_events",
                                        "Scheduler event counters per tier, from the BPF stats map.",
                                        labels=["tier", "counter"])
        for tier in Tier:
            counters = state.enforcer_status.counters.get(tier, {})
            for name in names:
                scheduler.add_metric([tier.label, name], counters.get(name, 0))
        yield scheduler
        yield from _throttle_metrics(state)
        yield from wait_metrics(state)
        yield from _thread_metrics(state)
        yield CounterMetricFamily(f"{prefix}_threads_vanished", "Threads (or cgroups) that exited between "
                                  "being listed and read (skipped).", value=state.threads_vanished)
        yield GaugeMetricFamily(f"{prefix}_thread_read_errors", "Pods whose threads could not all be read "
                                "at the last scan (see /observe threads.errors).", value=len(state.threads.errors))
        yield GaugeMetricFamily(f"{prefix}_scan_duration_seconds", "Duration of the last loop iteration.",
                                value=state.scan_seconds)
        yield CounterMetricFamily(f"{prefix}_scan_seconds", "Time spent in loop iterations.",
                                  value=state.scan_seconds_total)
        yield CounterMetricFamily(f"{prefix}_scans", "Loop iterations completed.", value=state.scans)


def pod_throttling(state: AgentState) -> dict[str, ThrottleStats]:
    """Pure: pod uid -> its throttle counters, for pods whose cgroup id the enforcer reported."""
    throttling = state.enforcer_status.throttling
    return {uid: throttling[cg.cgroup_id] for uid, cg in state.cgroups.items() if cg.cgroup_id in throttling}


def _throttle_metrics(state: AgentState) -> Iterable[Metric]:
    labels = ["namespace", "pod"]
    periods = CounterMetricFamily("temper_pod_cpu_nr_periods", "Enforcement periods in which the pod's "
                                  "CPU-limited cgroup used CPU (cpu.stat nr_periods, from the scheduler).",
                                  labels=labels)
    throttled = CounterMetricFamily("temper_pod_cpu_nr_throttled", "Times the pod ran out of CPU quota and "
                                    "was parked (cpu.stat nr_throttled, from the scheduler).", labels=labels)
    seconds = CounterMetricFamily("temper_pod_cpu_throttled_seconds", "Time the pod spent throttled, in "
                                  "seconds (cpu.stat throttled_usec, from the scheduler).", labels=labels)
    by_uid = pod_throttling(state)
    for pod in state.pods:
        stats = by_uid.get(pod.uid)
        if stats is not None:
            values = [pod.namespace, pod.name]
            periods.add_metric(values, stats.nr_periods)
            throttled.add_metric(values, stats.nr_throttled)
            seconds.add_metric(values, stats.throttled_ns / 1e9)
    return (periods, throttled, seconds)


def _thread_metrics(state: AgentState) -> Iterable[Metric]:
    labels = ["namespace", "pod", "thread"]
    count = GaugeMetricFamily("temper_pod_threads", "Threads read in the pod's cgroups at the last scan.",
                              labels=["namespace", "pod"])
    cpu = CounterMetricFamily("temper_pod_thread_cpu_seconds", "Time a thread ran on a CPU, in seconds "
                              "(/proc/<tid>/schedstat); top threads as <comm>-<tid>, the rest summed as "
                              "'other'.", labels=labels)
    wait = CounterMetricFamily("temper_pod_thread_wait_seconds", "Time a thread was runnable but waited on a "
                               "runqueue, in seconds (/proc/<tid>/schedstat); top threads as <comm>-<tid>, the "
                               "rest summed as 'other'.", labels=labels)
    snapshot = state.threads.pods
    for pod in state.pods:
        threads = snapshot.get(pod.uid)
        if threads is None:
            continue
        count.add_metric([pod.namespace, pod.name], threads.total)
        for thread in threads.threads:
            values = [pod.namespace, pod.name, f"{thread.comm}-{thread.tid}"]
            cpu.add_metric(values, thread.cpu_ns / 1e9)
            wait.add_metric(values, thread.wait_ns / 1e9)
        cpu.add_metric([pod.namespace, pod.name, "other"], threads.rest.cpu_ns / 1e9)
        wait.add_metric([pod.namespace, pod.name, "other"], threads.rest.wait_ns / 1e9)
    return (count, cpu, wait)


def observe_document(state: AgentState) -> dict[str, Any]:
    """Pure: the /observe snapshot."""
    tiers: dict[str, dict[str, Any]] = {}
    for tier in Tier:
        tier_plan = state.plan.tier(tier) if state.plan is not None else None
        tiers[tier.label] = {
            "pods": tier_plan.pods if tier_plan else 0,
            "request_m": tier_plan.request_milli if tier_plan else 0,
            "used_m": 0,
            "pressure_pct": 0.0,
        }
    for label, waits in tier_wait_summaries(state).items():
        tiers[label]["runqueue_wait"] = waits
    pods: list[dict[str, Any]] = []
    pod_waits = pod_wait_summaries(state)
    planned = {m.uid for m in state.plan.members} if state.plan is not None else set()
    throttling = pod_throttling(state)
    for pod in state.pods:
        used = state.used_milli.get(pod.uid)
        pressure = state.pressure_pct.get(pod.uid)
        cgroup = state.cgroups.get(pod.uid)
        throttle = throttling.get(pod.uid)
        if pod.uid in planned:
            entry = tiers[pod.tier.label]
            entry["used_m"] += used or 0
            entry["pressure_pct"] = max(entry["pressure_pct"], pressure or 0.0)
        pods.append({
            "uid": pod.uid, "namespace": pod.namespace, "name": pod.name, "tier": pod.tier.label,
            "qos": pod.qos.value, "phase": pod.phase, "request_m": pod.cpu_request_milli,
            "limit_m": pod.cpu_limit_milli, "used_m": used, "pressure_pct": pressure,
            "planned": pod.uid in planned,
            "cgroup": {"path": cgroup.path, "id": cgroup.cgroup_id} if cgroup else None,
            "throttling": {"nr_periods": throttle.nr_periods, "nr_throttled": throttle.nr_throttled,
                           "throttled_seconds": throttle.throttled_ns / 1e9} if throttle else None,
            "runqueue_wait": pod_waits.get(pod.uid),
        })
    status = state.enforcer_status
    return {
        "node": state.node_name,
        "online": format_cpulist(state.topology.online),
        "tiers": tiers,
        "pods": pods,
        "skipped": {reason: state.skipped.get(reason, 0) for reason in ALL_SKIP_REASONS},
        "pod_errors": list(state.pod_errors),
        "pod_source_error": state.pod_source_error,
        "plan": plan_to_dict(state.plan) if state.plan is not None else None,
        "enforcement": {
            "state": state.enforcement.state.value, "reason": state.enforcement.reason,
            "kernel": state.enforcement.kernel, "since": state.enforcement.since,
            "exit": state.enforcement.exit,
        },
        "enforcer": {
            "attached": status.attached, "scheduler": status.scheduler, "last_exit": status.last_exit,
            "attach_count": status.attach_count,
            "counters": {tier.label: dict(counters) for tier, counters in status.counters.items()},
        },
        "ready": state.ready,
        "threads": snapshot_to_dict(state.threads),
    }


async def metrics(request: web.Request) -> web.Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(request.app[AGENT_KEY]))
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def observe(request: web.Request) -> web.Response:
    document = observe_document(request.app[AGENT_KEY].state)
    if CBOR in request.headers.get("Accept", ""):
        import cbor2

        return web.Response(body=cbor2.dumps(document), content_type=CBOR)
    return web.Response(text=json.dumps(document), content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    agent = request.app[AGENT_KEY]
    if agent.state.healthy(agent.config.scan_interval_s):
        return web.Response(text="ok\n")
    return web.Response(status=503, text="control loop wedged\n")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[AGENT_KEY].state
    if state.ready:
        return web.Response(text="ready\n")
    why = "no plan yet" if state.plan is None else "plan not applied yet"
    return web.Response(status=503, text=f"{why}\n")


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # /healthz turns 503 once the loop stops completing iterations; kubelet restarts us.
        log.error("%s crashed", task.get_name(), exc_info=task.exception())


async def _agent_lifetime(app: web.Application) -> AsyncIterator[None]:
    agent = app[AGENT_KEY]
    tasks = [asyncio.create_task(agent.run(), name="agent-loop")]
    tasks += [asyncio.create_task(factory(), name="agent-background") for factory in app[BACKGROUND_KEY]]
    for task in tasks:
        task.add_done_callback(_log_crash)
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await agent.shutdown()


def create_app(agent: Agent, background: list[Background] | None = None,
               run_loop: bool = True) -> web.Application:
    """The agent's web app; with ``run_loop`` its lifetime runs the agent (and ``background``)."""
    app = web.Application()
    app[AGENT_KEY] = agent
    app[BACKGROUND_KEY] = list(background or [])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/observe", observe)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if run_loop:
        app.cleanup_ctx.append(_agent_lifetime)
    return app
