"""The rightsizing policy: every knob the method in docs/rightsizing.md names, with its default.

Why the defaults: p95 + 15 % is the common "request covers all but the bursts" choice (KRR's
CPU default is p95 with no margin, VPA's target is p90 + 15 %); 10m matches the smallest request
Kubernetes treats as meaningful for scheduling; ten samples is the least that makes a p95 differ
from the maximum of a short series less than by chance (below it we refuse). Startup: five
minutes covers JIT warm-up, cache fills and readiness bursts of typical services.

Invariant (checked by ``Policy.__post_init__``): every field is in range, so the engine never
divides by zero or sizes from an empty series. Errors: ``ValueError`` with the field's name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    window_s: float = 7 * 86400.0
    """Only samples newer than (latest sample - window) count."""
    percentile: float = 95.0
    """Nearest-rank percentile of the pod's CPU usage samples that the request covers."""
    margin_pct: float = 15.0
    """Head-room added on top of the percentile."""
    floor_m: int = 10
    """No recommendation below this (millicores)."""
    step_m: int = 5
    """Recommendations are rounded up to a multiple of this (millicores)."""
    min_samples: int = 10
    """Fewer usable samples than this -> refused, with the count."""
    startup_s: float = 300.0
    """Samples within this long after a pod (or container) start are dropped."""
    throttle_pct: float = 5.0
    """Throttled periods above this share (of CFS periods) under a limit -> limit recommendation."""
    saturated_cores: float = 0.9
    """A thread whose rate at the policy percentile is at least this many cores is pinned."""
    min_thread_intervals: int = 3
    """A thread needs this many rate intervals (between snapshots) to be judged."""
    threads_per_core: int = 1
    """SMT width: an exclusive core costs this many CPUs of request (temper.profiles.entitle)."""
    max_target_utilization_pct: float = 100.0
    """An HPA-aware recommendation whose preserved target would exceed this is refused."""

    def __post_init__(self) -> None:
        checks = {
            "window_s": self.window_s > 0, "percentile": 0 < self.percentile <= 100,
            "margin_pct": 0 <= self.margin_pct <= 1000, "floor_m": self.floor_m >= 0, "step_m": self.step_m >= 1,
            "min_samples": self.min_samples >= 1, "startup_s": self.startup_s >= 0,
            "throttle_pct": 0 <= self.throttle_pct <= 100, "saturated_cores": 0 < self.saturated_cores <= 1,
            "min_thread_intervals": self.min_thread_intervals >= 1, "threads_per_core": self.threads_per_core >= 1,
            "max_target_utilization_pct": self.max_target_utilization_pct > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"policy: out of range: {', '.join(bad)}")
