"""Enforce the layer plan with Temper's sched_ext scheduler (``bpf/temper.bpf.c``).

Lifecycle (loading, registering and pinning through ``nodeagent.bpftool``; every map read and
write through the bpf(2) syscall, ``nodeagent.bpfsys``, on descriptors opened once per attach):

attach
    1. refuse if another sched_ext scheduler is active (``root/ops`` names it);
    2. read the previous run's exit record if its map is still pinned, then remove stale pins
       (a pinned link left by an agent killed mid-attach would keep a scheduler alive);
    3. ``bpftool struct_ops register OBJ PIN/link`` — on failure the error carries libbpf's
       verifier log;
    4. open the pinned link (``nodeagent.bpflink``) and unlink the pin: the agent's file
       descriptor is now the only reference, so the agent's death detaches the scheduler;
    5. pin the scheduler's maps under ``PIN/maps/`` (for operators and for ``bpftool map dump``):
       the newest map of each name used by ``temper_*`` struct_ops programs; then open each
       pin (``SchedulerMaps``) and check its type and key/value sizes against ``MAP_LAYOUTS``
       (the ``bpfmaps`` mirror of ``bpf/temper.h``): a mismatched object is refused.
apply
    Writes, in this order: changed tiers, changed CPUs, changed cgroup entries, changed
    bandwidth limits (``temper_cpu_max``, when ``bandwidth`` is given), deletions of stale
    cgroup and bandwidth entries, then the global config with generation+1 — LAST, so the
    scheduler re-reads a complete configuration. (Only when a hash map is full does an upsert
    wait for that map's stale deletes: ``SchedulerMaps.write``.) A write that fails stops the sequence (the
    global config is not written: the scheduler keeps its generation) and the agent forgets
    what it believes is written — the next apply rewrites tiers and CPUs and diffs cgroups and
    limits against the live maps. Never detaches (``enable_seq`` does not move).
stand_down
    Closes the map descriptors and the link descriptor: the kernel unregisters the scheduler
    (exit kind UNREG) and every task returns to the fair class.
status
    Notices an ejection (state no longer ``enabled`` while we hold a link): records the exit
    reason from the scheduler's exit map, drops the dead link, and counts the ejection. While
    attached it reads the stats map and the bandwidth stats map on every call (a few syscalls:
    no throttle needed).

Restart policy: after an ejection the next ``apply`` re-attaches, but not sooner than
``1 s x 2^(ejections-1)`` (capped at 60 s) after it; after ``MAX_EJECTIONS`` within
``EJECTION_WINDOW_S`` it refuses (``EnforcementError``) so the agent falls back to observe-only
instead of crash-looping the node's scheduler.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from nodeagent import bpfsys
from nodeagent.bpflink import open_pinned
from nodeagent.bpfsys import BpfMap, BpfSysError
from nodeagent.bpftool import Bpftool, BpftoolError
from nodeagent.enforcement import EnforcementError, EnforcerStatus, Probe
from temper import bpfmaps
from temper.bandwidth import Bandwidth
from temper.bpfmaps import MapName
from temper.plan import Plan
from temper.tiers import Tier
from temper.waits import WaitHistogram

log = logging.getLogger(__name__)

SCHEDULER_NAME = "temper"
PROGRAM_PREFIX = "temper_"
MAX_EJECTIONS = 3
EJECTION_WINDOW_S = 600.0
ATTACH_TIMEOUT_S = 10.0
DETACH_TIMEOUT_S = 5.0

MAP_LAYOUTS: dict[MapName, tuple[int, int, int, int]] = {
    MapName.CGROUPS: (bpfsys.MAP_HASH, bpfmaps.U64.size, bpfmaps.CGROUP_ENTRY.size, bpfmaps.MAX_CGROUPS),
    MapName.TIERS: (bpfsys.MAP_ARRAY, bpfmaps.U32.size, bpfmaps.TIER_CONFIG.size, len(Tier)),
    MapName.CPUS: (bpfsys.MAP_ARRAY, bpfmaps.U32.size, bpfmaps.U32.size, bpfmaps.MAX_CPUS),
    MapName.TOPOLOGY: (bpfsys.MAP_ARRAY, bpfmaps.U32.size, bpfmaps.CPU_TOPOLOGY.size, bpfmaps.MAX_CPUS),
    MapName.GLOBAL: (bpfsys.MAP_ARRAY, bpfmaps.U32.size, bpfmaps.GLOBAL_CONFIG.size, 1),
    MapName.STATS: (bpfsys.MAP_PERCPU_ARRAY, bpfmaps.U32.size, bpfmaps.U64.size, len(Tier) * bpfmaps.NR_STATS),
    MapName.EXIT: (bpfsys.MAP_ARRAY, bpfmaps.U32.size, bpfmaps.EXIT_RECORD.size, 1),
    MapName.CPU_MAX: (bpfsys.MAP_HASH, bpfmaps.U64.size, bpfmaps.BW_CONFIG.size, bpfmaps.MAX_BW_CGROUPS),
    MapName.TIMERS: (bpfsys.MAP_ARRAY, bpfmaps.U32.size, bpfmaps.TIMER_SIZE, 1),
    MapName.BW_STATS: (bpfsys.MAP_HASH, bpfmaps.U64.size, bpfmaps.BW_STATS.size, bpfmaps.MAX_BW_CGROUPS),
    MapName.WAIT: (bpfsys.MAP_PERCPU_ARRAY, bpfmaps.U32.size, bpfmaps.WAIT_HIST.size, len(Tier)),
    MapName.POD_WAIT: (bpfsys.MAP_LRU_PERCPU_HASH, bpfmaps.U64.size, bpfmaps.WAIT_HIST.size, bpfmaps.MAX_WAIT_PODS),
}
"""Map type, key size, value size and max_entries of every pinned map, as ``bpf/temper.bpf.c``
defines them (sizes from the ``bpfmaps`` mirror). Type and sizes are checked at attach."""

def kernel_name(name: MapName) -> str:
    """A map's name as the kernel stores and lists it: at most BPF_OBJ_NAME_LEN - 1 characters."""
    return name.value[:bpfsys.OBJ_NAME_LEN - 1]


