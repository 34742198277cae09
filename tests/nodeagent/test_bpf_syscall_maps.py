"""``nodeagent.bpfsys`` against the host kernel's real BPF maps: created through the syscall,
pinned in a private bpffs (the ``bpffs`` fixture), opened by path as the agent opens the
scheduler's maps. Nothing is faked: every assertion is about what the kernel stored."""

from __future__ import annotations

import errno
import gc
import os
import struct
from pathlib import Path

import pytest

from nodeagent import bpfsys
from nodeagent.bpfsys import BpfMap, BpfSysError
from temper.cpuset import parse_cpulist

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
MAP_DEVMAP = 14
LOOPBACK_IFINDEX = 1


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _pinned(bpffs: Path, name: str, map_type: int, key_size: int, value_size: int, max_entries: int,
            flags: int = 0) -> Path:
    with bpfsys.create_map(map_type, key_size, value_size, max_entries, name, flags) as created:
        bpfsys.pin(created, bpffs / name)
    return bpffs / name


def test_a_pinned_map_opens_by_path_with_the_kernels_view_of_its_layout(bpffs: Path) -> None:
    path = _pinned(bpffs, "temper_tiers", bpfsys.MAP_ARRAY, 4, 16, 5)
    with BpfMap.open(path) as opened:
        info = opened.info
        assert (info.type, info.key_size, info.value_size, info.max_entries) == (bpfsys.MAP_ARRAY, 4, 16, 5)
        assert info.name == "temper_tiers" and info.id > 0 and not info.per_cpu
        assert opened.path == str(path) and opened.value_buffer_size == 16
    assert opened.closed


def test_hash_entries_are_added_replaced_and_deleted(bpffs: Path) -> None:
    with BpfMap.open(_pinned(bpffs, "bw", bpfsys.MAP_HASH, 8, 24, 16)) as table:
        key = U64.pack(4242)
        assert table.lookup(key) is None
        table.update(key, b"a" * 24)
        assert table.lookup(key) == b"a" * 24
        table.update(key, b"b" * 24)
        assert table.lookup(key) == b"b" * 24
        with pytest.raises(BpfSysError) as exists:
            table.update(key, b"c" * 24, bpfsys.BPF_NOEXIST)
        assert exists.value.errno == errno.EEXIST
        assert table.delete(key) is True
        assert table.delete(key) is False, "deleting what is gone is not an error"
        assert table.lookup(key) is None
    with BpfMap.open(bpffs / "bw") as reopened:
        assert reopened.items() == [], "the pin holds the map, and the delete stuck"


@pytest.mark.parametrize(("map_type", "entries"), [(bpfsys.MAP_HASH, 700), (bpfsys.MAP_ARRAY, 600)])
def test_batch_lookup_and_key_by_key_iteration_return_the_same_entries(bpffs: Path, map_type: int,
                                                                      entries: int) -> None:
    # More entries than one batch call asks for (BATCH_COUNT), so the continuation token is used.
    assert entries > bpfsys.BATCH_COUNT
    with BpfMap.open(_pinned(bpffs, "many", map_type, 4, 8, entries)) as table:
        expected = {U32.pack(i): U64.pack(i * 3 + 1) for i in range(entries)}
        for key, value in expected.items():
            table.update(key, value)
        batched = table.items()
        assert table.batch_supported, "kernels since 5.6 batch arrays and hashes"
        assert len(batched) == entries and dict(batched) == expected
        assert dict(table.items(batch=False)) == expected
        assert sorted(table.keys()) == sorted(expected)


def test_a_map_type_without_batch_ops_falls_back_to_get_next_key(bpffs: Path) -> None:
    # A device map answers BPF_MAP_LOOKUP_BATCH with ENOTSUPP: items() must walk it key by key
    # (and skip the empty slots get_next_key still names).
    path = _pinned(bpffs, "devices", MAP_DEVMAP, 4, 4, 4)
    with BpfMap.open(path) as devices:
        devices.update(U32.pack(2), U32.pack(LOOPBACK_IFINDEX))
        assert devices.items() == [(U32.pack(2), U32.pack(LOOPBACK_IFINDEX))]
        assert not devices.batch_supported
        assert devices.items() == [(U32.pack(2), U32.pack(LOOPBACK_IFINDEX))], "the fallback is remembered"


