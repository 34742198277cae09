"""Enforce the layer plan with Temper's sched_ext scheduler (``bpf/temper.bpf.c``).

Lifecycle (all steps through ``nodeagent.bpftool``, except holding the link):

attach
    1. refuse if another sched_ext scheduler is active (``root/ops`` names it);
    2. read the previous run's exit record if its map is still pinned, then remove stale pins
       (a pinned link left by an agent killed mid-attach would keep a scheduler alive);
    3. ``bpftool struct_ops register OBJ PIN/link`` — on failure the error carries libbpf's
       verifier log;
    4. open the pinned link (``nodeagent.bpflink``) and unlink the pin: the agent's file
       descriptor is now the only reference, so the agent's death detaches the scheduler;
    5. pin the scheduler's maps under ``PIN/maps/`` (for the agent's bpftool writes and for
       operators): the newest map of each name used by ``temper_*`` struct_ops programs.
apply
    Writes tiers, CPUs, changed cgroup entries, deletions of stale cgroups, then the global
    config with generation+1 — one ``bpftool batch``. The scheduler re-reads everything on
    the new generation. Never detaches (``enable_seq`` does not move).
stand_down
    Closes the link descriptor: the kernel unregisters the scheduler (exit kind UNREG) and
    every task returns to the fair class.
status
    Notices an ejection (state no longer ``enabled`` while we hold a link): records the exit
    reason from the scheduler's exit map, drops the dead link, and counts the ejection.

Restart policy: after an ejection the next ``apply`` re-attaches, but not sooner than
``1 s x 2^(ejections-1)`` (capped at 60 s) after it; after ``MAX_EJECTIONS`` within
``EJECTION_WINDOW_S`` it refuses (``EnforcementError``) so the agent falls back to observe-only
instead of crash-looping the node's scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from nodeagent.bpflink import open_pinned
from nodeagent.bpftool import Bpftool, BpftoolError, MapWrite
from nodeagent.enforcement import EnforcementError, EnforcerStatus, Probe
from temper import bpfmaps
from temper.plan import Plan
from temper.tiers import Tier

log = logging.getLogger(__name__)

SCHEDULER_NAME = "temper"
PROGRAM_PREFIX = "temper_"
MAX_EJECTIONS = 3
EJECTION_WINDOW_S = 600.0
ATTACH_TIMEOUT_S = 10.0
COUNTERS_MAX_AGE_S = 10.0
"""Counters are refreshed (one bpftool run) at most this often; status() is called every scan."""
DETACH_TIMEOUT_S = 5.0


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
        self._generation = 0
        self._written_cgroups: dict[bytes, bytes] = {}
        self._written_static: dict[str, dict[bytes, bytes]] = {}
        self._ejections: list[float] = []
        self._last_exit = ""
        self._attach_count = 0
        self._counters: dict[Tier, dict[str, int]] = {}
        self._counters_at = -COUNTERS_MAX_AGE_S
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

    async def apply(self, plan: Plan, cgroup_ids: Mapping[str, int]) -> None:
        async with self._lock:
            self._notice_ejection()
            if self._link_fd is None:
                self._check_restart_policy()
                await self._attach()
            contents = bpfmaps.encode_plan(plan, cgroup_ids, self._generation + 1)
            writes: list[MapWrite] = []
            for name, entries in ((bpfmaps.MapName.TIERS, contents.tiers), (bpfmaps.MapName.CPUS, contents.cpus)):
                previous = self._written_static.get(name, {})
                writes += [MapWrite(self.maps_dir / name, k, v) for k, v in entries.items() if previous.get(k) != v]
            cgroups_path = self.maps_dir / bpfmaps.MapName.CGROUPS
            writes += [MapWrite(cgroups_path, k, v) for k, v in contents.cgroups.items()
                       if self._written_cgroups.get(k) != v]
            writes += [MapWrite(cgroups_path, k, None) for k in self._written_cgroups if k not in contents.cgroups]
            key, value = contents.global_config
            writes.append(MapWrite(self.maps_dir / bpfmaps.MapName.GLOBAL, key, value))
            try:
                await self.tool.batch(writes)
            except BpftoolError:
                # Unknown how far the batch got: forget what we think is written, so the next
                # apply rewrites everything (and deletes by dumping the live map).
                self._written_static.clear()
                self._written_cgroups = await self._live_cgroups()
                raise
            self._written_static = {bpfmaps.MapName.TIERS: contents.tiers, bpfmaps.MapName.CPUS: contents.cpus}
            self._written_cgroups = dict(contents.cgroups)
            self._generation += 1

    async def stand_down(self, reason: str) -> None:
        async with self._lock:
            leftovers = self._unpin_links()
            if self._link_fd is None and not leftovers:
                return
            log.info("detaching scheduler: %s", reason)
            if self._link_fd is not None:
                os.close(self._link_fd)
                self._link_fd = None
            if not await self._wait_state("disabled", DETACH_TIMEOUT_S):
                log.error("scheduler still %s %.0fs after detach", self.kernel_state(), DETACH_TIMEOUT_S)
            self._last_exit = await self._read_exit_record() or self._last_exit

    async def status(self) -> EnforcerStatus:
        self._notice_ejection()
        now = time.monotonic()
        if self._link_fd is not None and now - self._counters_at >= COUNTERS_MAX_AGE_S:
            self._counters_at = now
            try:
                self._counters = await self._read_stats()
            except BpftoolError as exc:
                log.warning("reading scheduler counters failed: %s", exc)
        return EnforcerStatus(
            attached=self._link_fd is not None, scheduler=self.active_ops(), last_exit=self._last_exit,
            attach_count=self._attach_count, counters=dict(self._counters),
        )

    # ---- internals ----

    def _notice_ejection(self) -> None:
        if self._link_fd is None or self.active_ops() == SCHEDULER_NAME:
            return
        # We hold a link but the kernel no longer runs our scheduler: it was ejected.
        os.close(self._link_fd)
        self._link_fd = None
        self._ejections.append(time.monotonic())
        self._last_exit = "ejected by the kernel (see dmesg: sched_ext)"
        log.error("scheduler ejected by the kernel; state=%s", self.kernel_state())
        task = asyncio.get_running_loop().create_task(self._record_exit_after_ejection())
        self._background.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._background.discard)

    async def _record_exit_after_ejection(self) -> None:
        described = await self._read_exit_record()
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
        ops = self.active_ops()
        if ops and ops != SCHEDULER_NAME:
            raise EnforcementError(f"another sched_ext scheduler is active: {ops}")
        previous = await self._read_exit_record()
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
            await self.stand_down("scheduler did not reach 'enabled'")
            raise EnforcementError(f"scheduler did not become active (state {self.kernel_state()})")
        await self._pin_maps()
        self._generation = 0
        self._written_cgroups = {}
        self._written_static = {}
        self._counters, self._counters_at = {}, -COUNTERS_MAX_AGE_S
        self._attach_count += 1
        log.info("scheduler attached (enable_seq %d)", self.enable_seq())

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
        """Pin the scheduler's maps: every map of its struct_ops programs, newest id per name."""
        programs = [p for p in await self.tool.programs()
                    if p.get("type") == "struct_ops" and str(p.get("name", "")).startswith(PROGRAM_PREFIX)]
        ours = {int(m) for p in programs for m in p.get("map_ids", [])}
        names = {int(m["id"]): str(m.get("name", "")) for m in await self.tool.maps() if "id" in m}
        wanted = {name.value for name in bpfmaps.MapName}
        for map_id in sorted(ours, reverse=True):
            name = names.get(map_id, "")
            if name in wanted:
                await self.tool.pin_map(map_id, self.maps_dir / name)
                wanted.discard(name)
        if wanted:
            raise EnforcementError(f"scheduler maps not found: {', '.join(sorted(wanted))}")

    async def _live_cgroups(self) -> dict[bytes, bytes]:
        try:
            entries = await self.tool.dump(self.maps_dir / bpfmaps.MapName.CGROUPS)
        except BpftoolError:
            return {}
        return {key: values[0] for key, values in entries if values}

    async def _read_stats(self) -> dict[Tier, dict[str, int]]:
        entries = await self.tool.dump(self.maps_dir / bpfmaps.MapName.STATS)
        totals = {
            bpfmaps.U32.unpack(key)[0]: sum(bpfmaps.U64.unpack(v)[0] for v in values)
            for key, values in entries
        }
        return bpfmaps.decode_stats(totals)

    async def _read_exit_record(self) -> str:
        path = self.maps_dir / bpfmaps.MapName.EXIT
        if not path.exists():
            return ""
        try:
            raw = await self.tool.lookup(path, bpfmaps.U32.pack(0))
            return bpfmaps.decode_exit_record(raw).describe()
        except (BpftoolError, ValueError) as exc:
            log.warning("reading the scheduler's exit record failed: %s", exc)
            return ""
