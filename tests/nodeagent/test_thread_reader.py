"""ThreadReader reads every thread of a pod's cgroups from procfs: over fake /proc and cgroup
trees in tmp_path (containers, races, errors, the cap) and over this process's own real
threads in the real /proc."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeagent.cgroups import PodCgroup
from nodeagent.threads import NOT_HOST_PID_NAMESPACE, PROC_PID_INIT_INO, ThreadReader, parse_stat
from temper.cgroupnames import CgroupDriver
from temper.threadsnap import snapshot_from_dict, snapshot_to_dict
from tests.nodeagent.trees import write_cgroup_threads, write_proc_thread

POD = PodCgroup("kubepods.slice/kubepods-pod1.slice", 1, CgroupDriver.SYSTEMD)


def _roots(tmp_path: Path) -> tuple[Path, Path, Path]:
    cgroup, proc = tmp_path / "cgroup", tmp_path / "proc"
    pod_dir = cgroup / POD.path
    write_cgroup_threads(pod_dir, [])  # the pod cgroup's own file: every cgroup has one
    proc.mkdir()
    return cgroup, proc, pod_dir


def test_threads_of_the_pod_and_its_containers_are_read_with_their_container(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir, [])
    write_cgroup_threads(pod_dir / "cri-containerd-aaa.scope", [101, 102])
    write_cgroup_threads(pod_dir / "cri-containerd-pause.scope", [100])
    write_cgroup_threads(pod_dir / "cri-containerd-aaa.scope" / "nested", [103])
    write_proc_thread(proc, 100, "pause", "S", cpu_ns=10, wait_ns=1, timeslices=2, last_cpu=0)
    write_proc_thread(proc, 101, "java main", "R", cpu_ns=5_000, wait_ns=300, timeslices=40, last_cpu=3)
    write_proc_thread(proc, 102, "C2 (compiler)", "S", cpu_ns=2_000, wait_ns=20, timeslices=9, last_cpu=1)
    write_proc_thread(proc, 103, "gc", "D", cpu_ns=700, wait_ns=7, timeslices=5, last_cpu=2)
    snapshot = ThreadReader(cgroup, proc, top_k=2).read({"uid-1": POD}, now=1234.5)
    pod = snapshot.pods["uid-1"]
    assert snapshot.taken_at == 1234.5 and snapshot.errors == {} and snapshot.vanished == 0
    assert (pod.total, pod.shown, pod.truncated) == (4, 2, False)
    main, compiler = pod.threads
    assert (main.tid, main.comm, main.container, main.state, main.cpu_ns, main.wait_ns, main.timeslices,
            main.last_cpu) == (101, "java main", "cri-containerd-aaa.scope", "R", 5_000, 300, 40, 3)
    assert compiler.comm == "C2 (compiler)", "comm may hold parentheses and spaces"
    assert (pod.rest.threads, pod.rest.cpu_ns, pod.rest.wait_ns, pod.rest.timeslices) == (2, 710, 8, 7)
    assert snapshot_from_dict(snapshot_to_dict(snapshot)) == snapshot


def test_a_thread_in_the_pod_cgroup_itself_has_no_container(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir, [5])
    write_proc_thread(proc, 5, "sh")
    (thread,) = ThreadReader(cgroup, proc).read({"uid-1": POD}, 1.0).pods["uid-1"].threads
    assert thread.container is None


def test_threads_that_exit_mid_read_are_skipped_silently_and_counted(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir / "c", [1, 2, 3])
    write_proc_thread(proc, 1, cpu_ns=9)
    write_proc_thread(proc, 3, cpu_ns=8)
    (proc / "3" / "schedstat").unlink()  # exited between its two files
    snapshot = ThreadReader(cgroup, proc).read({"uid-1": POD, "uid-gone": PodCgroup("gone", 2, POD.driver)}, 1.0)
    assert snapshot.errors == {} and snapshot.vanished == 3, "tids 2 and 3 and the removed pod cgroup"
    assert [t.tid for t in snapshot.pods["uid-1"].threads] == [1]
    assert "uid-gone" not in snapshot.pods


def test_an_unreadable_thread_is_an_error_entry_and_the_rest_is_kept(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir / "c", [1, 2, 3])
    for tid in (1, 2, 3):
        write_proc_thread(proc, tid, cpu_ns=tid)
    (proc / "2" / "schedstat").unlink()
    (proc / "2" / "schedstat").mkdir()  # EISDIR: neither vanished nor readable
    (proc / "3" / "stat").write_text("3 (x) R 1 2\n")
    snapshot = ThreadReader(cgroup, proc).read({"uid-1": POD}, 1.0)
    assert "cannot read" in snapshot.errors["uid-1"] and str(proc / "2") in snapshot.errors["uid-1"]
    assert [t.tid for t in snapshot.pods["uid-1"].threads] == [1]


def test_a_missing_procfs_is_an_error_for_every_pod_never_a_crash(tmp_path: Path) -> None:
    cgroup, _, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir, [1])
    snapshot = ThreadReader(cgroup, tmp_path / "no-proc").read({"uid-1": POD}, 1.0)
    assert snapshot.pods == {} and "procfs not found" in snapshot.errors["uid-1"]


def test_an_agent_outside_the_host_pid_namespace_says_so_for_every_pod(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir / "c", [4])
    write_proc_thread(proc, 4)
    (proc / "self" / "ns").mkdir(parents=True)
    (proc / "self" / "ns" / "pid").write_text("")  # any inode but the initial namespace's
    snapshot = ThreadReader(cgroup, proc).read({"uid-1": POD}, 1.0)
    assert snapshot.errors == {"uid-1": NOT_HOST_PID_NAMESPACE} and "hostPID" in NOT_HOST_PID_NAMESPACE
    assert snapshot.pods["uid-1"].total == 1, "what is visible is still read"


def test_the_real_proc_is_checked_against_the_initial_pid_namespace(tmp_path: Path) -> None:
    cgroup, _, _ = _roots(tmp_path)
    in_host = os.stat("/proc/self/ns/pid").st_ino == PROC_PID_INIT_INO
    assert ("uid-1" in ThreadReader(cgroup, "/proc").read({"uid-1": POD}, 1.0).errors) is not in_host


def test_a_pid_0_line_is_a_dying_thread_counted_as_vanished(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir / "c", [0, 5])
    write_proc_thread(proc, 5)
    snapshot = ThreadReader(cgroup, proc).read({"uid-1": POD}, 1.0)
    assert snapshot.errors == {} and snapshot.vanished == 1 and snapshot.pods["uid-1"].total == 1


def test_reading_stops_at_the_per_pod_cap_and_says_so(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir / "a", list(range(1, 31)))
    write_cgroup_threads(pod_dir / "b", list(range(31, 41)))
    for tid in range(1, 41):
        write_proc_thread(proc, tid, cpu_ns=tid)
    pod = ThreadReader(cgroup, proc, top_k=3, per_pod_cap=25).read({"uid-1": POD}, 1.0).pods["uid-1"]
    assert pod.truncated and pod.total == 25 and [t.tid for t in pod.threads] == [25, 24, 23]


def test_a_thread_listed_in_two_cgroups_mid_move_is_read_once(tmp_path: Path) -> None:
    cgroup, proc, pod_dir = _roots(tmp_path)
    write_cgroup_threads(pod_dir / "a", [7])
    write_cgroup_threads(pod_dir / "b", [7])
    write_proc_thread(proc, 7)
    assert ThreadReader(cgroup, proc).read({"uid-1": POD}, 1.0).pods["uid-1"].total == 1


def test_parse_stat_reads_state_and_the_last_cpu_of_a_real_line() -> None:
    line = (b"17433 (cat) R 17429 17429 4494 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 26088 3133440 392 "
            b"18446744073709551615 94548868833280 94548868853161 140727233159216 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 "
            b"94548868869168 94548868870784 94549460840448 140727233161936 140727233161956 140727233161956 "
            b"140727233163243 0\n")
    assert parse_stat(line) == ("cat", "R", 1)


@pytest.fixture
def spinning_threads() -> Iterator[list[int]]:
    stop = threading.Event()
    started = threading.Barrier(3)

    def spin() -> None:
        started.wait()
        while not stop.is_set():
            sum(range(1000))

    threads = [threading.Thread(target=spin, name=f"spin{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    started.wait()
    try:
        yield [t.native_id for t in threads if t.native_id is not None]
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_this_processs_own_threads_are_read_from_the_real_proc(tmp_path: Path, spinning_threads: list[int]) -> None:
    cgroup = tmp_path / "cgroup"
    tids = [threading.get_native_id(), *spinning_threads]
    write_cgroup_threads(cgroup / POD.path / "cri-containerd-self.scope", tids)
    pod = ThreadReader(cgroup, "/proc").read({"uid-self": POD}, 1.0).pods["uid-self"]
    assert pod.total == 3 and {t.tid for t in pod.threads} == set(tids)
    own = next(t for t in pod.threads if t.tid == threading.get_native_id())
    assert own.state == "R", "the reading thread is running while it reads its own stat"
    assert own.cpu_ns > 0 and own.timeslices > 0 and own.container == "cri-containerd-self.scope"
    assert 0 <= own.last_cpu < (os.cpu_count() or 1024)
    with open(f"/proc/{os.getpid()}/comm") as comm:
        assert own.comm == comm.read().strip(), "the main thread's comm is the process name"
