"""Read what kubelet told the kernel about each pod: CPU limits and pinned CPUs.

Why it exists: under sched_ext the fair class's bandwidth control never sees a task, so
Temper's scheduler enforces CPU limits itself from a map the agent fills
(``temper.bandwidth``); and the plan must agree with kubelet's static CPU manager about
which CPUs a pod is pinned to (``temper.plan``, "Pinned CPUs"). Both facts live in cgroup v2
interface files kubelet writes: ``cpu.max`` / ``cpu.max.burst`` on the pod cgroup and on each
of its container cgroups, and ``cpuset.cpus.effective`` on the container cgroups.

Design:
- ``scan_containers(root, pods)`` lists the child directories of every pod cgroup: each is a
  container cgroup (``cri-containerd-<id>.scope``, ``crio-<id>.scope``, or a bare id under the
  cgroupfs driver; the sandbox's too). Its cgroup id is the directory's inode, as for pods
  (``nodeagent.cgroups``). The agent runs it at every rescan, with ``scan_pods``.
- ``FactsReader.read`` reads ``cpu.max`` (and, for limited cgroups, ``cpu.max.burst``) of
  every pod and container cgroup every scan, so a limit change (``kubectl`` resize) is seen
  at the next scan. Like ``UsageReader`` it keeps those files open and reads each with one
  ``os.pread`` from offset 0 (kernfs regenerates the content on every read from 0), and
  parses only bytes that changed. A file the kernel does not provide in a directory that
  exists (``cpu.max.burst`` before Linux 5.14, no cpu controller) is remembered as absent
  until the cgroup leaves the set (``retain``). ``cpuset.cpus.effective`` is read only when
  asked (``cpusets=True``: the agent asks at every rescan), with no descriptor kept.
- Results: ``limits`` (cgroup id -> ``Bandwidth``, limited cgroups only: ``max`` is absent),
  ``cpusets`` (pod uid -> ``temper.plan.pod_cpuset`` of its containers; pods with no
  constrained container are absent).

Failure model: nothing here raises for one cgroup's trouble. A file that does not parse is
never replaced by a guess: that cgroup's limit (or that pod's cpuset) is left out, counted
(``SKIP_LIMIT_MALFORMED`` / ``SKIP_CPUSET_MALFORMED``) and described in ``malformed`` (cgroup
id -> message) for the agent to log once. A removed cgroup's files fail with ``ENODEV`` (or
the directory is gone): counted as ``SKIP_VANISHED``, which makes the agent rescan.
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nodeagent.cgroups import FdKey, PodCgroup, pread_or_forget, skip_reason
from temper.bandwidth import Bandwidth, BandwidthError, parse_cpu_max
from temper.cpuset import parse_cpulist
from temper.plan import pod_cpuset

SKIP_LIMIT_MALFORMED = "cpu_max_malformed"
SKIP_CPUSET_MALFORMED = "cpuset_malformed"
FACT_SKIP_REASONS = (SKIP_LIMIT_MALFORMED, SKIP_CPUSET_MALFORMED)
"""Reasons only these reads produce (the others are ``nodeagent.cgroups.SKIP_REASONS``)."""

CPU_MAX = "cpu.max"
CPU_MAX_BURST = "cpu.max.burst"
CPUSET_EFFECTIVE = "cpuset.cpus.effective"
_MAX_FILE_BYTES = 65_536
"""``cpu.max`` is ~20 bytes; a cpulist of 8192 CPUs written one by one is about 40 KiB."""
_ABSENT = -1
"""Descriptor cache value of a file the kernel does not provide in an existing cgroup."""


@dataclass(frozen=True)
class ContainerCgroup:
    path: str
    """Relative to the cgroup v2 root, no leading ``/``."""
    cgroup_id: int


@dataclass
class ContainerScan:
    containers: dict[str, tuple[ContainerCgroup, ...]] = field(default_factory=dict)
    """Pod uid -> its container cgroups, sorted by path."""
    skipped: Counter[str] = field(default_factory=Counter)


def scan_containers(root: str | Path, pods: Mapping[str, PodCgroup]) -> ContainerScan:
    """The container cgroups (child directories) of every pod cgroup in ``pods``."""
    base = os.fspath(root)
    scan = ContainerScan()
    for uid, pod in pods.items():
        found: list[ContainerCgroup] = []
        try:
            with os.scandir(f"{base}/{pod.path}") as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        found.append(ContainerCgroup(f"{pod.path}/{entry.name}",
                                                     entry.stat(follow_symlinks=False).st_ino))
        except OSError as exc:  # the pod or a container went away while listed: rescan later
            scan.skipped[skip_reason(exc)] += 1
            continue
        scan.containers[uid] = tuple(sorted(found, key=lambda c: c.path))
    return scan


@dataclass
class CgroupFacts:
    limits: dict[int, Bandwidth] = field(default_factory=dict)
    """Cgroup id -> its CPU limit; unlimited cgroups are absent."""
    cpusets: dict[str, frozenset[int]] | None = None
    """Pod uid -> the union of its constrained containers' ``cpuset.cpus.effective``; None when
    cpusets were not read this time."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Limit reads that failed, by reason."""
    malformed: dict[int, str] = field(default_factory=dict)
    """Cgroup id -> why its limit was left out (path and parse error, never the content)."""
    cpuset_skipped: Counter[str] = field(default_factory=Counter)
    cpuset_malformed: dict[int, str] = field(default_factory=dict)
    """As ``skipped`` / ``malformed``, for the cpuset reads (only when they were read)."""


_Parsed = Bandwidth | None | BandwidthError


