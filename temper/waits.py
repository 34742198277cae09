"""Runqueue-wait histograms: the scheduler's log2 buckets as values the agent can add, cut and read.

Why it exists: the scheduler counts, per tier and per pod and per CPU, how long runnable tasks
waited for a CPU (``bpf/telemetry.bpf.h``); the agent must sum the CPUs, serve Prometheus
histograms with fixed bucket bounds, give the console a p99 and keep everything exact. All of
that is arithmetic on one shape, kept here with no I/O.

Buckets (the wire format of ``struct temper_wait_hist``): bucket ``b`` holds waits shorter than
``1024 ns x 2^b`` (and at least ``1024 ns x 2^(b-1)`` for ``b > 0``); the last bucket also holds
everything longer. So ``upper_bound_ns(b)`` is exact for every bucket but the last, whose bound
is +Inf.

Invariants (property-tested):
- ``count == sum(buckets)`` for every histogram built here (``merge`` keeps it);
- cumulative counts are non-decreasing and end at ``count`` (``cumulative``);
- ``quantile_ns(q)`` is the upper bound of the first bucket whose cumulative count reaches
  ``q x count`` - an over-estimate by at most 2x, never an under-estimate (None when empty;
  +inf when it falls in the open last bucket);
- ``coarse(bounds)`` folds buckets into fewer, keeping every count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WAIT_BUCKETS = 24
"""Buckets per histogram (bpf/temper.h TEMPER_WAIT_BUCKETS)."""
BUCKET_UNIT_NS = 1024


def upper_bound_ns(bucket: int) -> float:
    """The exclusive upper bound of ``bucket`` in ns (+inf for the last)."""
    if not 0 <= bucket < WAIT_BUCKETS:
        raise ValueError(f"bucket {bucket} outside 0..{WAIT_BUCKETS - 1}")
    return math.inf if bucket == WAIT_BUCKETS - 1 else float(BUCKET_UNIT_NS << bucket)


@dataclass(frozen=True)
class WaitHistogram:
    count: int = 0
    sum_ns: int = 0
    buckets: tuple[int, ...] = (0,) * WAIT_BUCKETS

    def __post_init__(self) -> None:
        if len(self.buckets) != WAIT_BUCKETS:
            raise ValueError(f"{len(self.buckets)} buckets, expected {WAIT_BUCKETS}")
        if min(self.buckets, default=0) < 0 or self.count < 0 or self.sum_ns < 0:
            raise ValueError("negative wait counts")

    @classmethod
    def of_waits(cls, waits_ns: Iterable[int]) -> WaitHistogram:
        """The histogram the scheduler would build from these waits (tests, references)."""
        buckets = [0] * WAIT_BUCKETS
        count = total = 0
        for wait in waits_ns:
            buckets[min((wait // BUCKET_UNIT_NS).bit_length(), WAIT_BUCKETS - 1)] += 1
            count += 1
            total += wait
        return cls(count, total, tuple(buckets))

    def cumulative(self) -> list[int]:
        out, running = [], 0
        for value in self.buckets:
            running += value
            out.append(running)
        return out

    def quantile_ns(self, q: float) -> float | None:
        if not 0.0 < q <= 1.0:
            raise ValueError(f"quantile {q} outside (0, 1]")
        total = sum(self.buckets)
        if total == 0:
            return None
        need = q * total
        for bucket, seen in enumerate(self.cumulative()):
            if seen >= need:
                return upper_bound_ns(bucket)
        return math.inf  # unreachable: the last cumulative count is the total

    def mean_ns(self) -> float | None:
        return self.sum_ns / self.count if self.count else None

    def coarse(self, bounds: Sequence[int]) -> list[tuple[float, int]]:
        """Cumulative counts at the given bucket indexes (ascending), then +Inf: Prometheus
        buckets with fewer series. Each pair is (upper bound ns, cumulative count)."""
        if list(bounds) != sorted(set(bounds)) or any(not 0 <= b < WAIT_BUCKETS - 1 for b in bounds):
            raise ValueError(f"coarse bounds must be ascending bucket indexes below {WAIT_BUCKETS - 1}")
        cumulative = self.cumulative()
        return [(upper_bound_ns(b), cumulative[b]) for b in bounds] + [(math.inf, cumulative[-1])]


def merge(histograms: Iterable[WaitHistogram]) -> WaitHistogram:
    """The sum of ``histograms`` (e.g. one per CPU)."""
    count = total = 0
    buckets = [0] * WAIT_BUCKETS
    for h in histograms:
        count += h.count
        total += h.sum_ns
        for i, value in enumerate(h.buckets):
            buckets[i] += value
    return WaitHistogram(count, total, tuple(buckets))


def summary(h: WaitHistogram) -> dict[str, float | int | None]:
    """The ``/observe`` form: count, total seconds, p50/p99 upper bounds in µs (None: no wait;
    inf is reported as None with ``overflow`` true)."""
    def micro(q: float) -> float | None:
        value = h.quantile_ns(q)
        return None if value is None or math.isinf(value) else value / 1000
    return {"count": h.count, "sum_seconds": h.sum_ns / 1e9, "p50_us": micro(0.5), "p99_us": micro(0.99),
            "overflow": h.buckets[-1] > 0}
