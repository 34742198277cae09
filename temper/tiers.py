"""The five QoS tiers, their PriorityClasses, and the mapping from a pod to its tier.

Why this module exists: every component (node agent, webhook, extender, chart) must agree on a
pod's tier, so the rule is written exactly once, here, as a pure function.

The rule (first match wins):
1. ``spec.priorityClassName`` is ``infera-<tier>`` -> that tier.
2. ``spec.priority`` is set -> the first threshold it reaches in ``PRIORITY_THRESHOLDS``
   (highest first). Defaults:

   ==========================  ==========  ==============================================
   spec.priority               tier        why
   ==========================  ==========  ==============================================
   > 1,000,000,000             high        system-node-critical / system-cluster-critical
                                           (user classes cannot exceed 1e9): never below
                                           normal, but never fenced — they are daemons.
   >= 1,000,000                critical    value of ``infera-critical``
   >= 100,000                  high        value of ``infera-high``
   >= 0                        normal      the default priority 0 lands here: "behave as
                                           before" until a PriorityClass is assigned
   >= -10,000                  low         value of ``infera-low``
   below                       background  value of ``infera-background``
   ==========================  ==========  ==============================================
3. Otherwise normal.

Invariants (property-tested): the function is total over any JSON-ish mapping; a pod of a
system priority class is never below normal; an ``infera-*`` class name always wins.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Tier(enum.IntEnum):
    """QoS tiers, most protected first. The integer value is the BPF map encoding."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3
    BACKGROUND = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def priority_class_name(self) -> str:
        return f"{PRIORITY_CLASS_PREFIX}{self.label}"

    @property
    def is_protected(self) -> bool:
        """Protected tiers preempt batch on wake-up; batch tiers soak up idle cycles."""
        return self <= Tier.NORMAL

    @classmethod
    def from_label(cls, label: str) -> Tier:
        try:
            return cls[label.upper()]
        except KeyError:
            valid = ", ".join(t.label for t in cls)
            raise ValueError(f"unknown tier {label!r} (valid: {valid})") from None


PRIORITY_CLASS_PREFIX = "infera-"
SYSTEM_PRIORITY_FLOOR = 1_000_000_000
"""User-defined PriorityClasses may not exceed this value; only system classes do."""


@dataclass(frozen=True)
class PriorityClassSpec:
    """One of Temper's PriorityClass objects, rendered by the Helm chart."""

    tier: Tier
    value: int
    preemption_policy: str
    description: str

    @property
    def name(self) -> str:
        return self.tier.priority_class_name


PRIORITY_CLASSES: tuple[PriorityClassSpec, ...] = (
    PriorityClassSpec(
        Tier.CRITICAL, 1_000_000, "PreemptLowerPriority",
        "Temper Critical: latency-critical services. Fenced CPUs sized from CPU requests; "
        "preempts every other tier on wake-up.",
    ),
    PriorityClassSpec(
        Tier.HIGH, 100_000, "PreemptLowerPriority",
        "Temper High: important interactive services. Shares the unfenced CPUs with Normal "
        "at a higher weight; preempts Low and Background on wake-up.",
    ),
    PriorityClassSpec(
        Tier.NORMAL, 0, "PreemptLowerPriority",
        "Temper Normal: the default tier. Shares the unfenced CPUs; preempts Low and "
        "Background on wake-up.",
    ),
    PriorityClassSpec(
        Tier.LOW, -10_000, "Never",
        "Temper Low: batch work. Runs on idle CPUs only and is preempted by any protected "
        "wake-up. Never preempts other pods at scheduling time.",
    ),
    PriorityClassSpec(
        Tier.BACKGROUND, -100_000, "Never",
        "Temper Background: filler work. Like Low, and yields to Low as well.",
    ),
)

PRIORITY_THRESHOLDS: tuple[tuple[int, Tier], ...] = (
    (SYSTEM_PRIORITY_FLOOR + 1, Tier.HIGH),
    (1_000_000, Tier.CRITICAL),
    (100_000, Tier.HIGH),
    (0, Tier.NORMAL),
    (-10_000, Tier.LOW),
)
"""(minimum priority, tier), highest first; below the last entry is Background."""

DEFAULT_TIER = Tier.NORMAL


def tier_from_priority(priority: int, thresholds: tuple[tuple[int, Tier], ...] = PRIORITY_THRESHOLDS) -> Tier:
    """Tier for a numeric ``spec.priority``."""
    for minimum, tier in thresholds:
        if priority >= minimum:
            return tier
    return Tier.BACKGROUND


def tier_from_class_name(name: object) -> Tier | None:
    """``infera-<tier>`` -> tier; anything else -> None."""
    if not isinstance(name, str) or not name.startswith(PRIORITY_CLASS_PREFIX):
        return None
    try:
        return Tier.from_label(name[len(PRIORITY_CLASS_PREFIX):])
    except ValueError:
        return None


def tier_of_pod(pod: Mapping[str, Any], thresholds: tuple[tuple[int, Tier], ...] = PRIORITY_THRESHOLDS) -> Tier:
    """The tier of a pod object as the API returns it (total: never raises)."""
    spec = pod.get("spec") if isinstance(pod, Mapping) else None
    if not isinstance(spec, Mapping):
        return DEFAULT_TIER
    by_name = tier_from_class_name(spec.get("priorityClassName"))
    if by_name is not None:
        return by_name
    priority = spec.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        return tier_from_priority(priority, thresholds)
    return DEFAULT_TIER