class FactsReader:
    """Reads ``cpu.max`` / ``cpu.max.burst`` every scan and ``cpuset.cpus.effective`` when
    asked (see the module docstring). Not thread-safe; ``close`` when done.

    Cost per scan: one ``pread`` of ``cpu.max`` per cgroup through a descriptor kept open,
    plus one of ``cpu.max.burst`` for limited cgroups only; unchanged bytes are not parsed
    again. ``cpuset.cpus.effective`` is opened, read and closed (the agent asks at rescans
    only: kubelet sets a container's cpuset when it creates the container), so no descriptor
    is held for it."""

    def __init__(self, root: str | Path) -> None:
        self._base = os.fspath(root)
        self._fds: dict[FdKey, int] = {}
        """(cgroup path, cgroup id, file name) -> open descriptor, or ``_ABSENT``."""
        self._parsed: dict[tuple[str, int], tuple[bytes, bytes | None, _Parsed]] = {}
        """(cgroup path, cgroup id) -> the last cpu.max and cpu.max.burst bytes and their meaning."""

    def __len__(self) -> int:
        return sum(1 for fd in self._fds.values() if fd != _ABSENT)

    def _gone_or_absent(self, path: str) -> None:
        """After ``FileNotFoundError`` on a file of ``path``: raise again if the cgroup is gone."""
        if not os.path.isdir(f"{self._base}/{path}"):
            raise FileNotFoundError(errno.ENOENT, "cgroup removed", f"{self._base}/{path}")

    def _pread(self, path: str, cgroup_id: int, name: str) -> bytes | None:
        """The file's bytes; None if the kernel does not provide it in this (existing) cgroup."""
        key = (path, cgroup_id, name)
        fd = self._fds.get(key)
        if fd == _ABSENT:
            return None
        if fd is None:
            try:
                fd = os.open(f"{self._base}/{path}/{name}", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                self._gone_or_absent(path)
                self._fds[key] = _ABSENT
                return None
            self._fds[key] = fd
        return pread_or_forget(self._fds, key, fd, _MAX_FILE_BYTES)

    def _limit(self, path: str, cgroup_id: int, facts: CgroupFacts) -> None:
        try:
            cpu_max = self._pread(path, cgroup_id, CPU_MAX)
            if cpu_max is None:
                return  # no cpu controller here: nothing limits this cgroup
            burst = None if cpu_max.startswith(b"max") else self._pread(path, cgroup_id, CPU_MAX_BURST)
        except OSError as exc:
            facts.skipped[skip_reason(exc)] += 1
            return
        key = (path, cgroup_id)
        last = self._parsed.get(key)
        if last is not None and last[0] == cpu_max and last[1] == burst:
            parsed = last[2]
        else:
            try:
                parsed = parse_cpu_max(cpu_max.decode("ascii", "replace"),
                                       None if burst is None else burst.decode("ascii", "replace"))
            except BandwidthError as exc:
                parsed = exc
            self._parsed[key] = (cpu_max, burst, parsed)
        if isinstance(parsed, BandwidthError):
            facts.skipped[SKIP_LIMIT_MALFORMED] += 1
            facts.malformed[cgroup_id] = f"{path}: {parsed}"[:300]
        elif parsed is not None:
            facts.limits[cgroup_id] = parsed

    def _cpusets(self, containers: Sequence[ContainerCgroup], facts: CgroupFacts) -> list[frozenset[int]] | None:
        """Each container's effective cpuset; None when one cannot be read (the pod then has
        no cpuset: a partial union could look like a pin)."""
        result: list[frozenset[int]] = []
        for container in containers:
            try:
                try:
                    with open(f"{self._base}/{container.path}/{CPUSET_EFFECTIVE}", "rb") as file:
                        text = file.read(_MAX_FILE_BYTES).decode("ascii", "replace")
                except FileNotFoundError:
                    self._gone_or_absent(container.path)
                    continue  # no cpuset controller: the container is not constrained
                result.append(parse_cpulist(text))
            except OSError as exc:
                facts.cpuset_skipped[skip_reason(exc)] += 1
                return None
            except ValueError as exc:
                facts.cpuset_skipped[SKIP_CPUSET_MALFORMED] += 1
                facts.cpuset_malformed[container.cgroup_id] = f"{container.path}/{CPUSET_EFFECTIVE}: {exc}"[:300]
                return None
        return result

    def read(self, pods: Mapping[str, PodCgroup], containers: Mapping[str, Sequence[ContainerCgroup]],
             online: frozenset[int], cpusets: bool = True) -> CgroupFacts:
        """The limits of every pod and container cgroup; with ``cpusets``, each pod's cpuset."""
        facts = CgroupFacts(cpusets={} if cpusets else None)
        for uid, pod in pods.items():
            self._limit(pod.path, pod.cgroup_id, facts)
            own = containers.get(uid, ())
            for container in own:
                self._limit(container.path, container.cgroup_id, facts)
            if facts.cpusets is not None:
                found = self._cpusets(own, facts)
                cpuset = pod_cpuset(found, online) if found else frozenset()
                if cpuset:
                    facts.cpusets[uid] = cpuset
        return facts

    def retain(self, pods: Mapping[str, PodCgroup], containers: Mapping[str, Sequence[ContainerCgroup]]) -> None:
        """Forget every cgroup not in the sets (gone, or recreated with a new id)."""
        live = {(pod.path, pod.cgroup_id) for pod in pods.values()}
        live.update((c.path, c.cgroup_id) for own in containers.values() for c in own)
        for key in [k for k in self._fds if (k[0], k[1]) not in live]:
            fd = self._fds.pop(key)
            if fd != _ABSENT:
                os.close(fd)
        for cgroup in [k for k in self._parsed if k not in live]:
            del self._parsed[cgroup]

    def close(self) -> None:
        self.retain({}, {})