MapWrite = tuple[MapName, bytes, bytes | None]
"""One update (value set) or delete (value None) on one of the scheduler's maps."""


def _read_exit_record(exit_map: BpfMap) -> str:
    try:
        raw = exit_map.lookup(bpfmaps.U32.pack(0))
        return bpfmaps.decode_exit_record(raw).describe() if raw is not None else ""
    except (BpfSysError, ValueError) as exc:
        log.warning("reading the scheduler's exit record failed: %s", exc)
        return ""


class SchedulerMaps:
    """The scheduler's pinned maps, each open once (one descriptor) and checked against
    ``MAP_LAYOUTS``. Every read and write of the agent goes through here."""

    def __init__(self, maps: Mapping[MapName, BpfMap]) -> None:
        self.maps = dict(maps)

    @classmethod
    def open(cls, maps_dir: Path) -> SchedulerMaps:
        opened: dict[MapName, BpfMap] = {}
        try:
            for name, (kind, key_size, value_size, _) in MAP_LAYOUTS.items():
                bpf_map = opened[name] = BpfMap.open(maps_dir / name)
                info = bpf_map.info
                if (info.type, info.key_size, info.value_size) != (kind, key_size, value_size):
                    raise EnforcementError(
                        f"{bpf_map.path}: map type {info.type}, key {info.key_size} B, value {info.value_size} B; "
                        f"the agent expects type {kind}, key {key_size} B, value {value_size} B "
                        f"(scheduler object and agent built from different bpf/temper.h)")
        except BaseException:
            for bpf_map in opened.values():
                bpf_map.close()
            raise
        return cls(opened)

    def close(self) -> None:
        for bpf_map in self.maps.values():
            bpf_map.close()

    def write(self, writes: Sequence[MapWrite]) -> None:
        """Apply ``writes`` in order, stopping at the first failure (which raises). A delete of
        an entry that is already gone counts as done. A hash map that is full (E2BIG) makes
        room with the deletes queued for it later in ``writes`` and retries once: without
        that, a map near capacity with stale entries could never take the new ones."""
        deleted: set[tuple[MapName, bytes]] = set()
        for index, (name, key, value) in enumerate(writes):
            if value is None:
                if (name, key) not in deleted:
                    self.maps[name].delete(key)
                continue
            try:
                self.maps[name].update(key, value)
            except BpfSysError as exc:
                later = [k for n, k, v in writes[index + 1:] if n == name and v is None and (n, k) not in deleted]
                if exc.errno != errno.E2BIG or not later:
                    raise
                for stale in later:
                    self.maps[name].delete(stale)
                    deleted.add((name, stale))
                self.maps[name].update(key, value)

    def entries(self, name: MapName) -> dict[bytes, bytes]:
        return dict(self.maps[name].items())

    def stats(self) -> dict[Tier, dict[str, int]]:
        totals = {bpfmaps.U32.unpack(key)[0]: bpfsys.sum_u64(values)
                  for key, values in self.maps[MapName.STATS].items_percpu()}
        return bpfmaps.decode_stats(totals)

    def waits(self) -> tuple[dict[Tier, WaitHistogram], dict[int, WaitHistogram]]:
        """Runqueue waits per tier and per pod cgroup id, each summed over the CPUs."""
        tiers = {Tier(bpfmaps.U32.unpack(key)[0]): bpfmaps.decode_wait_hist(values)
                 for key, values in self.maps[MapName.WAIT].items_percpu()
                 if bpfmaps.U32.unpack(key)[0] < len(Tier)}
        pods = {bpfmaps.U64.unpack(key)[0]: bpfmaps.decode_wait_hist(values)
                for key, values in self.maps[MapName.POD_WAIT].items_percpu()}
        return tiers, pods

    def throttling(self, now_ns: int) -> dict[int, bpfmaps.ThrottleStats]:
        """Per cgroup id, its throttle counters; ``now_ns`` is CLOCK_MONOTONIC (bpf_ktime_get_ns)."""
        return {bpfmaps.U64.unpack(key)[0]: bpfmaps.decode_bw_stats(value, now_ns)
                for key, value in self.maps[MapName.BW_STATS].items()}

    def exit_record(self) -> str:
        return _read_exit_record(self.maps[MapName.EXIT])


