"""The steady-state reader (``nodeagent.cgroups.UsageReader``) reads what ``read_pods`` reads,
through descriptors it keeps open: fresh contents every scan, closed when a pod's cgroup leaves
the set or is recreated, and per-pod failures counted exactly as ``read_pods`` counts them."""

from __future__ import annotations

import errno
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeagent.cgroups import (
    SKIP_MALFORMED,
    SKIP_VANISHED,
    CgroupReadError,
    UsageReader,
    parse_usage_usec,
    parse_usage_usec_bytes,
    read_pods,
    scan_pods,
    skip_reason,
)
from temper.pods import QosClass
from tests.nodeagent.trees import write_pod_cgroup, write_usage


def test_the_reader_sees_every_rewrite_of_cpu_stat_through_one_open_descriptor(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    directory = write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE, usage_usec=1_000, avg10=2.5)
    cgroups = scan_pods(tmp_path).pods
    reader = UsageReader(tmp_path)
    first = reader.read(cgroups)
    assert (first.usage_usec, first.pressure_pct) == ({uid: 1_000}, {uid: 2.5})
    assert len(reader) == 2
    write_usage(directory, 123_456_789)
    assert reader.read(cgroups, pressure=False).usage_usec == {uid: 123_456_789}
    assert len(reader) == 2, "no new descriptor per scan"
    reader.close()
    assert len(reader) == 0


def test_the_reader_counts_bad_files_like_read_pods(tmp_path: Path) -> None:
    good, malformed = (str(uuid.uuid4()) for _ in range(2))
    write_pod_cgroup(tmp_path, good, QosClass.BURSTABLE, usage_usec=5_000_000, avg10=1.5)
    bad_dir = write_pod_cgroup(tmp_path, malformed, QosClass.BURSTABLE)
    (bad_dir / "cpu.stat").write_text("usage_usec lots\n")
    cgroups = scan_pods(tmp_path).pods
    cgroups["gone"] = replace(cgroups[good], path="kubepods.slice/absent")
    reads = UsageReader(tmp_path).read(cgroups)
    expected = read_pods(tmp_path, cgroups)
    assert (reads.usage_usec, reads.pressure_pct, reads.skipped) == (
        expected.usage_usec, expected.pressure_pct, expected.skipped)
    assert reads.skipped == {SKIP_MALFORMED: 1, SKIP_VANISHED: 1}


def test_retain_closes_the_files_of_pods_gone_or_recreated_with_a_new_id(tmp_path: Path) -> None:
    a, b = (str(uuid.uuid4()) for _ in range(2))
    write_pod_cgroup(tmp_path, a, QosClass.BURSTABLE)
    write_pod_cgroup(tmp_path, b, QosClass.BEST_EFFORT)
    cgroups = scan_pods(tmp_path).pods
    reader = UsageReader(tmp_path)
    reader.read(cgroups, pressure=False)
    assert len(reader) == 2
    reader.retain({a: cgroups[a]})
    assert len(reader) == 1
    reader.retain({a: replace(cgroups[a], cgroup_id=cgroups[a].cgroup_id + 1)})
    assert len(reader) == 0


def test_a_removed_cgroups_enodev_counts_as_vanished() -> None:
    assert skip_reason(OSError(errno.ENODEV, "No such device")) == SKIP_VANISHED


@given(st.one_of(st.integers(0, 2**63), st.text(alphabet="0123456789 -x_\n", max_size=12)),
       st.sampled_from(["", "user_usec 1\n", "usage_usecs 9\n", "throttled usage_usec 3\n"]),
       st.sampled_from(["", "\n", "\nsystem_usec 2\n"]))
def test_the_bytes_parser_agrees_with_the_text_parser(value: int | str, before: str, after: str) -> None:
    text = f"{before}usage_usec {value}{after}"
    try:
        expected: int | None = parse_usage_usec(text)
    except CgroupReadError:
        expected = None
    if expected is None:
        with pytest.raises(CgroupReadError):
            parse_usage_usec_bytes(text.encode())
    else:
        assert parse_usage_usec_bytes(text.encode()) == expected
