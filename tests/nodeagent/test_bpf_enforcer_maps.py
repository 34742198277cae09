"""``BpfEnforcer`` writing and reading real BPF maps on the host kernel.

The kernel half of an attach (``bpftool struct_ops register``, the link, bpftool pinning) needs
sched_ext and lives in the lab tier. Here ``MapsOnlyEnforcer`` replaces just that step: it
creates the scheduler's maps with the exact types, sizes and names of ``MAP_LAYOUTS`` and pins
them where bpftool would, in a private bpffs. Everything after — opening and checking the
pins, every apply write, the ordering and failure contracts, the counter and throttle reads —
is the enforcer's real code against the kernel's real maps. The test plays the scheduler by
writing the maps it owns (stats, bandwidth stats, exit record)."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from nodeagent import bpfsys
from nodeagent.bpf_enforcer import MAP_LAYOUTS, BpfEnforcer, kernel_name
from nodeagent.bpfsys import BpfMap, BpfSysError
from nodeagent.bpftool import Bpftool
from nodeagent.enforcement import EnforcementError
from temper import bpfmaps
from temper.bandwidth import Bandwidth
from temper.bpfmaps import MapName
from temper.plan import Plan, plan
from temper.pods import PodInfo, QosClass
from temper.tiers import Tier
from temper.topology import NodeTopology
from temper.waits import WAIT_BUCKETS, WaitHistogram

U32, U64 = bpfmaps.U32, bpfmaps.U64


class MapsOnlyEnforcer(BpfEnforcer):
    """A BpfEnforcer whose scheduler load creates and pins the maps instead of registering."""

    def __init__(self, pin_dir: Path, scx_dir: Path,
                 layouts: dict[MapName, tuple[int, int, int, int]] | None = None) -> None:
        super().__init__(str(pin_dir / "absent.bpf.o"), str(pin_dir), sched_ext_dir=str(scx_dir))
        self.layouts = dict(MAP_LAYOUTS if layouts is None else layouts)
        self.loads = 0

    async def _load_scheduler(self) -> None:
        self._clean_pins()
        self.maps_dir.mkdir(parents=True)
        for name, (kind, key_size, value_size, max_entries) in self.layouts.items():
            with bpfsys.create_map(kind, key_size, value_size, max_entries, name) as created:
                bpfsys.pin(created, self.maps_dir / name)
        self._link_fd = os.open(os.devnull, os.O_RDONLY)  # stands in for the struct_ops link
        self.loads += 1


class ListingTool(Bpftool):
    """Answers the three bpftool calls of map pinning from maps this test created: ``prog show``
    (one temper_ struct_ops program using them), ``map show`` (the kernel's own names, cut at
    15 characters) and ``map pin id`` (pinned through the syscall)."""

    def __init__(self, maps: list[BpfMap]) -> None:
        super().__init__("bpftool-is-not-run")
        self.by_id = {m.info.id: m for m in maps}

    async def programs(self) -> list[dict[str, Any]]:
        return [{"type": "struct_ops", "name": "temper_enqueue", "map_ids": sorted(self.by_id)},
                {"type": "struct_ops", "name": "other_enqueue", "map_ids": [1]}]

    async def maps(self) -> list[dict[str, Any]]:
        return [{"id": map_id, "name": m.info.name} for map_id, m in self.by_id.items()]

    async def pin_map(self, map_id: int, path: Path) -> None:
        bpfsys.pin(self.by_id[map_id], path)


class PinningEnforcer(MapsOnlyEnforcer):
    """Creates the maps unpinned (as libbpf does) and lets the real ``_pin_maps`` find and pin them."""

    async def _load_scheduler(self) -> None:
        self._clean_pins()
        self.maps_dir.mkdir(parents=True)
        created = [bpfsys.create_map(bpfsys.MAP_PERCPU_ARRAY, 4, 8, 45, MapName.STATS)]  # an older copy
        created += [bpfsys.create_map(kind, key_size, value_size, max_entries, name)
                    for name, (kind, key_size, value_size, max_entries) in self.layouts.items()]
        self.tool = ListingTool(created)
        try:
            await self._pin_maps()
        finally:
            for bpf_map in created:
                bpf_map.close()
        self._link_fd = os.open(os.devnull, os.O_RDONLY)


def _sched_ext(tmp_path: Path, state: str = "enabled") -> Path:
    scx = tmp_path / "sched_ext"
    (scx / "root").mkdir(parents=True, exist_ok=True)
    (scx / "state").write_text(state + "\n")
    (scx / "root" / "ops").write_text("temper\n")
    (scx / "enable_seq").write_text("1\n")
    return scx


def _plan() -> Plan:
    pods = [PodInfo(uid, "ns", uid, tier, 500, None, QosClass.BURSTABLE)
            for uid, tier in (("db", Tier.CRITICAL), ("web", Tier.HIGH), ("batch", Tier.BACKGROUND))]
    return plan(NodeTopology.uniform(4), pods)


def _read(enforcer: BpfEnforcer, name: MapName) -> dict[bytes, bytes]:
    with BpfMap.open(enforcer.maps_dir / name) as opened:
        return dict(opened.items())


def _generation(enforcer: BpfEnforcer) -> int:
    value = _read(enforcer, MapName.GLOBAL)[U32.pack(0)]
    return int(bpfmaps.GLOBAL_CONFIG.unpack(value)[0])


IDS = {"db": 101, "web": 102, "batch": 103}


@pytest.fixture
def enforcer(bpffs: Path, tmp_path: Path) -> MapsOnlyEnforcer:
    return MapsOnlyEnforcer(bpffs / "temper", _sched_ext(tmp_path))


async def _stand_down(enforcer: BpfEnforcer) -> None:
    (enforcer.scx / "state").write_text("disabled\n")  # what the kernel does when the link closes
    await enforcer.stand_down("test over")


async def test_apply_writes_the_whole_plan_and_the_limits_into_the_maps(enforcer: MapsOnlyEnforcer) -> None:
    layer_plan = _plan()
    limits = {101: Bandwidth(50_000, 100_000), 7001: Bandwidth(20_000, 100_000, 5_000)}
    await enforcer.apply(layer_plan, IDS, bandwidth=limits)
    expected = bpfmaps.encode_plan(layer_plan, IDS, generation=1)
    assert _read(enforcer, MapName.CGROUPS) == expected.cgroups
    assert {k: v for k, v in _read(enforcer, MapName.TIERS).items() if k in expected.tiers} == expected.tiers
    assert {k: v for k, v in _read(enforcer, MapName.CPUS).items() if k in expected.cpus} == expected.cpus
    assert _read(enforcer, MapName.GLOBAL)[U32.pack(0)] == expected.global_config[1]
    assert _read(enforcer, MapName.CPU_MAX) == bpfmaps.encode_bandwidth(limits)
    period, quota, burst = bpfmaps.BW_CONFIG.unpack(_read(enforcer, MapName.CPU_MAX)[U64.pack(7001)])
    assert (period, quota, burst) == (100_000_000, 20_000_000, 5_000_000)
    await _stand_down(enforcer)


async def test_limits_are_updated_and_stale_ones_deleted_and_none_leaves_them(enforcer: MapsOnlyEnforcer) -> None:
    layer_plan = _plan()
    await enforcer.apply(layer_plan, IDS, bandwidth={101: Bandwidth(50_000, 100_000), 102: Bandwidth(10_000, 100_000)})
    await enforcer.apply(layer_plan, IDS, bandwidth={101: Bandwidth(80_000, 100_000), 103: Bandwidth(1_000, 10_000)})
    live = _read(enforcer, MapName.CPU_MAX)
    assert live == bpfmaps.encode_bandwidth({101: Bandwidth(80_000, 100_000), 103: Bandwidth(1_000, 10_000)})
    await enforcer.apply(layer_plan, IDS)  # None: leave the limits as they are
    assert _read(enforcer, MapName.CPU_MAX) == live
    assert _generation(enforcer) == 3
    await enforcer.apply(layer_plan, IDS, bandwidth={})  # {}: no limits at all
    assert _read(enforcer, MapName.CPU_MAX) == {}
    with pytest.raises(EnforcementError, match="bandwidth limits refused: invalid cgroup id 0"):
        await enforcer.apply(layer_plan, IDS, bandwidth={0: Bandwidth(50_000, 100_000)})
    assert _generation(enforcer) == 4, "a refused apply writes nothing"
    await enforcer.apply(layer_plan, {"db": 101})  # pods gone: their cgroup entries go too
    assert set(_read(enforcer, MapName.CGROUPS)) == {U64.pack(101)}
    assert _generation(enforcer) == 5 and enforcer.loads == 1, "one attach; every apply a new generation"
    await _stand_down(enforcer)


async def test_a_failed_write_stops_before_the_global_config_and_the_next_apply_recovers(
        bpffs: Path, tmp_path: Path) -> None:
    # A bandwidth map that holds two entries: the third limit makes the kernel refuse (E2BIG).
    small = dict(MAP_LAYOUTS)
    kind, key_size, value_size, _ = small[MapName.CPU_MAX]
    small[MapName.CPU_MAX] = (kind, key_size, value_size, 2)
    enforcer = MapsOnlyEnforcer(bpffs / "temper", _sched_ext(tmp_path), small)
    first = _plan()
    await enforcer.apply(first, {"db": 101, "web": 102}, bandwidth={101: Bandwidth(50_000, 100_000)})
    three = {101: Bandwidth(60_000, 100_000), 102: Bandwidth(10_000, 100_000), 103: Bandwidth(10_000, 100_000)}
    with pytest.raises(BpfSysError, match=r"update .*temper_cpu_max: .*errno 7\)"):
        await enforcer.apply(first, {"db": 101, "batch": 103}, bandwidth=three)
    # Ordering: cgroup upserts come before bandwidth (103 is there), stale deletes after (102
    # stays), and the global config last: the scheduler still sees generation 1.
    assert set(_read(enforcer, MapName.CGROUPS)) == {U64.pack(101), U64.pack(102), U64.pack(103)}
    assert _generation(enforcer) == 1
    # The next apply diffs against the live maps and completes the picture; the full bandwidth
    # map (101 and 102 live) takes 103 once the stale entries are deleted.
    await enforcer.apply(first, {"db": 101, "batch": 103}, bandwidth={103: Bandwidth(10_000, 100_000)})
    assert set(_read(enforcer, MapName.CGROUPS)) == {U64.pack(101), U64.pack(103)}
    assert _read(enforcer, MapName.CPU_MAX) == bpfmaps.encode_bandwidth({103: Bandwidth(10_000, 100_000)})
    assert _generation(enforcer) == 2
    tiers = _read(enforcer, MapName.TIERS)
    assert tiers[U32.pack(Tier.CRITICAL)] == bpfmaps.encode_plan(first, {}, 2).tiers[U32.pack(Tier.CRITICAL)]
    await _stand_down(enforcer)


async def test_status_reads_the_counters_and_throttling_on_every_call(enforcer: MapsOnlyEnforcer) -> None:
    assert (await enforcer.status()).throttling == {}
    await enforcer.apply(_plan(), IDS, bandwidth={101: Bandwidth(50_000, 100_000)})
    with BpfMap.open(enforcer.maps_dir / MapName.STATS) as stats, \
            BpfMap.open(enforcer.maps_dir / MapName.BW_STATS) as bw_stats:
        key = U32.pack(Tier.CRITICAL * bpfmaps.NR_STATS + bpfmaps.Stat.PREEMPT_KICK)
        stats.update_percpu(key, [U64.pack(3)] * stats.nr_cpus)
        # One cgroup throttled right now (open interval since 2 s ago), one not.
        since = time.monotonic_ns() - 2_000_000_000
        bw_stats.update(U64.pack(101), bpfmaps.BW_STATS.pack(40, 6, 1_500_000_000, -200, 0, since, 1, 0))
        bw_stats.update(U64.pack(102), bpfmaps.BW_STATS.pack(9, 0, 0, 1_000, 0, 0, 0, 0))
        status = await enforcer.status()
        assert status.counters[Tier.CRITICAL]["preempt_kick"] == 3 * stats.nr_cpus
        assert status.counters[Tier.LOW]["enqueue"] == 0
        throttled = status.throttling[101]
        assert (throttled.nr_periods, throttled.nr_throttled, throttled.throttled) == (40, 6, True)
        assert 3_500_000_000 <= throttled.throttled_ns < 3_500_000_000 + 60_000_000_000
        assert status.throttling[102].throttled_ns == 0 and not status.throttling[102].throttled
        # No refresh throttle: the next call sees the next value.
        stats.update_percpu(key, [U64.pack(5)] * stats.nr_cpus)
        bw_stats.update(U64.pack(102), bpfmaps.BW_STATS.pack(10, 1, 4_000_000, 0, 0, 0, 0, 0))
        again = await enforcer.status()
        assert again.counters[Tier.CRITICAL]["preempt_kick"] == 5 * stats.nr_cpus
        assert again.throttling[102].nr_throttled == 1 and again.throttling[102].throttled_ns == 4_000_000
    await _stand_down(enforcer)
    assert not (await enforcer.status()).attached


async def test_stand_down_reads_the_exit_record_and_closes_every_descriptor(enforcer: MapsOnlyEnforcer) -> None:
    before = len(os.listdir("/proc/self/fd"))
    await enforcer.apply(_plan(), IDS)
    assert len(os.listdir("/proc/self/fd")) == before + len(MAP_LAYOUTS) + 1, "one fd per map, plus the link"
    with BpfMap.open(enforcer.maps_dir / MapName.EXIT) as exit_map:
        exit_map.update(U32.pack(0), bpfmaps.EXIT_RECORD.pack(1026, 0, 12345, b"runnable task stall", b"web[42]"))
    await _stand_down(enforcer)
    assert (await enforcer.status()).last_exit == "ERROR_STALL: runnable task stall: web[42]"
    assert len(os.listdir("/proc/self/fd")) == before


async def test_a_scheduler_whose_maps_do_not_match_the_header_is_refused(bpffs: Path, tmp_path: Path) -> None:
    wrong = dict(MAP_LAYOUTS)
    wrong[MapName.CPUS] = (bpfsys.MAP_ARRAY, 4, 8, bpfmaps.MAX_CPUS)
    enforcer = MapsOnlyEnforcer(bpffs / "temper", _sched_ext(tmp_path, state="disabled"), wrong)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(EnforcementError, match=r"temper_cpus: map type 2, key 4 B, value 8 B; the agent expects "
                                               r"type 2, key 4 B, value 4 B"):
        await enforcer.apply(_plan(), IDS)
    assert not enforcer.attached and len(os.listdir("/proc/self/fd")) == before


async def test_a_missing_map_pin_is_refused_at_attach(bpffs: Path, tmp_path: Path) -> None:
    partial = dict(MAP_LAYOUTS)
    del partial[MapName.BW_STATS]
    enforcer = MapsOnlyEnforcer(bpffs / "temper", _sched_ext(tmp_path, state="disabled"), partial)
    with pytest.raises(BpfSysError, match=r"open .*/maps/temper_bw_stats: No such file or directory"):
        await enforcer.apply(_plan(), IDS)
    assert not enforcer.attached


async def test_maps_are_found_by_their_kernel_names_and_pinned_under_their_full_names(
        bpffs: Path, tmp_path: Path) -> None:
    enforcer = PinningEnforcer(bpffs / "temper", _sched_ext(tmp_path))
    await enforcer.apply(_plan(), IDS, bandwidth={101: Bandwidth(50_000, 100_000)})
    assert sorted(p.name for p in enforcer.maps_dir.iterdir()) == sorted(MapName)
    with BpfMap.open(enforcer.maps_dir / MapName.CPU_MAX) as bandwidth:
        assert bandwidth.info.name == kernel_name(MapName.CPU_MAX)
        assert bandwidth.items() == list(bpfmaps.encode_bandwidth({101: Bandwidth(50_000, 100_000)}).items())
    with BpfMap.open(enforcer.maps_dir / MapName.STATS) as stats:
        assert isinstance(enforcer.tool, ListingTool)
        copies = [map_id for map_id, m in enforcer.tool.by_id.items() if m.info.name == MapName.STATS]
        assert len(copies) == 2 and stats.info.id == max(copies), "the newest map of a name is the scheduler's"
    await _stand_down(enforcer)


def test_the_layouts_follow_the_header_mirror() -> None:
    # The maps the enforcer checks at attach are the ones bpf/temper.h lists, sized by bpfmaps.
    assert set(MAP_LAYOUTS) == set(MapName)
    assert MAP_LAYOUTS[MapName.BW_STATS][2] == bpfmaps.BW_STATS.size == struct.calcsize("<QQQqQQII")
    assert MAP_LAYOUTS[MapName.STATS][3] == len(Tier) * bpfmaps.NR_STATS == 45
    assert len({kernel_name(name) for name in MapName}) == len(MapName), "cut names must stay distinct"


async def test_status_reads_the_runqueue_wait_histograms_summed_over_cpus(enforcer: MapsOnlyEnforcer) -> None:
    """The scheduler's per-CPU wait histograms (temper_wait per tier, temper_pod_wait per pod
    cgroup, an LRU per-CPU hash) as the enforcer reads them: every CPU's copy added up."""
    await enforcer.apply(_plan(), {"crit": 101})
    with BpfMap.open(enforcer.maps_dir / MapName.WAIT) as waits, \
            BpfMap.open(enforcer.maps_dir / MapName.POD_WAIT) as pod_waits:
        one = WaitHistogram.of_waits([500, 3_000, 3_000])  # buckets 0, 2, 2
        packed = bpfmaps.WAIT_HIST.pack(one.count, one.sum_ns, *one.buckets)
        waits.update_percpu(U32.pack(Tier.CRITICAL), [packed] * waits.nr_cpus)
        pod_waits.update_percpu(U64.pack(101), [packed] * pod_waits.nr_cpus)
        status = await enforcer.status()
    n = waits.nr_cpus
    assert status.waits[Tier.CRITICAL] == WaitHistogram(3 * n, 6_500 * n, tuple(
        (n if b == 0 else 2 * n if b == 2 else 0) for b in range(WAIT_BUCKETS)))
    assert status.waits[Tier.BACKGROUND] == WaitHistogram()  # array slots exist, all zero
    assert status.pod_waits == {101: status.waits[Tier.CRITICAL]}
