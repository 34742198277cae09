"""Read every thread of every pod cgroup from procfs: the kernel-independent thread telemetry.

Why it exists: ``/observe`` and ``/metrics`` show which threads of a pod use its CPU
(``temper.threadsnap``, issue 12). Every kernel has what this needs — cgroup v2's
``cgroup.threads`` and procfs — so it works with or without the BPF scheduler; the BPF side
(task storage: preemptions, migrations, fenced time) will add fields later.

Design:
- ``ThreadReader.read(pods, now)`` walks each pod cgroup's subtree (the pod cgroup and its
  container cgroups, at most ``MAX_DEPTH`` levels below it), reads ``cgroup.threads`` of each
  and, for each tid, ``/proc/<tid>/stat`` (comm, state, field 39: last CPU) and
  ``/proc/<tid>/schedstat`` (run ns, runqueue-wait ns, timeslices). A thread's container is
  the name of the pod cgroup's child it sits under (None: the pod cgroup itself). The agent
  calls it once per scan; HTTP handlers only read the resulting ``ThreadSnapshot``.
- Bounded work: at most ``per_pod_cap`` threads are read per pod (the pod is then marked
  ``truncated``); each file read is one ``os.read`` of at most ``_MAX_FILE_BYTES``.
- Both roots are injectable, so tests point ``proc_root`` and ``cgroup_root`` at fake trees.

Failure model (nothing here raises for one pod's or thread's trouble):
- a thread that exits between ``cgroup.threads`` and its procfs read (ENOENT, ESRCH), or a
  cgroup removed while walked, is skipped silently and counted in ``vanished``;
- anything else (permission, a malformed file, procfs not mounted at ``proc_root``) skips
  that thread or pod and records one message per pod in ``errors`` (the first one seen);
  the pod keeps the threads that could be read;
- ``cgroup.threads`` prints tids as the *reader's* PID namespace sees them: an agent outside
  the host PID namespace (the chart's ``hostPID: false``) sees ``0`` for other pods' threads,
  or nothing at all on kernels that skip PID 0 (the 6.18 fix "cgroup: Skip showing PID 0 in
  cgroup.procs and cgroup.threads", also in stable). So the reader checks its namespace
  itself: when ``<proc_root>/self/ns/pid`` exists and is not the initial namespace
  (``PROC_PID_INIT_INO``), every pod gets an error naming the cause, so an empty thread list
  is never mistaken for an idle pod. A ``0`` line is otherwise a thread that lost its PID
  while dying (the race that fix closes): counted as vanished.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nodeagent.cgroups import PodCgroup
from temper.threadsnap import DEFAULT_TOP_K, PodThreads, ThreadSample, ThreadSnapshot, pod_threads

PER_POD_CAP = 4096
"""Threads read per pod and scan: two procfs files each, so at most ~8k small reads per pod."""
MAX_DEPTH = 3
"""Cgroup levels walked below a pod cgroup (kubelet uses one: the containers)."""
_MAX_FILE_BYTES = 4096
"""``stat`` is ~300 bytes, ``schedstat`` ~30 (``cgroup.threads`` is read whole: ``_read_all``)."""
_GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV)
"""A thread or cgroup that went away mid-read: ENOENT (tid reused or gone), ESRCH (exited
while its files were open), ENODEV (a removed cgroup's open file)."""
PROC_PID_INIT_INO = 0xEFFFFFFC
"""Inode of the initial PID namespace's ``ns/pid`` file (include/linux/proc_ns.h, since 3.8)."""
NOT_HOST_PID_NAMESPACE = ("the agent is not in the host PID namespace, so cgroup.threads hides other pods' "
                          "threads (per-thread telemetry needs hostPID: true)")
_STAT_PROCESSOR = 36
"""Index of field 39 (processor) in the fields after ``comm``'s closing ``)`` (field 3 is 0)."""


class ThreadReadError(ValueError):
    """A procfs file that is present but does not parse."""


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, _MAX_FILE_BYTES)
    finally:
        os.close(fd)


def parse_stat(data: bytes) -> tuple[str, str, int]:
    """``/proc/<tid>/stat`` -> (comm, state, last CPU). comm may hold spaces and parentheses,
    so it is everything between the first ``(`` and the last ``)``."""
    text = data.decode("utf-8", "replace")
    start, end = text.find("("), text.rfind(")")
    fields = text[end + 1:].split()
    if start < 0 or end < start or len(fields) <= _STAT_PROCESSOR or not fields[_STAT_PROCESSOR].isdigit():
        raise ThreadReadError(f"malformed stat: {text[:80]!r}")
    return text[start + 1:end], fields[0], int(fields[_STAT_PROCESSOR])


def parse_schedstat(data: bytes) -> tuple[int, int, int]:
    """``/proc/<tid>/schedstat`` -> (run ns, runqueue-wait ns, timeslices)."""
    fields = data.split()
    if len(fields) < 3 or not all(f.isdigit() for f in fields[:3]):
        raise ThreadReadError(f"malformed schedstat: {data[:80]!r}")
    return int(fields[0]), int(fields[1]), int(fields[2])


