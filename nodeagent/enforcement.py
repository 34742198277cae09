"""The seam between the agent's control loop and whatever enforces the plan in the kernel.

The loop (``nodeagent.agent``) only ever calls an ``Enforcer``: ``probe`` once at start,
``apply`` after every re-plan, ``stand_down`` for safe mode and shutdown, ``status`` for
health, metrics and the enforcement annotation. ``ObserveOnly`` is the do-nothing enforcer
used when observe-only is configured or the kernel check fails; ``nodeagent.bpf_enforcer``
implements it with Temper's sched_ext scheduler.

Contract for implementations:
- ``apply`` is idempotent and may be called with the same plan repeatedly; it attaches the
  scheduler if it is not attached, then makes the kernel's view equal to the plan. A
  failure raises ``EnforcementError`` and leaves the previously applied state in force (the
  kernel keeps enforcing the last good plan, or the node stays on the fair class).
- ``stand_down`` detaches and is safe to call when nothing is attached.
- Nothing here may leave the node without a scheduler: sched_ext guarantees the fair class
  whenever the BPF scheduler is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from temper.bandwidth import Bandwidth
from temper.bpfmaps import ThrottleStats
from temper.plan import Plan
from temper.tiers import Tier
from temper.waits import WaitHistogram


class EnforcementError(Exception):
    """The kernel refused a step (attach, map update); ``detail`` carries bpftool's output."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Probe:
    """Whether this node can enforce, and if not, why (shown in the enforcement annotation)."""

    supported: bool
    reason: str = ""
    kernel: str = ""


@dataclass(frozen=True)
class EnforcerStatus:
    attached: bool
    scheduler: str = ""
    """``/sys/kernel/sched_ext/root/ops`` while attached."""
    last_exit: str = ""
    """The scheduler's last exit reason as the kernel reported it ("" if none)."""
    attach_count: int = 0
    counters: Mapping[Tier, Mapping[str, int]] = field(default_factory=dict)
    """Per tier, counter name -> value (from the scheduler's stats map)."""
    throttling: Mapping[int, ThrottleStats] = field(default_factory=dict)
    """Per CPU-limited cgroup id, its throttle counters (from the scheduler's bandwidth stats map)."""
    waits: Mapping[Tier, WaitHistogram] = field(default_factory=dict)
    """Per tier, runqueue waits since attach (the scheduler's temper_wait map, CPUs summed)."""
    pod_waits: Mapping[int, WaitHistogram] = field(default_factory=dict)
    """Per pod cgroup id, runqueue waits since attach (temper_pod_wait; LRU, departed pods age out)."""


class Enforcer(Protocol):
    async def probe(self) -> Probe: ...

    async def apply(self, plan: Plan, cgroup_ids: Mapping[str, int], *,
                    bandwidth: Mapping[int, Bandwidth] | None = None) -> None:
        """Enforce ``plan``; ``cgroup_ids`` maps pod uid -> its cgroup id (inode).
        ``bandwidth`` maps cgroup id -> its CPU limit: None leaves the limits as they are,
        ``{}`` removes them all."""

    async def stand_down(self, reason: str) -> None: ...

    async def status(self) -> EnforcerStatus: ...


class ObserveOnly:
    """Enforces nothing; the node stays on the stock scheduler."""

    def __init__(self, reason: str = "observe-only configured", kernel: str = "") -> None:
        self.reason = reason
        self.kernel = kernel
        """The kernel release the probe read: reported even when not enforcing."""

    async def probe(self) -> Probe:
        return Probe(False, self.reason, self.kernel)

    async def apply(self, plan: Plan, cgroup_ids: Mapping[str, int], *,
                    bandwidth: Mapping[int, Bandwidth] | None = None) -> None:
        return None

    async def stand_down(self, reason: str) -> None:
        return None

    async def status(self) -> EnforcerStatus:
        return EnforcerStatus(attached=False)
