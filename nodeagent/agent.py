"""The node agent's control loop: pods -> plan -> enforce -> publish, every scan interval.

Why it exists: this is the one place that sequences the pure decisions (``temper.plan``,
``temper.annotations.should_publish``, ``apply_due``, ``enforcement_state``) with the adapters
(pod source, cgroup scanner, ``Enforcer``, ``Publisher``). Everything it knows is kept in one
``AgentState`` that ``/metrics`` and ``/observe`` read at request time.

One iteration (``Agent.step``):
  1. snapshot the pod source; re-plan only when its generation moved (decode errors are
     logged once per message and exposed as skipped pods, reason ``malformed``);
  2. scan the pod cgroups (and, at a rescan, their container cgroups), read ``cpu.stat`` /
     ``cpu.pressure``, turn usage into millicores (between rescans only the files are read,
     through descriptors kept open: ``UsageReader``); read every pod and container cgroup's
     ``cpu.max`` / ``cpu.max.burst`` and the containers' ``cpuset.cpus.effective`` the same
     way (``FactsReader``; cpusets at rescans only, since kubelet pins a container when it
     creates it, which changes the pod and so rescans). A changed cpuset re-plans at once
     (``plan(cpusets=...)``); a file that does not parse leaves that cgroup out, is logged
     once and counted;
  3. when enforcing and ``apply_due``: ``enforcer.apply(plan, cgroup_ids, bandwidth=limits)``.
     Pods whose cgroup is not found yet are in the plan but not in ``cgroup_ids`` (reason
     ``no_cgroup``); they are picked up by a later scan, which changes the ids and so
     triggers a new apply; a changed CPU limit (a resize) triggers one the same way. The
     plan handed over is always complete — the enforcer applies all or nothing;
  3b. read every pod's threads from procfs (``nodeagent.threads``: ``cgroup.threads`` of the
     pod and container cgroups, ``/proc/<tid>/stat`` and ``schedstat``) into one
     ``ThreadSnapshot``, top-K per pod (``temper.threadsnap``); every ``thread_scan_interval_s``
     (at most once per scan), never per request;
  4. refresh the enforcer's status, derive the enforcement state, publish annotations.

Modes and the invariants between them:
- observe-only (``--observe-only``, probe unsupported, or fallen back): ``apply`` is never
  called. Fallback happens after ``MAX_CONSECUTIVE_FAILURES`` apply failures or unexpected
  scheduler detaches in a row; its reason (with the kernel's exit reason) is kept and shown.
- safe mode: ``enter_safe_mode`` calls ``stand_down`` at once (under the same lock as
  ``apply``, so the two never interleave) and no apply happens until ``leave_safe_mode``,
  which forces the next step to re-apply (re-attach).
- ``shutdown`` (SIGTERM) calls ``stand_down("agent stopping")``.

Errors: per-pod trouble is counted, never raised. ``EnforcementError`` from the enforcer is
caught here and counted. Nothing in ``step`` raises for bad input; a bug would surface in the
log and ``/healthz`` (the loop records every completed iteration).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from nodeagent.cgroupfacts import FACT_SKIP_REASONS, ContainerCgroup, FactsReader, scan_containers
from nodeagent.cgroups import (
    SKIP_REASONS,
    SKIP_VANISHED,
    CgroupError,
    PodCgroup,
    UsageReader,
    UsageTracker,
    scan_pods,
)
from nodeagent.enforcement import EnforcementError, Enforcer, EnforcerStatus, Probe
from nodeagent.podsource import PodSource
from nodeagent.publish import Publisher, node_load
from nodeagent.sysfs import SysfsError, read_online, read_topology
from nodeagent.threads import ThreadReader
from temper.annotations import EnforcementState, EnforcementStatus
from temper.bandwidth import Bandwidth
from temper.config import AgentConfig
from temper.cpuset import format_cpulist
from temper.plan import Plan, plan
from temper.pods import PodInfo
from temper.threadsnap import ThreadSnapshot
from temper.topology import NodeTopology

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILURES = 3
"""Apply failures / unexpected detaches in a row before falling back to observe-only."""
REVERIFY_S = 60.0
"""Re-apply an unchanged plan this often (idempotent; re-attaches after an ejection)."""
RESCAN_EVERY = 15
"""Full cgroup rescan at least every this many scans (30 s at the default 2 s interval); also
whenever the pod set changed, a planned pod has no cgroup yet, or a pod's files vanished. A
pod cgroup's id cannot change while its directory exists, so between rescans only the
``cpu.stat`` files are read."""
PRESSURE_EVERY = 5
"""Read per-pod ``cpu.pressure`` every this many scans: ``some avg10`` is a 10 s average, so
sampling it every 10 s (default interval) loses nothing and halves the files read per scan."""
HEALTHY_LOOP_FACTOR = 5
"""/healthz fails when the last completed iteration is older than this many intervals."""

SKIP_MALFORMED_POD = "malformed"
SKIP_NO_CGROUP = "no_cgroup"
ALL_SKIP_REASONS = (SKIP_MALFORMED_POD, SKIP_NO_CGROUP, *SKIP_REASONS, *FACT_SKIP_REASONS)


def enforcement_state(observe_only: bool, probe: Probe | None, safe_mode: bool, safe_mode_reason: str,
                      fallback_reason: str) -> tuple[EnforcementState, str]:
    """Pure: the state shown everywhere, most decisive cause first."""
    if safe_mode:
        return EnforcementState.SAFE_MODE, safe_mode_reason or "safe mode requested"
    if observe_only:
        return EnforcementState.OBSERVE_ONLY, "observe-only configured"
    if probe is not None and not probe.supported:
        return EnforcementState.UNSUPPORTED, probe.reason
    if fallback_reason:
        return EnforcementState.OBSERVE_ONLY, fallback_reason
    return EnforcementState.ENFORCING, ""


ApplyKey = tuple[Plan, frozenset[tuple[str, int]], frozenset[tuple[int, Bandwidth]]]
"""What an apply enforced: the plan, pod uid -> cgroup id, cgroup id -> CPU limit."""


def apply_key(planned: Plan, cgroup_ids: Mapping[str, int], limits: Mapping[int, Bandwidth]) -> ApplyKey:
    return planned, frozenset(cgroup_ids.items()), frozenset(limits.items())


def apply_due(applied: ApplyKey | None, current: ApplyKey, now: float, last_apply: float,
              reverify_s: float = REVERIFY_S) -> bool:
    """Pure: apply when nothing was applied yet, the plan, the ids or a CPU limit changed, or it
    is time to re-verify."""
    return applied is None or applied != current or now - last_apply >= reverify_s


@dataclass
class AgentState:
    node_name: str
    topology: NodeTopology
    observe_only: bool
    started: float = field(default_factory=time.monotonic)
    probe: Probe | None = None
    pods: tuple[PodInfo, ...] = ()
    pod_errors: tuple[str, ...] = ()
    pod_source_error: str = ""
    pods_generation: int = -1
    plan: Plan | None = None
    cgroups: dict[str, PodCgroup] = field(default_factory=dict)
    containers: dict[str, tuple[ContainerCgroup, ...]] = field(default_factory=dict)
    """Pod uid -> its container cgroups (listed at every rescan)."""
    limits: dict[int, Bandwidth] = field(default_factory=dict)
    """Cgroup id (pod or container) -> its CPU limit, limited cgroups only (read every scan)."""
    cpusets: dict[str, frozenset[int]] = field(default_factory=dict)
    """Pod uid -> its containers' constrained cpuset (the plan's ``cpusets`` input)."""
    threads: ThreadSnapshot = field(default_factory=lambda: ThreadSnapshot(taken_at=0.0))
    """Every planned pod's threads, read once per scan (``taken_at`` 0.0: not read yet)."""
    threads_vanished: int = 0
    """Threads (or cgroups) that went away between being listed and read, since start."""
    used_milli: dict[str, int] = field(default_factory=dict)
    pressure_pct: dict[str, float] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    """Pods currently skipped, by reason (a gauge: recomputed every scan)."""
    enforcer_status: EnforcerStatus = field(default_factory=lambda: EnforcerStatus(attached=False))
    enforcement: EnforcementStatus = field(
        default_factory=lambda: EnforcementStatus(EnforcementState.OBSERVE_ONLY, "starting"))
    safe_mode: bool = False
    safe_mode_reason: str = ""
    fallback_reason: str = ""
    applied: ApplyKey | None = None
    last_apply: float = 0.0
    consecutive_failures: int = 0
    plan_applies: int = 0
    plan_failures: int = 0
    plans_computed: int = 0
    topology_changes: int = 0
    """Times the online CPUs changed (hotplug) and the node was re-planned."""
    loop_errors: int = 0
    """Loop iterations that raised; the loop logs, counts and carries on (never dies)."""
    api_errors: int = 0
    scans: int = 0
    scan_seconds: float = 0.0
    """Duration of the last iteration."""
    scan_seconds_total: float = 0.0
    last_iteration: float = 0.0
    """``time.monotonic()`` when the last iteration completed (0: none yet)."""

    @property
    def enforcing(self) -> bool:
        return self.enforcement.state is EnforcementState.ENFORCING

    @property
    def ready(self) -> bool:
        """First plan computed and, when enforcing, applied (else we are in a non-enforcing state)."""
        if self.plan is None:
            return False
        return not self.enforcing or self.applied is not None

    def healthy(self, interval_s: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        reference = self.last_iteration or self.started
        return now - reference < HEALTHY_LOOP_FACTOR * interval_s + 5.0


class Agent:
    def __init__(self, config: AgentConfig, state: AgentState, source: PodSource, enforcer: Enforcer,
                 cgroup_root: str, publisher: Publisher | None = None, sysfs_root: str | None = None,
                 proc_root: str = "/proc", read_threads: bool = True) -> None:
        self.config = config
        self.sysfs_root = sysfs_root
        """Where CPU hotplug is watched (None: the topology read at start is kept)."""
        self.state = state
        self.source = source
        self.enforcer = enforcer
        self.cgroup_root = cgroup_root
        self.publisher = publisher
        self.usage = UsageTracker()
        self.reader = UsageReader(cgroup_root)
        self.facts = FactsReader(cgroup_root)
        self.threads = ThreadReader(cgroup_root, proc_root) if read_threads else None
        self._threads_read_at = -math.inf
        """time.monotonic() of the last thread read (every ``thread_scan_interval_s``; first scan at once)."""
        """Per-thread telemetry (None: ``--no-threads``, e.g. no host PID namespace)."""
        self._malformed: dict[str, set[int]] = {"limit": set(), "cpuset": set()}
        """Per file kind, the cgroup ids whose file is malformed now (each logged once)."""
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._logged_errors: set[str] = set()
        self._scanned_generation = -1
        self._scan_skipped: Counter[str] = Counter()
        self._read_skipped = False

    # -- safe mode and shutdown ------------------------------------------------------------
    async def _stand_down(self, reason: str) -> None:
        async with self._lock:
            try:
                await self.enforcer.stand_down(reason)
            except EnforcementError as exc:
                log.error("stand_down(%s) failed: %s %s", reason, exc, exc.detail[:500])
            self.state.applied = None

    async def on_safe_mode(self, requested: bool, reason: str) -> None:
        """``SafeModePoller`` callback."""
        if requested:
            self.state.safe_mode, self.state.safe_mode_reason = True, reason
            await self._stand_down(f"safe mode: {reason}")
        else:
            self.state.safe_mode, self.state.safe_mode_reason = False, ""
            self.state.applied = None
        self._refresh_enforcement()
        self._wake.set()

    async def shutdown(self) -> None:
        await self._stand_down("agent stopping")
        self.reader.close()
        self.facts.close()

    # -- one iteration ---------------------------------------------------------------------
    def _refresh_topology(self) -> None:
        """CPU hotplug: when the online CPUs change, re-read the topology and re-plan, so the
        fence and the scheduler's CPU roles follow the CPUs that exist."""
        if self.sysfs_root is None:
            return
        state = self.state
        try:
            if read_online(self.sysfs_root) == state.topology.online:
                return
            topology = read_topology(self.sysfs_root)
        except (OSError, SysfsError) as exc:
            if "topology" not in self._logged_errors:
                log.warning("CPU topology unreadable, keeping the last one: %s", exc)
                self._logged_errors.add("topology")
            return
        log.info("online CPUs changed: %s -> %s; re-planning", format_cpulist(state.topology.online),
                 format_cpulist(topology.online))
        state.topology = topology
        state.topology_changes += 1
        if state.plan is not None:
            state.plan = plan(topology, state.pods, self.config.plan, cpusets=state.cpusets)
            state.plans_computed += 1

    def _refresh_pods(self) -> None:
        snapshot = self.source.snapshot()
        state = self.state
        if snapshot.source_error != state.pod_source_error:
            # Once per distinct error (the message names the file and the parse error's
            # position, never the file's content); recovery is logged too.
            if snapshot.source_error:
                log.warning("pod source: %s", snapshot.source_error)
            elif state.pod_source_error:
                log.info("pod source recovered")
        state.pod_source_error = snapshot.source_error
        if snapshot.generation == state.pods_generation:
            return
        state.pods_generation = snapshot.generation
        state.pods = snapshot.pods
        state.pod_errors = snapshot.errors
        for message in snapshot.errors:
            if message not in self._logged_errors:
                log.warning("skipping pod: %s", message)
        self._logged_errors = set(snapshot.errors)
        if snapshot.synced:
            state.plan = plan(state.topology, snapshot.pods, self.config.plan, cpusets=state.cpusets)
            state.plans_computed += 1

    def _scan(self, planned: Plan, now: float) -> None:
        state = self.state
        rescan = bool(self._scanned_generation != state.pods_generation or state.scans % RESCAN_EVERY == 0
                  or self._scan_skipped[SKIP_NO_CGROUP] or self._scan_skipped[SKIP_VANISHED])
        if rescan:
            members = {m.uid for m in planned.members}
            skipped: Counter[str] = Counter()
            try:
                scan = scan_pods(self.cgroup_root)
                cgroups = scan.pods
                skipped.update(scan.skipped)
            except CgroupError as exc:
                log.warning("%s", exc)
                cgroups = {}
            state.cgroups = {uid: cg for uid, cg in cgroups.items() if uid in members}
            skipped[SKIP_NO_CGROUP] = len(members - state.cgroups.keys())
            containers = scan_containers(self.cgroup_root, state.cgroups)
            state.containers = containers.containers
            skipped.update(containers.skipped)
            self._scan_skipped = skipped
            self._scanned_generation = state.pods_generation
            self.reader.retain(state.cgroups)
            self.facts.retain(state.cgroups, state.containers)
        with_pressure = rescan or state.scans % PRESSURE_EVERY == 0
        reads = self.reader.read(state.cgroups, pressure=with_pressure)
        state.used_milli = self.usage.update(reads.usage_usec, now)
        if with_pressure:
            state.pressure_pct = reads.pressure_pct
        facts = self.facts.read(state.cgroups, state.containers, state.topology.online, cpusets=rescan)
        state.limits = facts.limits
        self._log_malformed("limit", facts.malformed)
        if facts.cpusets is not None:  # read at rescans: kubelet pins a container when it creates it
            self._scan_skipped.update(facts.cpuset_skipped)
            self._log_malformed("cpuset", facts.cpuset_malformed)
            if facts.cpusets != state.cpusets:
                state.cpusets = facts.cpusets
                state.plan = plan(state.topology, state.pods, self.config.plan, cpusets=state.cpusets)
                state.plans_computed += 1
        transient = reads.skipped + facts.skipped
        if rescan or transient or self._read_skipped:  # else the gauge is as it was
            skipped = self._scan_skipped.copy()
            skipped.update(transient)
            self._scan_skipped[SKIP_VANISHED] += transient[SKIP_VANISHED]
            skipped[SKIP_MALFORMED_POD] = len(state.pod_errors)
            state.skipped = skipped
        self._read_skipped = bool(transient)
        now = time.monotonic()
        if self.threads is not None and now - self._threads_read_at >= self.config.thread_scan_interval_s:
            self._threads_read_at = now
            state.threads = self.threads.read(state.cgroups, time.time())
            state.threads_vanished += state.threads.vanished

    def _log_malformed(self, kind: str, malformed: Mapping[int, str]) -> None:
        """Once per cgroup while its file stays malformed (again if it breaks again later)."""
        for cgroup_id, message in malformed.items():
            if cgroup_id not in self._malformed[kind]:
                log.warning("cgroup %s file left out (nothing is guessed in its place): %s", kind, message)
        self._malformed[kind] = set(malformed)

    def _refresh_enforcement(self) -> None:
        state = self.state
        kind, reason = enforcement_state(state.observe_only, state.probe, state.safe_mode,
                                         state.safe_mode_reason, state.fallback_reason)
        previous = state.enforcement
        kernel = state.probe.kernel if state.probe else ""
        if (previous.state is kind and previous.reason == reason and previous.kernel == kernel
                and previous.exit == state.enforcer_status.last_exit):
            return
        state.enforcement = EnforcementStatus(
            state=kind, reason=reason, kernel=kernel,
            since=int(time.time()) if previous.state is not kind else previous.since,
            exit=state.enforcer_status.last_exit,
            scheduler=state.enforcer_status.scheduler or "temper",
        )

    def _fall_back(self, reason: str) -> None:
        self.state.fallback_reason = reason
        log.error("falling back to observe-only: %s", reason)

    async def _enforce(self, planned: Plan, now: float) -> None:
        state = self.state
        ids = {uid: cg.cgroup_id for uid, cg in state.cgroups.items()}
        limits = state.limits
        key = apply_key(planned, ids, limits)
        if state.applied is not None and not state.enforcer_status.attached:
            # The kernel ejected the scheduler (watchdog, BPF error): a failure in a row.
            state.consecutive_failures += 1
            state.applied = None
            log.warning("scheduler detached unexpectedly: %s", state.enforcer_status.last_exit or "no exit reason")
            if state.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                self._fall_back(f"scheduler detached {state.consecutive_failures} times in a row; last exit: "
                                f"{state.enforcer_status.last_exit or 'unknown'}")
                await self._stand_down("falling back to observe-only")
                return
        if not apply_due(state.applied, key, now, state.last_apply):
            return
        if state.applied == key and state.enforcer_status.attached:
            state.consecutive_failures = 0  # re-verify of a plan that stayed attached
        async with self._lock:
            if state.safe_mode:
                return
            try:
                await self.enforcer.apply(planned, ids, bandwidth=limits)
            except EnforcementError as exc:
                state.plan_failures += 1
                state.consecutive_failures += 1
                state.last_apply = now
                log.error("plan apply failed (%d in a row): %s %s", state.consecutive_failures, exc,
                          exc.detail[:500])
                if state.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                    self._fall_back(f"apply failed {state.consecutive_failures} times in a row: {exc}"[:400])
                    try:
                        await self.enforcer.stand_down("falling back to observe-only")
                    except EnforcementError as down:
                        log.error("stand_down after failures failed: %s", down)
                return
        state.plan_applies += 1
        state.applied = key
        state.last_apply = now

    async def step(self) -> None:
        started = time.monotonic()
        state = self.state
        self._refresh_topology()
        self._refresh_pods()
        if state.plan is not None:
            self._scan(state.plan, started)
            if state.enforcing:
                await self._enforce(state.plan, started)
            try:
                state.enforcer_status = await self.enforcer.status()
            except EnforcementError as exc:
                log.warning("enforcer status failed: %s", exc)
        self._refresh_enforcement()
        if self.publisher is not None and state.plan is not None:
            errors_before = self.publisher.errors
            load = node_load(state.plan, state.used_milli, state.pressure_pct, int(time.time()))
            await self.publisher.publish(load, state.enforcement)
            state.api_errors += self.publisher.errors - errors_before
        finished = time.monotonic()
        state.scans += 1
        state.scan_seconds = finished - started
        state.scan_seconds_total += state.scan_seconds
        state.last_iteration = finished

    async def start(self) -> None:
        """Probe the enforcer once (before the first step)."""
        try:
            self.state.probe = await self.enforcer.probe()
        except EnforcementError as exc:
            self.state.probe = Probe(False, f"probe failed: {exc}")
        if not self.state.observe_only and self.state.probe and not self.state.probe.supported:
            log.warning("enforcement unsupported on this node: %s", self.state.probe.reason)
        self._refresh_enforcement()

    async def run(self) -> None:
        await self.start()
        last_failure = ""
        while True:
            try:
                await self.step()
                last_failure = ""
            except Exception as exc:  # one bad iteration is never the loop's end: count, log once, retry
                self.state.loop_errors += 1
                failure = f"{type(exc).__name__}: {exc}"[:300]
                if failure != last_failure:
                    log.exception("control loop iteration failed (retrying every scan)")
                last_failure = failure
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.scan_interval_s)


def usage_by_tier(state: AgentState) -> Mapping[int, int]:
    """Used millicores per tier value (for metrics and /observe)."""
    result: dict[int, int] = {}
    if state.plan is None:
        return result
    for member in state.plan.members:
        result[member.tier.value] = result.get(member.tier.value, 0) + state.used_milli.get(member.uid, 0)
    return result