class BpfEnforcer:
    def __init__(self, bpf_object: str, pin_dir: str, bpftool: str = "bpftool",
                 sched_ext_dir: str = "/sys/kernel/sched_ext") -> None:
        self.bpf_object = Path(bpf_object)
        self.pin_dir = Path(pin_dir)
        self.link_dir = self.pin_dir / "link"
        self.maps_dir = self.pin_dir / "maps"
        self.scx = Path(sched_ext_dir)
        self.tool = Bpftool(bpftool)
        self._link_fd: int | None = None
        self._maps: SchedulerMaps | None = None
        self._generation = 0
        self._written_cgroups: dict[bytes, bytes] = {}
        self._written_bandwidth: dict[bytes, bytes] = {}
        self._written_static: dict[str, dict[bytes, bytes]] = {}
        self._ejections: list[float] = []
        self._last_exit = ""
        self._attach_count = 0
        self._counters: dict[Tier, dict[str, int]] = {}
        self._throttling: dict[int, bpfmaps.ThrottleStats] = {}
        self._waits: tuple[dict[Tier, WaitHistogram], dict[int, WaitHistogram]] = ({}, {})
        self._read_error = ""
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    # ---- sysfs ----

    def _read(self, name: str) -> str:
        try:
            return (self.scx / name).read_text().strip()
        except OSError:
            return ""

    def kernel_state(self) -> str:
        return self._read("state")

    def active_ops(self) -> str:
        return self._read("root/ops") if self.kernel_state() == "enabled" else ""

    def enable_seq(self) -> int:
        text = self._read("enable_seq")
        return int(text) if text.isdigit() else -1

    async def _wait_state(self, wanted: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.kernel_state() == wanted:
                return True
            await asyncio.sleep(0.02)
        return self.kernel_state() == wanted

    # ---- Enforcer protocol ----

    async def probe(self) -> Probe:
        if not (self.scx / "state").exists():
            return Probe(False, f"{self.scx}/state not found: kernel without sched_ext")
        if not self.bpf_object.is_file():
            return Probe(False, f"scheduler object {self.bpf_object} not found")
        try:
            version = await self.tool.version()
        except BpftoolError as exc:
            return Probe(False, str(exc))
        return Probe(True, f"bpftool {version}")

    @property
    def attached(self) -> bool:
        return self._link_fd is not None

    async def apply(self, plan: Plan, cgroup_ids: Mapping[str, int], *,
                    bandwidth: Mapping[int, Bandwidth] | None = None) -> None:
        async with self._lock:
            self._notice_ejection()
            if self._link_fd is None or self._maps is None:
                self._check_restart_policy()
                await self._attach()
            assert self._maps is not None  # _attach opened them or raised
            contents = bpfmaps.encode_plan(plan, cgroup_ids, self._generation + 1)
            try:
                limits = bpfmaps.encode_bandwidth(bandwidth) if bandwidth is not None else None
            except ValueError as exc:  # too many limited cgroups, an invalid id: nothing written
                raise EnforcementError(f"bandwidth limits refused: {exc}") from None
            writes: list[MapWrite] = []
            for name, entries in ((MapName.TIERS, contents.tiers), (MapName.CPUS, contents.cpus),
                                  (MapName.TOPOLOGY, contents.topology)):
                previous = self._written_static.get(name, {})
                writes += [(name, k, v) for k, v in entries.items() if previous.get(k) != v]
            writes += [(MapName.CGROUPS, k, v) for k, v in contents.cgroups.items()
                       if self._written_cgroups.get(k) != v]
            if limits is not None:
                writes += [(MapName.CPU_MAX, k, v) for k, v in limits.items() if self._written_bandwidth.get(k) != v]
            writes += [(MapName.CGROUPS, k, None) for k in self._written_cgroups if k not in contents.cgroups]
            if limits is not None:
                writes += [(MapName.CPU_MAX, k, None) for k in self._written_bandwidth if k not in limits]
            writes.append((MapName.GLOBAL, *contents.global_config))
            try:
                self._maps.write(writes)
            except BpfSysError:
                # Unknown state of what was before the failing write: forget what we think is
                # written, so the next apply rewrites tiers/CPUs and diffs against the live maps.
                self._written_static.clear()
                self._written_cgroups = self._live(MapName.CGROUPS)
                self._written_bandwidth = self._live(MapName.CPU_MAX)
                raise
            self._written_static = {MapName.TIERS: contents.tiers, MapName.CPUS: contents.cpus,
                                    MapName.TOPOLOGY: contents.topology}
            self._written_cgroups = dict(contents.cgroups)
            if limits is not None:
                self._written_bandwidth = limits
            self._generation += 1

    async def stand_down(self, reason: str) -> None:
        async with self._lock:
            await self._detach(reason)

    async def status(self) -> EnforcerStatus:
        self._notice_ejection()
        if self._link_fd is not None and self._maps is not None:
            try:
                self._counters = self._maps.stats()
                self._throttling = self._maps.throttling(time.monotonic_ns())
                self._waits = self._maps.waits()
                self._read_error = ""
            except (BpfSysError, ValueError) as exc:
                if str(exc) != self._read_error:  # once per distinct failure, not every scan
                    log.warning("reading scheduler counters failed: %s", exc)
                self._read_error = str(exc)
        return EnforcerStatus(
            attached=self._link_fd is not None, scheduler=self.active_ops(), last_exit=self._last_exit,
            attach_count=self._attach_count, counters=dict(self._counters), throttling=dict(self._throttling),
            waits=dict(self._waits[0]), pod_waits=dict(self._waits[1]),
        )

    # ---- internals ----

    async def _detach(self, reason: str) -> None:
        """stand_down's work, for callers that hold the lock already (a failed attach)."""
        leftovers = self._unpin_links()
        if self._link_fd is None and not leftovers:
            self._close_maps()
            return
        log.info("detaching scheduler: %s", reason)
        if self._link_fd is not None:
            os.close(self._link_fd)
            self._link_fd = None
        if not await self._wait_state("disabled", DETACH_TIMEOUT_S):
            log.error("scheduler still %s %.0fs after detach", self.kernel_state(), DETACH_TIMEOUT_S)
        self._last_exit = (self._maps.exit_record() if self._maps is not None
                           else self._pinned_exit_record()) or self._last_exit
        self._close_maps()

    def _close_maps(self) -> None:
        if self._maps is not None:
            self._maps.close()
            self._maps = None

    def _live(self, name: MapName) -> dict[bytes, bytes]:
        if self._maps is None:
            return {}
        try:
            return self._maps.entries(name)
        except BpfSysError:
            return {}

    def _pinned_exit_record(self) -> str:
        """The exit record of whatever scheduler left its maps pinned here (a previous run)."""
        path = self.maps_dir / MapName.EXIT
        if not path.exists():
            return ""
        try:
            with BpfMap.open(path) as exit_map:
                return _read_exit_record(exit_map)
        except BpfSysError as exc:
            log.warning("reading the scheduler's exit record failed: %s", exc)
            return ""

    def _notice_ejection(self) -> None:
        if self._link_fd is None or self.active_ops() == SCHEDULER_NAME:
            return
        # We hold a link but the kernel no longer runs our scheduler: it was ejected.
        os.close(self._link_fd)
        self._link_fd = None
        maps, self._maps = self._maps, None
        self._ejections.append(time.monotonic())
        self._last_exit = "ejected by the kernel (see dmesg: sched_ext)"
        log.error("scheduler ejected by the kernel; state=%s", self.kernel_state())
        if maps is None:
            return
        task = asyncio.get_running_loop().create_task(self._record_exit_after_ejection(maps))
        self._background.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._background.discard)

    async def _record_exit_after_ejection(self, maps: SchedulerMaps) -> None:
        """ops.exit writes the record while the kernel disables the scheduler: read it once
        the state says ``disabled`` (or after DETACH_TIMEOUT_S), then close the maps."""
        try:
            await self._wait_state("disabled", DETACH_TIMEOUT_S)
            described = maps.exit_record()
        finally:
            maps.close()
        if described:
            self._last_exit = described
            log.error("scheduler exit: %s", described)

    def _check_restart_policy(self) -> None:
        now = time.monotonic()
        self._ejections = [t for t in self._ejections if now - t < EJECTION_WINDOW_S]
        if len(self._ejections) >= MAX_EJECTIONS:
            raise EnforcementError(
                f"scheduler ejected {len(self._ejections)} times in {EJECTION_WINDOW_S:.0f}s; "
                f"staying on the fair class (last exit: {self._last_exit})")
        if self._ejections:
            backoff = min(60.0, 2.0 ** (len(self._ejections) - 1))
            if now - self._ejections[-1] < backoff:
                raise EnforcementError(f"re-attach backoff: waiting {backoff:.0f}s after an ejection")

    async def _attach(self) -> None:
        try:
            await self._load_scheduler()
            self._maps = SchedulerMaps.open(self.maps_dir)
        except EnforcementError as exc:
            # Never stay attached without the maps open (pins missing, layouts that do not
            # match): the scheduler would run a configuration the agent cannot write.
            await self._detach(f"attach failed: {exc}")
            raise
        self._generation = 0
        self._written_cgroups = {}
        self._written_bandwidth = {}
        self._written_static = {}
        self._counters, self._throttling, self._waits = {}, {}, ({}, {})
        self._attach_count += 1
        log.info("scheduler attached (enable_seq %d)", self.enable_seq())

    async def _load_scheduler(self) -> None:
        """Register the scheduler, hold its link by descriptor, pin its maps (steps 1-5)."""
        ops = self.active_ops()
        if ops and ops != SCHEDULER_NAME:
            raise EnforcementError(f"another sched_ext scheduler is active: {ops}")
        self._close_maps()
        previous = self._pinned_exit_record()
        if previous:
            self._last_exit = previous
        self._clean_pins()
        self.link_dir.mkdir(parents=True, exist_ok=True)
        self.maps_dir.mkdir(parents=True, exist_ok=True)
        try:
            for attempt in range(3):
                try:
                    await self.tool.register_struct_ops(self.bpf_object, self.link_dir)
                    break
                except BpftoolError as exc:
                    # A previous instance may still be tearing down (EBUSY): retry briefly.
                    if "busy" not in str(exc).lower() or attempt == 2:
                        raise EnforcementError(f"loading the scheduler failed: {exc}", exc.detail) from None
                    await asyncio.sleep(0.5)
            pins = sorted(self.link_dir.iterdir())
            if not pins:
                raise EnforcementError("bpftool registered the scheduler but pinned no link")
            self._link_fd = open_pinned(str(pins[0]))
        finally:
            # Whatever happened (success, failure, cancellation by SIGTERM mid-attach), no pinned
            # link may survive: only our descriptor may keep the scheduler attached.
            self._unpin_links()
        if not await self._wait_state("enabled", ATTACH_TIMEOUT_S) or self.active_ops() != SCHEDULER_NAME:
            await self._detach("scheduler did not reach 'enabled'")  # apply holds the lock
            raise EnforcementError(f"scheduler did not become active (state {self.kernel_state()})")
        await self._pin_maps()

    def _unpin_links(self) -> int:
        """Remove pinned links (each would keep a scheduler attached); returns how many."""
        removed = 0
        if self.link_dir.is_dir():
            for pin in self.link_dir.iterdir():
                pin.unlink(missing_ok=True)
                removed += 1
        return removed

    def _clean_pins(self) -> None:
        for directory in (self.link_dir, self.maps_dir):
            if directory.exists():
                shutil.rmtree(directory, ignore_errors=True)

    async def _pin_maps(self) -> None:
        """Pin the scheduler's maps: every map of its struct_ops programs, newest id per name.
        The kernel keeps only the first 15 characters of a map's name (BPF_OBJ_NAME_LEN): a
        longer name is matched on those and the pin gets the full name."""
        programs = [p for p in await self.tool.programs()
                    if p.get("type") == "struct_ops" and str(p.get("name", "")).startswith(PROGRAM_PREFIX)]
        ours = {int(m) for p in programs for m in p.get("map_ids", [])}
        names = {int(m["id"]): str(m.get("name", "")) for m in await self.tool.maps() if "id" in m}
        wanted = {kernel_name(name): name for name in MapName}
        for map_id in sorted(ours, reverse=True):
            name = wanted.pop(names.get(map_id, ""), None)
            if name is not None:
                await self.tool.pin_map(map_id, self.maps_dir / name)
        if wanted:
            raise EnforcementError(f"scheduler maps not found: {', '.join(sorted(wanted.values()))}")
