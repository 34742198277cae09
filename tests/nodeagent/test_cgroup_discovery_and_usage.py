"""Pod cgroups are found for both kubelet drivers and all QoS classes in generated cgroup v2
trees (tmp dirs); races and bad files skip one pod and are counted, never raise."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeagent.cgroups import (
    SKIP_DUPLICATE,
    SKIP_MALFORMED,
    SKIP_PERMISSION,
    SKIP_VANISHED,
    CgroupError,
    CgroupReadError,
    UsageTracker,
    parse_pressure_avg10,
    parse_usage_usec,
    read_pods,
    scan_pods,
)
from temper.cgroupnames import CgroupDriver, pod_cgroup_path
from temper.pods import QosClass
from tests.nodeagent.trees import write_pod_cgroup


@pytest.mark.parametrize("driver", list(CgroupDriver))
@pytest.mark.parametrize("qos", list(QosClass))
def test_every_driver_and_qos_layout_maps_uid_to_path_and_inode(tmp_path: Path, driver: CgroupDriver,
                                                                qos: QosClass) -> None:
    uid = str(uuid.uuid4())
    directory = write_pod_cgroup(tmp_path, uid, qos, driver)
    scan = scan_pods(tmp_path)
    assert set(scan.pods) == {uid}
    assert scan.pods[uid].path == pod_cgroup_path(uid, qos, driver)
    assert scan.pods[uid].cgroup_id == os.stat(directory).st_ino
    assert scan.drivers == {driver}
    assert not scan.skipped


def test_a_mixed_node_with_many_pods_finds_every_pod_once(tmp_path: Path) -> None:
    uids = {str(uuid.uuid4()): qos for qos in QosClass for _ in range(5)}
    for uid, qos in uids.items():
        write_pod_cgroup(tmp_path, uid, qos)
    (tmp_path / "kubepods.slice/kubepods-burstable.slice/not-a-pod.slice").mkdir()
    (tmp_path / "system.slice/kubelet.service").mkdir(parents=True)
    scan = scan_pods(tmp_path)
    assert set(scan.pods) == set(uids)
    assert len({p.cgroup_id for p in scan.pods.values()}) == len(uids)


def test_a_pod_dir_removed_between_listing_and_stat_is_skipped_and_counted(tmp_path: Path) -> None:
    """A dangling symlink lists like an entry and fails stat with ENOENT, exactly as a pod
    cgroup rmdir'ed by kubelet between our listdir and our stat does."""
    alive = str(uuid.uuid4())
    write_pod_cgroup(tmp_path, alive, QosClass.BURSTABLE)
    gone = str(uuid.uuid4()).replace("-", "_")
    qos_dir = tmp_path / "kubepods.slice/kubepods-burstable.slice"
    (qos_dir / f"kubepods-burstable-pod{gone}.slice").symlink_to(tmp_path / "vanished")
    scan = scan_pods(tmp_path)
    assert set(scan.pods) == {alive}
    assert scan.skipped[SKIP_VANISHED] == 1


def test_a_qos_directory_vanishing_mid_scan_loses_only_its_pods(tmp_path: Path) -> None:
    alive = str(uuid.uuid4())
    write_pod_cgroup(tmp_path, alive, QosClass.GUARANTEED)
    (tmp_path / "kubepods.slice/kubepods-besteffort.slice").symlink_to(tmp_path / "vanished")
    assert set(scan_pods(tmp_path).pods) == {alive}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads through mode 000")
def test_an_unreadable_qos_directory_is_counted_as_a_permission_skip(tmp_path: Path) -> None:
    write_pod_cgroup(tmp_path, str(uuid.uuid4()), QosClass.BURSTABLE)
    qos_dir = tmp_path / "kubepods.slice/kubepods-burstable.slice"
    qos_dir.chmod(0)
    try:
        assert scan_pods(tmp_path).skipped[SKIP_PERMISSION] == 1
    finally:
        qos_dir.chmod(0o755)


def test_the_same_pod_under_both_drivers_is_reported_once_and_counted(tmp_path: Path) -> None:
    uid = str(uuid.uuid4())
    write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE, CgroupDriver.SYSTEMD)
    write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE, CgroupDriver.CGROUPFS)
    scan = scan_pods(tmp_path)
    assert list(scan.pods) == [uid]
    assert scan.skipped[SKIP_DUPLICATE] == 1


def test_a_node_without_kubepods_has_no_pods_and_a_missing_root_is_an_error(tmp_path: Path) -> None:
    assert scan_pods(tmp_path).pods == {}
    with pytest.raises(CgroupError):
        scan_pods(tmp_path / "absent")


def test_usage_and_pressure_are_read_per_pod_and_bad_files_skip_that_pod(tmp_path: Path) -> None:
    good, malformed, gone = (str(uuid.uuid4()) for _ in range(3))
    write_pod_cgroup(tmp_path, good, QosClass.BURSTABLE, usage_usec=5_000_000, avg10=1.5)
    bad_dir = write_pod_cgroup(tmp_path, malformed, QosClass.BURSTABLE)
    (bad_dir / "cpu.stat").write_text("usage_usec lots\n")
    gone_dir = write_pod_cgroup(tmp_path, gone, QosClass.BEST_EFFORT)
    cgroups = scan_pods(tmp_path).pods
    (gone_dir / "cpu.stat").unlink()  # the pod stopped after the scan
    reads = read_pods(tmp_path, cgroups)
    assert reads.usage_usec == {good: 5_000_000}
    assert reads.pressure_pct == {good: 1.5}
    assert reads.skipped == {SKIP_MALFORMED: 1, SKIP_VANISHED: 1}


def test_usage_deltas_become_millicores_over_the_interval() -> None:
    tracker = UsageTracker()
    assert tracker.update({"a": 1_000_000, "b": 0}, now=10.0) == {}
    rates = tracker.update({"a": 2_000_000, "b": 500_000}, now=12.0)
    assert rates == {"a": 500, "b": 250}


def test_a_counter_going_backwards_restarts_the_baseline_instead_of_going_negative() -> None:
    tracker = UsageTracker()
    tracker.update({"a": 9_000_000}, now=0.0)
    assert tracker.update({"a": 100}, now=1.0) == {}
    assert tracker.update({"a": 1_000_100}, now=2.0) == {"a": 1000}


@given(st.lists(st.tuples(st.integers(0, 10**12), st.floats(0.001, 100)), min_size=1, max_size=20))
def test_usage_rates_are_never_negative(samples: list[tuple[int, float]]) -> None:
    tracker = UsageTracker()
    now = 0.0
    for usec, step in samples:
        now += step
        assert all(v >= 0 for v in tracker.update({"a": usec}, now).values())


def test_psi_some_avg10_is_parsed_and_garbage_is_rejected() -> None:
    assert parse_pressure_avg10("some avg10=12.34 avg60=1.00 avg300=0.00 total=1\nfull avg10=0.00\n") == 12.34
    for bad in ("", "full avg10=1.00", "some avg10=abc", "some avg10=140.0"):
        with pytest.raises(CgroupReadError):
            parse_pressure_avg10(bad)


@given(st.text(max_size=200))
def test_cpu_stat_parsing_is_total(text: str) -> None:
    with contextlib.suppress(CgroupReadError):
        assert parse_usage_usec(text) >= 0
