"""The layer plan as the exact contents of Temper's BPF maps (mirror of ``bpf/temper.h``).

Why it exists: the scheduler reads its whole configuration from maps; this module is the one
place that knows their byte layout on the Python side. ``tests/bpf/test_map_layout.py``
parses ``bpf/temper.h`` and fails when any struct size, field offset or enum value here
drifts from the C header. Pure: no I/O, no bpftool — the node agent's driver writes what
``encode_plan`` returns.

Encoding: little-endian (x86-64 and arm64 BPF hosts), keys as the C types declare them.
``MapContents`` holds every entry the agent must write for a plan; the agent writes tiers,
CPUs and cgroups first and the global config (new generation) last, so the scheduler only
re-reads a configuration once it is complete.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from temper.bandwidth import Bandwidth
from temper.plan import Plan, TierPlan
from temper.tiers import Tier
from temper.waits import WAIT_BUCKETS, WaitHistogram, merge

ABI_VERSION = 4
MAX_CPUS = 512
MAX_CGROUPS = 65536
MAX_BW_CGROUPS = 16384
REASON_LEN = 128
MSG_LEN = 256
MAX_LLCS = 16
MAX_WAIT_PODS = 4096


class TierFlag(enum.IntFlag):
    PREEMPT = 1
    PREEMPTIBLE = 2
    BORROW_FENCED = 4
    SMT_YIELD = 8


class CpuRole(enum.IntEnum):
    SHARED = 0
    FENCED = 1


class Stat(enum.IntEnum):
    ENQUEUE = 0
    DIRECT = 1
    PREEMPT_KICK = 2
    BORROW = 3
    STARVATION_GUARD = 4
    FALLBACK = 5
    THROTTLED = 6
    OVERFLOW = 7
    REENQUEUED = 8


NR_STATS = len(Stat)


class MapName(enum.StrEnum):
    CGROUPS = "temper_cgroups"
    TIERS = "temper_tiers"
    CPUS = "temper_cpus"
    GLOBAL = "temper_global"
    STATS = "temper_stats"
    EXIT = "temper_exitinfo"
    CPU_MAX = "temper_cpu_max"
    BW_STATS = "temper_bw_stats"
    TIMERS = "temper_timers"
    TOPOLOGY = "temper_topology"
    WAIT = "temper_wait"
    POD_WAIT = "temper_pod_wait"


U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
CGROUP_ENTRY = struct.Struct("<II")  # tier, weight
TIER_CONFIG = struct.Struct("<QII")  # slice_ns, weight, flags
GLOBAL_CONFIG = struct.Struct("<QQII")  # generation, starvation_guard_ns, nr_fenced, abi_version
EXIT_RECORD = struct.Struct(f"<qqQ{REASON_LEN}s{MSG_LEN}s")  # kind, exit_code, timestamp_ns, reason, msg
TIMER_SIZE = 16  # sizeof(struct bpf_timer): temper_timers is pinned, never read or written
CPU_TOPOLOGY = struct.Struct("<iI")  # sibling (-1 = none), llc index
BW_CONFIG = struct.Struct("<QQQ")  # period_ns, quota_ns, burst_ns
WAIT_HIST = struct.Struct(f"<QQ{WAIT_BUCKETS}Q")  # count, sum_ns, buckets
BW_STATS = struct.Struct("<QQQqQQII")  # nr_periods, nr_throttled, throttled_ns, runtime_ns,
#                                       period_start_ns, throttled_since_ns, throttled, pad

EXIT_KINDS = {0: "NONE", 1: "DONE", 64: "UNREG", 65: "UNREG_BPF", 66: "UNREG_KERN", 67: "SYSRQ",
              1024: "ERROR", 1025: "ERROR_BPF", 1026: "ERROR_STALL"}


def tier_flags(tier_plan: TierPlan) -> int:
    flags = TierFlag(0)
    if tier_plan.preempt:
        flags |= TierFlag.PREEMPT
    if tier_plan.preemptible:
        flags |= TierFlag.PREEMPTIBLE
    if tier_plan.may_borrow_fenced:
        flags |= TierFlag.BORROW_FENCED
    if tier_plan.yields_smt_sibling:
        flags |= TierFlag.SMT_YIELD
    return int(flags)


@dataclass(frozen=True)
class MapContents:
    """Every (key, value) pair of the configuration maps for one plan, as bytes."""

    tiers: dict[bytes, bytes]
    cpus: dict[bytes, bytes]
    topology: dict[bytes, bytes]
    cgroups: dict[bytes, bytes]
    global_config: tuple[bytes, bytes]


def encode_plan(plan: Plan, cgroup_ids: Mapping[str, int], generation: int) -> MapContents:
    """Map contents for ``plan``. ``cgroup_ids``: pod uid -> cgroup id (members without one
    are left out: their tasks are Normal until the cgroup appears and the next apply)."""
    if generation < 1:
        raise ValueError("generation 0 means 'not configured' to the scheduler")
    if max(plan.online) >= MAX_CPUS:
        raise ValueError(f"CPU ids above {MAX_CPUS - 1} are not supported")
    tiers = {
        U32.pack(t.tier.value): TIER_CONFIG.pack(t.slice_us * 1000, t.weight, tier_flags(t))
        for t in plan.tiers
    }
    cpus = {
        U32.pack(cpu): U32.pack(CpuRole.FENCED if cpu in plan.fenced else CpuRole.SHARED)
        for cpu in range(max(plan.online) + 1)
    }
    siblings, llcs = dict(plan.smt_siblings), dict(plan.llc_index)
    topology = {U32.pack(cpu): CPU_TOPOLOGY.pack(siblings.get(cpu, -1), llcs.get(cpu, 0) % MAX_LLCS)
                for cpu in range(max(plan.online) + 1)}
    cgroups: dict[bytes, bytes] = {}
    for member in plan.members:
        cgroup_id = cgroup_ids.get(member.uid)
        if cgroup_id is None:
            continue
        if not 0 < cgroup_id < 2**64:
            raise ValueError(f"invalid cgroup id {cgroup_id} for pod {member.namespace}/{member.name}")
        cgroups[U64.pack(cgroup_id)] = CGROUP_ENTRY.pack(member.tier.value, max(1, min(10_000, member.weight)))
    if len(cgroups) > MAX_CGROUPS:
        raise ValueError(f"more than {MAX_CGROUPS} pod cgroups")
    global_value = GLOBAL_CONFIG.pack(generation, plan.starvation_guard_us * 1000, len(plan.fenced), ABI_VERSION)
    return MapContents(tiers, cpus, topology, cgroups, (U32.pack(0), global_value))


@dataclass(frozen=True)
class ExitRecord:
    kind: int
    exit_code: int
    timestamp_ns: int
    reason: str
    message: str

    @property
    def exited(self) -> bool:
        return self.timestamp_ns != 0

    def describe(self) -> str:
        """One line for logs, the health endpoint and the node annotation."""
        if not self.exited:
            return ""
        name = EXIT_KINDS.get(self.kind, str(self.kind))
        text = f"{name}: {self.reason}"
        if self.message:
            text += f": {self.message}"
        return text


def decode_exit_record(value: bytes) -> ExitRecord:
    if len(value) != EXIT_RECORD.size:
        raise ValueError(f"exit record is {len(value)} bytes, expected {EXIT_RECORD.size}")
    kind, code, stamp, reason, message = EXIT_RECORD.unpack(value)
    return ExitRecord(kind, code, stamp, _cstring(reason), _cstring(message))


def _cstring(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def decode_stats(values: Mapping[int, int]) -> dict[Tier, dict[str, int]]:
    """Stats map (key -> value summed over CPUs) -> per tier, counter name -> value."""
    result = {tier: {stat.name.lower(): 0 for stat in Stat} for tier in Tier}
    for key, value in values.items():
        tier_index, stat_index = divmod(key, NR_STATS)
        if tier_index < len(Tier) and stat_index < NR_STATS:
            result[Tier(tier_index)][Stat(stat_index).name.lower()] = value
    return result


def encode_bandwidth(limits: Mapping[int, Bandwidth]) -> dict[bytes, bytes]:
    """temper_cpu_max contents: cgroup id -> its limit (unlimited cgroups are absent)."""
    if len(limits) > MAX_BW_CGROUPS:
        raise ValueError(f"more than {MAX_BW_CGROUPS} CPU-limited cgroups")
    entries: dict[bytes, bytes] = {}
    for cgroup_id, limit in limits.items():
        if not 0 < cgroup_id < 2**64:
            raise ValueError(f"invalid cgroup id {cgroup_id}")
        entries[U64.pack(cgroup_id)] = BW_CONFIG.pack(
            limit.period_us * 1000, limit.quota_us * 1000, limit.burst_us * 1000)
    return entries


@dataclass(frozen=True)
class ThrottleStats:
    """A limited cgroup's cpu.stat-style counters, as the scheduler keeps them."""

    nr_periods: int
    nr_throttled: int
    throttled_ns: int
    """Closed throttled intervals plus the open one up to the read."""
    runtime_ns: int
    throttled: bool


def decode_bw_stats(value: bytes, now_ns: int) -> ThrottleStats:
    """One temper_bw_stats value; ``now_ns`` (CLOCK_MONOTONIC, as bpf_ktime_get_ns) closes an
    open throttled interval for the reader."""
    if len(value) != BW_STATS.size:
        raise ValueError(f"bandwidth stats are {len(value)} bytes, expected {BW_STATS.size}")
    periods, throttled_count, throttled_ns, runtime, _start, since, throttled, _pad = BW_STATS.unpack(value)
    if throttled and since:
        throttled_ns += max(0, now_ns - since)
    return ThrottleStats(periods, throttled_count, throttled_ns, runtime, bool(throttled))


def decode_wait_hist(values: Sequence[bytes]) -> WaitHistogram:
    """One temper_wait / temper_pod_wait value, per CPU -> their sum."""
    per_cpu = []
    for value in values:
        if len(value) != WAIT_HIST.size:
            raise ValueError(f"wait histogram is {len(value)} bytes, expected {WAIT_HIST.size}")
        count, total, *buckets = WAIT_HIST.unpack(value)
        per_cpu.append(WaitHistogram(count, total, tuple(buckets)))
    return merge(per_cpu)
