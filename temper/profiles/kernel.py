"""The BPF map layouts of Workload Profiles, packed exactly as the kernel part will read them.

Why it exists: the lead wires profiles into ``bpf/temper.h`` after the scheduler rewrite; this
module is the Python side of that contract, and docs/profiles.md carries the C structs to
paste (same sizes and offsets; once they are in the header, tests/bpf/test_map_layout.py
should check this mirror as it does ``temper.bpfmaps``). Little-endian, fixed sizes, no I/O.

Maps (names, keys -> values):
- ``temper_pod_profile``  HASH  u64 cgroup id -> ``PodProfile`` (profile id, 0 = none)
- ``temper_profiles``     ARRAY u32 profile id -> ``ProfileTable`` (groups with compiled
  comm programs and the tier-resolved treatment per group is in ``temper_pod_groups``)
- ``temper_pod_groups``   HASH  ``PodGroupKey`` -> ``PodGroup`` (resolved treatment, exclusive
  cpus bitmap) — per pod because the tier decides what a group may have
- ``temper_thread_hints`` HASH  u32 tid -> ``ThreadHint`` (cmdline-classified threads; the
  kernel honours a hint only when its cgroup id is the task's own pod cgroup)
- ``temper_group_stats``  PERCPU_HASH ``PodGroupKey`` -> ``GroupStats`` (kernel writes)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from temper.profiles.comm import MAX_OPS, CommProgram
from temper.profiles.model import MAX_GROUPS, Profile, Treatment

NO_GROUP = 0xFF
OP_BYTES = 16
OP_SIZE = 4 + OP_BYTES  # kind, min, max, len, bytes[16]
PROG_SIZE = 4 + MAX_OPS * OP_SIZE  # nr_ops, anchored, pad[2], ops
GROUP_SIZE = 4 + 2 * PROG_SIZE  # flags(has_comm, has_process), pad, comm prog, process prog
PROFILE_SIZE = 8 + MAX_GROUPS * GROUP_SIZE
MAX_CPUS = 512
GROUP_FLAG_COMM = 1
GROUP_FLAG_PROCESS = 2
GROUP_FLAG_CMDLINE = 4


def pack_program(program: CommProgram | None) -> bytes:
    if program is None:
        return bytes(PROG_SIZE)
    out = struct.pack("<BB2x", len(program.ops), 1 if program.anchored else 0)
    for op in program.ops:
        out += struct.pack("<BBBB16s", op.kind, op.min, op.max, len(op.data), op.data)
    return out.ljust(PROG_SIZE, b"\0")


@dataclass(frozen=True)
class PodProfile:
    profile_id: int
    generation: int

    def pack(self) -> bytes:
        return struct.pack("<II", self.profile_id, self.generation)


def pack_profile(profile: Profile) -> bytes:
    """``struct temper_profile``: version, nr_groups, then MAX_GROUPS groups."""
    from temper.profiles.comm import compile_exact

    out = struct.pack("<IB3x", profile.version, len(profile.groups))
    for group in profile.groups:
        flags = (GROUP_FLAG_COMM if group.comm else 0) | (GROUP_FLAG_PROCESS if group.process else 0) | (
            GROUP_FLAG_CMDLINE if group.cmdline else 0)
        process = compile_exact(group.process) if group.process else None
        out += struct.pack("<BB2x", flags, group.treatment) + pack_program(
            group.comm.program if group.comm else None) + pack_program(process)
    return out.ljust(PROFILE_SIZE, b"\0")


@dataclass(frozen=True)
class PodGroupKey:
    cgroup_id: int
    group: int

    def pack(self) -> bytes:
        return struct.pack("<QI4x", self.cgroup_id, self.group)


@dataclass(frozen=True)
class PodGroup:
    treatment: Treatment
    cpus: frozenset[int]

    def pack(self) -> bytes:
        mask = bytearray(MAX_CPUS // 8)
        for cpu in self.cpus:
            if not 0 <= cpu < MAX_CPUS:
                raise ValueError(f"cpu {cpu} outside 0..{MAX_CPUS - 1}")
            mask[cpu // 8] |= 1 << (cpu % 8)
        return struct.pack("<B7x", self.treatment) + bytes(mask)


@dataclass(frozen=True)
class ThreadHint:
    cgroup_id: int
    group: int
    generation: int

    def pack(self) -> bytes:
        return struct.pack("<QBxxxI", self.cgroup_id, self.group, self.generation)


@dataclass(frozen=True)
class GroupStats:
    runtime_ns: int
    waits: int
    wait_ns: int
    preemptions: int
    intrusions: int

    FORMAT = "<5Q"

    def pack(self) -> bytes:
        return struct.pack(self.FORMAT, self.runtime_ns, self.waits, self.wait_ns, self.preemptions, self.intrusions)

    @classmethod
    def unpack_sum(cls, per_cpu: list[bytes]) -> GroupStats:
        """Sum a PERCPU value (one packed struct per CPU)."""
        totals = [0] * 5
        for raw in per_cpu:
            for i, value in enumerate(struct.unpack(cls.FORMAT, raw[:40])):
                totals[i] += value
        return cls(*totals)
