"""What a recommendation is: its kind, what it applies to, the values, the evidence, a confidence.

Why typed and separate: the CLI prints it, the management plane will serve it as JSON, and both
must show the *same* evidence the engine used, so ``to_dict`` is the one wire form.

Kinds (``Kind``):
- ``request``: set the CPU request to ``values["request_m"]``;
- ``exclusive_core_profile``: a thread is pinned at a core; a Workload Profile with an
  ``exclusive`` group for it (``values["profile"]``, the YAML shape of docs/profiles.md) helps
  where a larger request cannot; ``values["request_m"]`` is the request the grant needs;
- ``limit``: throttled under a CPU limit; set the limit to ``values["limit_m"]``;
- ``hpa_aware``: a request change for a workload an HPA scales on CPU, with the target
  utilization that keeps the HPA's scaling point (``values["target_utilization_pct"]``);
- ``refused``: no recommendation; ``reason`` says why.

Confidence: ``score`` in [0, 1] is the product of ``factors`` (formula in docs/rightsizing.md);
``level`` is high (>= 0.7), medium (>= 0.4) or low.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.StrEnum):
    REQUEST = "request"
    EXCLUSIVE_CORE_PROFILE = "exclusive_core_profile"
    LIMIT = "limit"
    HPA_AWARE = "hpa_aware"
    REFUSED = "refused"


@dataclass(frozen=True)
class Scope:
    """What the recommendation applies to: a workload (all its pods) or one pod."""

    kind: str
    """``Deployment``, ``StatefulSet``, ... or ``Pod`` when no owner mapping is known."""
    namespace: str
    name: str
    pods: tuple[str, ...]
    """Names of the pods whose samples were used."""

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Evidence:
    window_s: float
    percentile: float
    samples: int
    """Usage samples used (after window and startup exclusion)."""
    excluded_startup: int
    """Samples dropped as startup."""
    used_percentile_m: float | None
    used_mean_m: float | None
    used_max_m: float | None
    throttle_pct: float | None
    """Throttled CFS periods / periods over the window, percent (None: no limit or no counters)."""
    runqueue_p99_ms: float | None
    """The scheduler's per-pod runqueue-wait p99 (its BPF histogram, since it attached: an upper
    bound within 2x) when the agent reports it, else the p99 over thread intervals of mean
    runqueue wait per run (None: neither)."""
    pressure_p99_pct: float | None
    granularity: str
    """Pod (``used_m`` is per pod) or per container, and how."""
    mapping: str
    """How the pod was mapped to its workload, or why it was not."""
    hpa: str
    startup: str
    threads: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Confidence:
    score: float
    factors: Mapping[str, float] = field(default_factory=dict)

    @property
    def level(self) -> str:
        if self.score >= 0.7:
            return "high"
        return "medium" if self.score >= 0.4 else "low"

    @classmethod
    def of(cls, factors: Mapping[str, float]) -> Confidence:
        return cls(round(math.prod(factors.values()), 3), {k: round(v, 3) for k, v in factors.items()})


NO_CONFIDENCE = Confidence(0.0, {"refused": 0.0})


@dataclass(frozen=True)
class Recommendation:
    kind: Kind
    scope: Scope
    current: Mapping[str, Any]
    values: Mapping[str, Any]
    reason: str
    evidence: Evidence
    confidence: Confidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "scope": {"kind": self.scope.kind, "namespace": self.scope.namespace,
                                               "name": self.scope.name, "pods": list(self.scope.pods)},
            "current": dict(self.current), "values": dict(self.values), "reason": self.reason,
            "evidence": {**{k: v for k, v in self.evidence.__dict__.items() if k != "notes"},
                         "notes": list(self.evidence.notes)},
            "confidence": {"score": self.confidence.score, "level": self.confidence.level,
                           "factors": dict(self.confidence.factors)},
        }
