"""CPU limits as the kernel states them: cgroup v2 ``cpu.max`` / ``cpu.max.burst``.

Why it exists: under sched_ext the fair class's bandwidth control never sees a task, so
Temper's scheduler enforces pod CPU limits itself from a map the agent fills. This module
is the pure half: it parses the two cgroup files into a ``Bandwidth`` (no I/O) and says
which values the scheduler accepts. ``temper.bpfmaps`` encodes them; the node agent reads
the files of every pod and container cgroup (``nodeagent.cgroups``).

Invariants:
- ``cpu.max`` is ``"$QUOTA $PERIOD"`` in microseconds, ``QUOTA`` may be ``max`` (no limit);
  ``cpu.max.burst`` is one integer in microseconds (absent on kernels without it: 0).
- A parsed ``Bandwidth`` is within the kernel's own bounds (period 1 ms..1 s, quota >= 1 ms,
  burst <= quota); anything else raises ``BandwidthError`` with the offending text, never
  a silent default. ``None`` means "no limit" and is not written to the map.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_PERIOD_US = 1_000
MAX_PERIOD_US = 1_000_000
MIN_QUOTA_US = 1_000
MAX_QUOTA_US = 2**44  # the kernel's max_cfs_runtime is about 2^44 us; larger is "max"


class BandwidthError(ValueError):
    """A ``cpu.max`` / ``cpu.max.burst`` text the kernel would never produce."""


@dataclass(frozen=True)
class Bandwidth:
    """A CPU limit: ``quota_us`` of CPU time per ``period_us``, plus up to ``burst_us``
    saved from earlier idle periods."""

    quota_us: int
    period_us: int
    burst_us: int = 0

    def __post_init__(self) -> None:
        if not MIN_PERIOD_US <= self.period_us <= MAX_PERIOD_US:
            raise BandwidthError(f"period {self.period_us} us is outside {MIN_PERIOD_US}..{MAX_PERIOD_US}")
        if not MIN_QUOTA_US <= self.quota_us <= MAX_QUOTA_US:
            raise BandwidthError(f"quota {self.quota_us} us is outside {MIN_QUOTA_US}..{MAX_QUOTA_US}")
        if not 0 <= self.burst_us <= self.quota_us:
            raise BandwidthError(f"burst {self.burst_us} us is outside 0..quota ({self.quota_us})")

    @property
    def cpus(self) -> float:
        """The limit in CPUs (``limits.cpu``): 50000/100000 -> 0.5."""
        return self.quota_us / self.period_us


def _integer(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise BandwidthError(f"{what} {text!r} is not a non-negative integer")
    return int(text)


def parse_cpu_max(cpu_max: str, cpu_max_burst: str | None = None) -> Bandwidth | None:
    """``cpu.max`` (and ``cpu.max.burst`` when the kernel has it) -> the limit, or None
    for ``max`` (unlimited)."""
    fields = cpu_max.split()
    if len(fields) != 2:
        raise BandwidthError(f"cpu.max {cpu_max.strip()!r} is not '$QUOTA $PERIOD'")
    period = _integer(fields[1], "cpu.max period")
    if fields[0] == "max":
        if not MIN_PERIOD_US <= period <= MAX_PERIOD_US:
            raise BandwidthError(f"period {period} us is outside {MIN_PERIOD_US}..{MAX_PERIOD_US}")
        return None
    quota = _integer(fields[0], "cpu.max quota")
    burst = 0
    if cpu_max_burst is not None:
        burst_fields = cpu_max_burst.split()
        if len(burst_fields) != 1:
            raise BandwidthError(f"cpu.max.burst {cpu_max_burst.strip()!r} is not one integer")
        burst = _integer(burst_fields[0], "cpu.max.burst")
    return Bandwidth(quota, period, burst)