def _tids(data: bytes) -> Iterator[int]:
    for line in data.split():
        if line.isdigit():
            yield int(line)


@dataclass
class _PodRead:
    samples: list[ThreadSample] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None
    vanished: int = 0

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def os_error(self, exc: OSError, what: str) -> None:
        """A thread or cgroup that went away mid-read is churn (counted); anything else an error."""
        if exc.errno in _GONE:
            self.vanished += 1
        else:
            self.fail(f"cannot {what}: {exc.strerror or exc}")


class ThreadReader:
    def __init__(self, cgroup_root: str | Path, proc_root: str | Path = "/proc", top_k: int = DEFAULT_TOP_K,
                 per_pod_cap: int = PER_POD_CAP) -> None:
        self.cgroup_root = os.fspath(cgroup_root)
        self.proc_root = os.fspath(proc_root)
        self.top_k = top_k
        self.per_pod_cap = per_pod_cap

    def _cgroups(self, pod_dir: str, read: _PodRead) -> Iterator[tuple[str, str | None]]:
        """(directory, container name) of the pod cgroup and its descendants, pod first."""
        pending: list[tuple[str, str | None, int]] = [(pod_dir, None, 0)]
        while pending:
            directory, container, depth = pending.pop(0)
            yield directory, container
            if depth >= MAX_DEPTH:
                continue
            try:
                with os.scandir(directory) as entries:
                    children = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
            except OSError as exc:
                read.os_error(exc, f"list {directory}")
                continue
            pending += [(f"{directory}/{name}", container or name, depth + 1) for name in children]

    def _thread(self, tid: int, container: str | None, read: _PodRead) -> None:
        base = f"{self.proc_root}/{tid}"
        try:
            comm, state, last_cpu = parse_stat(_read(f"{base}/stat"))
            cpu_ns, wait_ns, timeslices = parse_schedstat(_read(f"{base}/schedstat"))
        except OSError as exc:
            read.os_error(exc, f"read {base}")
            return
        except ThreadReadError as exc:
            read.fail(f"{base}: {exc}")
            return
        read.samples.append(ThreadSample(tid=tid, comm=comm, container=container, state=state, cpu_ns=cpu_ns,
                                         wait_ns=wait_ns, timeslices=timeslices, last_cpu=last_cpu))

    def _in_child_namespace(self) -> bool:
        try:
            return os.stat(f"{self.proc_root}/self/ns/pid").st_ino != PROC_PID_INIT_INO
        except OSError:  # no ns files: a kernel without namespaces (or a test tree)
            return False

    def read_pod(self, pod: PodCgroup) -> tuple[PodThreads | None, str | None, int]:
        """(the pod's threads or None when its cgroup is gone, its error, threads vanished)."""
        read = _PodRead()
        pod_dir = f"{self.cgroup_root}/{pod.path}"
        if not os.path.isdir(pod_dir):
            return None, None, 1
        seen: set[int] = set()  # a thread moved between two of the pod's cgroups mid-walk is read once
        for directory, container in self._cgroups(pod_dir, read):
            try:
                listed = _read_all(f"{directory}/cgroup.threads")
            except OSError as exc:
                read.os_error(exc, f"read {directory}/cgroup.threads")
                continue
            for tid in _tids(listed):
                if tid == 0:  # lost its PID while dying (older kernels print it)
                    read.vanished += 1
                    continue
                if tid in seen:
                    continue
                if len(seen) >= self.per_pod_cap:
                    read.truncated = True
                    break
                seen.add(tid)
                self._thread(tid, container, read)
            if read.truncated:
                break
        return pod_threads(read.samples, self.top_k, read.truncated), read.error, read.vanished

    def read(self, pods: Mapping[str, PodCgroup], now: float) -> ThreadSnapshot:
        """One snapshot of every pod in ``pods`` (uid -> cgroup), taken at unix time ``now``."""
        if not os.path.isdir(self.proc_root):
            message = f"procfs not found at {self.proc_root}"
            return ThreadSnapshot(taken_at=now, top_k=self.top_k, errors=dict.fromkeys(pods, message))
        result: dict[str, PodThreads] = {}
        errors: dict[str, str] = dict.fromkeys(pods, NOT_HOST_PID_NAMESPACE) if self._in_child_namespace() else {}
        vanished = 0
        for uid, pod in pods.items():
            threads, error, gone = self.read_pod(pod)
            vanished += gone
            if threads is not None:
                result[uid] = threads
            if error is not None:
                errors.setdefault(uid, error)
        return ThreadSnapshot(taken_at=now, top_k=self.top_k, pods=result, errors=errors, vanished=vanished)


def _read_all(path: str) -> bytes:
    """A whole ``cgroup.threads`` (one tid per line; thousands of lines are normal)."""
    with open(path, "rb") as handle:
        return handle.read()
