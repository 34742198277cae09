"""Per-thread rates from successive ``threads`` snapshots, and the threads pinned at a core.

Why it exists: a pod's CPU average hides a single thread running flat out. A larger request
cannot help that thread (one thread never uses more than one core; a larger share only helps
it get the core sooner), an exclusive core can (docs/profiles.md). This module finds them.

Rates: for two successive snapshots of a pod at t0 < t1 and a thread present in both with the
same ``(tid, comm)`` (a reused tid under another name is a different thread), the interval's
rate is ``(cpu_ns1 - cpu_ns0) / ((t1 - t0) * 1e9)`` cores, and its runqueue wait per run is
``(wait_ns1 - wait_ns0) / (timeslices1 - timeslices0)`` (only when it ran). A negative delta
(the counter went back: the thread is a new one) drops the interval. A thread that left the
agent's top-K between snapshots simply has no interval there.

Pinned: at least ``min_thread_intervals`` intervals, and the thread's rate at the policy
percentile is >= ``saturated_cores``: at the demand level the request is sized for, this
thread needs a whole core.

Container shares: CPU of the shown threads per ``container``, against all CPU of the pod's
threads (shown + ``rest``), over the same intervals.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from temper.rightsize.observed import ThreadSnapshot
from temper.rightsize.stats import percentile


@dataclass(frozen=True)
class ThreadInterval:
    tid: int
    comm: str
    container: str | None
    end: float
    cores: float
    wait_per_run_ns: float | None


@dataclass(frozen=True)
class PinnedThread:
    tid: int
    comm: str
    container: str | None
    cores_at_percentile: float
    intervals: int
    mean_cores: float


@dataclass(frozen=True)
class ThreadView:
    intervals: tuple[ThreadInterval, ...]
    container_cpu_ns: dict[str, int]
    all_cpu_ns: int


def thread_view(snapshots: Sequence[ThreadSnapshot], keep: Callable[[float], bool]) -> ThreadView:
    """Pure: intervals between successive snapshots whose end time ``keep`` accepts."""
    intervals: list[ThreadInterval] = []
    by_container: dict[str, int] = {}
    total = 0
    for before, after in itertools.pairwise(snapshots):
        dt = after.t - before.t
        if dt <= 0 or not keep(after.t):
            continue
        earlier = {(row.tid, row.comm): row for row in before.threads}
        for row in after.threads:
            old = earlier.get((row.tid, row.comm))
            if old is None or row.cpu_ns < old.cpu_ns or row.wait_ns < old.wait_ns:
                continue
            runs = row.timeslices - old.timeslices
            cpu = row.cpu_ns - old.cpu_ns
            intervals.append(ThreadInterval(row.tid, row.comm, row.container, after.t, cpu / (dt * 1e9),
                                            (row.wait_ns - old.wait_ns) / runs if runs > 0 else None))
            total += cpu
            if row.container is not None:
                by_container[row.container] = by_container.get(row.container, 0) + cpu
        total += max(0, after.rest_cpu_ns - before.rest_cpu_ns)
    return ThreadView(tuple(intervals), by_container, total)


def pinned_threads(view: ThreadView, p: float, saturated_cores: float, min_intervals: int) -> list[PinnedThread]:
    """Pure: the threads pinned at a core (rule in the module docstring), hottest first."""
    rates: dict[tuple[int, str], list[ThreadInterval]] = {}
    for interval in view.intervals:
        rates.setdefault((interval.tid, interval.comm), []).append(interval)
    pinned = []
    for (tid, comm), runs in rates.items():
        cores = [r.cores for r in runs]
        if len(cores) < min_intervals:
            continue
        at_p = percentile(cores, p)
        if at_p >= saturated_cores:
            pinned.append(PinnedThread(tid, comm, runs[-1].container, at_p, len(cores), sum(cores) / len(cores)))
    return sorted(pinned, key=lambda t: (-t.cores_at_percentile, t.comm, t.tid))


def runqueue_p99_ms(view: ThreadView) -> float | None:
    waits = [i.wait_per_run_ns for i in view.intervals if i.wait_per_run_ns is not None]
    return round(percentile(waits, 99) / 1e6, 3) if waits else None