@pytest.mark.parametrize("value_size", [8, 4, 12])
def test_per_cpu_values_come_one_per_possible_cpu_with_8_byte_padding(bpffs: Path, value_size: int) -> None:
    nr_cpus = bpfsys.possible_cpus()
    assert nr_cpus == len(parse_cpulist(Path(bpfsys.POSSIBLE_CPUS).read_text())) >= 1
    with BpfMap.open(_pinned(bpffs, "stats", bpfsys.MAP_PERCPU_ARRAY, 4, value_size, 45)) as stats:
        assert stats.nr_cpus == nr_cpus
        assert stats.value_buffer_size == ((value_size + 7) // 8 * 8) * nr_cpus
        # Distinct bytes per CPU: a wrong stride would shift them into each other.
        per_cpu = [bytes([cpu + 1]) * value_size for cpu in range(nr_cpus)]
        stats.update_percpu(U32.pack(7), per_cpu)
        assert stats.lookup_percpu(U32.pack(7)) == per_cpu
        assert stats.lookup_percpu(U32.pack(8)) == [b"\0" * value_size] * nr_cpus
        everything = stats.items_percpu()
        assert len(everything) == 45 and dict(everything)[U32.pack(7)] == per_cpu
        assert dict(stats.items_percpu(batch=False)) == dict(everything)


def test_per_cpu_u64_counters_sum_over_cpus(bpffs: Path) -> None:
    with BpfMap.open(_pinned(bpffs, "temper_stats", bpfsys.MAP_PERCPU_ARRAY, 4, 8, 45)) as stats:
        counts = [U64.pack(10**cpu) for cpu in range(stats.nr_cpus)]
        stats.update_percpu(U32.pack(2 * 9 + 1), counts)
        totals = {U32.unpack(key)[0]: bpfsys.sum_u64(values) for key, values in stats.items_percpu()}
        assert totals[19] == sum(10**cpu for cpu in range(stats.nr_cpus))
        assert sum(totals.values()) == totals[19]


def test_a_missing_pin_is_a_clear_error_with_errno_and_path(bpffs: Path) -> None:
    with pytest.raises(BpfSysError) as missing:
        BpfMap.open(bpffs / "maps" / "temper_cpus")
    assert missing.value.errno == errno.ENOENT
    assert missing.value.path == str(bpffs / "maps" / "temper_cpus")
    assert str(missing.value) == f"open {bpffs}/maps/temper_cpus: No such file or directory (errno 2)"


def test_wrong_key_and_value_sizes_are_refused_before_the_syscall(bpffs: Path) -> None:
    path = _pinned(bpffs, "temper_cpus", bpfsys.MAP_ARRAY, 4, 4, 8)
    with BpfMap.open(path) as cpus:
        with pytest.raises(BpfSysError) as short_key:
            cpus.lookup(b"\0\0")
        assert short_key.value.errno == errno.EINVAL
        assert str(short_key.value) == f"lookup {path}: key is 2 bytes, the map's key_size is 4 (errno 22)"
        with pytest.raises(BpfSysError, match="value is 8 bytes, the map's value_size is 4"):
            cpus.update(U32.pack(0), U64.pack(1))
        with pytest.raises(BpfSysError, match="not a per-CPU map"):
            cpus.lookup_percpu(U32.pack(0))
        with pytest.raises(BpfSysError, match=f"delete {path}: Invalid argument"):
            cpus.delete(U32.pack(0))  # the kernel's answer: array entries cannot be deleted
        with pytest.raises(BpfSysError) as too_far:
            cpus.update(U32.pack(8), U32.pack(1))  # index past max_entries: the kernel refuses
        assert too_far.value.errno == errno.E2BIG
    with pytest.raises(BpfSysError, match="map is closed"):
        cpus.lookup(U32.pack(0))


def test_per_cpu_maps_refuse_the_single_value_calls(bpffs: Path) -> None:
    with BpfMap.open(_pinned(bpffs, "pc", bpfsys.MAP_PERCPU_ARRAY, 4, 8, 4)) as stats:
        with pytest.raises(BpfSysError, match=r"a per-CPU map \(type 6\): use lookup_percpu\(\)"):
            stats.lookup(U32.pack(0))
        with pytest.raises(BpfSysError, match=f"need {stats.nr_cpus} values of 8 bytes"):
            stats.update_percpu(U32.pack(0), [U64.pack(1)] * (stats.nr_cpus + 1))


def test_no_descriptor_outlives_its_map(bpffs: Path) -> None:
    path = _pinned(bpffs, "leak", bpfsys.MAP_HASH, 8, 8, 4)
    before = _open_fds()
    for _ in range(50):
        with BpfMap.open(path) as opened:
            opened.items()
    with pytest.raises(BpfSysError):
        BpfMap.open(bpffs / "absent")
    forgotten = BpfMap.open(path)
    assert _open_fds() == before + 1
    forgotten.close()
    forgotten.close()  # idempotent
    dropped = BpfMap.open(path)
    del dropped
    gc.collect()
    assert _open_fds() == before, "closed, failed and dropped maps leave no descriptor behind"
