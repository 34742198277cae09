"""Wire formats of the annotations Temper reads and writes on Nodes (version 1).

Why one module: the node agent writes these and the scheduler extender reads them; both sides
encode and decode through the functions here, so the format cannot drift.

``infera.io/tier-load`` (written by the agent, read by the extender) — compact JSON::

    {"v":1,"ts":1764316800,"cpus":8,"fenced":"6-7","free_m":350,
     "tiers":{"critical":[1500,820,0.4],"high":[2000,1100,1.2],"normal":[...],
              "low":[...],"background":[...]}}

    v        schema version (this module reads 1)
    ts       UNIX seconds when the agent measured it (staleness check)
    cpus     online CPUs on the node
    fenced   fenced CPUs (kernel cpulist format)
    free_m   protected capacity still free: fenced millicores minus Critical requests
             (never negative; 0 when nothing is fenced)
    tiers    per tier [requested millicores, used millicores (cpu.stat usage_usec deltas
             over the last period), CPU pressure "some avg10" in percent]

``infera.io/enforcement`` (written by the agent) — compact JSON::

    {"v":1,"state":"enforcing","reason":"","kernel":"6.12.8","since":1764316800,
     "exit":"","scheduler":"temper"}

    state     enforcing | observe-only | safe-mode | unsupported
    reason    why the state is not ``enforcing`` (human readable, single line)
    exit      last scheduler exit reason reported by the kernel, if any

``infera.io/safe-mode-requested`` (written by operators) on the Node, or on the agent's
ConfigMap for the whole fleet: any value other than ``"false"`` requests safe mode.

Decoders are strict: any deviation raises ``AnnotationError`` with the reason; callers treat
that as "no data" (the extender scores neutral) rather than guessing.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from temper.cpuset import format_cpulist, parse_cpulist
from temper.tiers import Tier

DOMAIN = "infera.io"
TIER_LOAD_KEY = f"{DOMAIN}/tier-load"
ENFORCEMENT_KEY = f"{DOMAIN}/enforcement"
SAFE_MODE_KEY = f"{DOMAIN}/safe-mode-requested"
SCHEMA_VERSION = 1
MAX_ANNOTATION_BYTES = 4096
"""Both annotations stay far below the API's 256 KiB total; refuse anything larger."""


class AnnotationError(ValueError):
    """An annotation value that does not follow the documented format."""


class EnforcementState(enum.Enum):
    ENFORCING = "enforcing"
    OBSERVE_ONLY = "observe-only"
    SAFE_MODE = "safe-mode"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class TierLoad:
    request_milli: int
    used_milli: int
    pressure_pct: float


@dataclass(frozen=True)
class NodeLoad:
    timestamp: int
    cpus: int
    fenced: frozenset[int]
    free_protected_milli: int
    tiers: dict[Tier, TierLoad]

    def tier(self, tier: Tier) -> TierLoad:
        return self.tiers.get(tier, TierLoad(0, 0, 0.0))


@dataclass(frozen=True)
class EnforcementStatus:
    state: EnforcementState
    reason: str = ""
    kernel: str = ""
    since: int = 0
    exit: str = ""
    scheduler: str = "temper"


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def _loads(text: object) -> Mapping[str, object]:
    if not isinstance(text, str):
        raise AnnotationError("annotation value must be a string")
    if len(text.encode()) > MAX_ANNOTATION_BYTES:
        raise AnnotationError("annotation value is too large")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise AnnotationError("annotation value must be a JSON object")
    if value.get("v") != SCHEMA_VERSION:
        raise AnnotationError(f"unsupported schema version {value.get('v')!r}")
    return value


def _int(doc: Mapping[str, object], key: str, minimum: int = 0) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AnnotationError(f"field {key!r} must be an integer >= {minimum}")
    return value


def _str(doc: Mapping[str, object], key: str, default: str = "") -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise AnnotationError(f"field {key!r} must be a string")
    return value


def encode_node_load(load: NodeLoad) -> str:
    tiers = {
        tier.label: [load.tier(tier).request_milli, load.tier(tier).used_milli,
                     round(load.tier(tier).pressure_pct, 2)]
        for tier in Tier
    }
    return _dumps({
        "v": SCHEMA_VERSION, "ts": load.timestamp, "cpus": load.cpus,
        "fenced": format_cpulist(load.fenced), "free_m": load.free_protected_milli, "tiers": tiers,
    })


def decode_node_load(text: object) -> NodeLoad:
    doc = _loads(text)
    try:
        fenced = parse_cpulist(_str(doc, "fenced"))
    except ValueError as exc:
        raise AnnotationError(f"field 'fenced': {exc}") from None
    raw_tiers = doc.get("tiers")
    if not isinstance(raw_tiers, dict):
        raise AnnotationError("field 'tiers' must be an object")
    tiers: dict[Tier, TierLoad] = {}
    for label, entry in raw_tiers.items():
        try:
            tier = Tier.from_label(label)
        except ValueError as exc:
            raise AnnotationError(str(exc)) from None
        if (not isinstance(entry, list) or len(entry) != 3
                or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in entry[:2])
                or isinstance(entry[2], bool) or not isinstance(entry[2], (int, float))
                or not math.isfinite(entry[2]) or entry[2] < 0):
            raise AnnotationError(f"tier {label!r} must be [request_m, used_m, pressure_pct]")
        tiers[tier] = TierLoad(entry[0], entry[1], float(entry[2]))
    return NodeLoad(
        timestamp=_int(doc, "ts"), cpus=_int(doc, "cpus", 1), fenced=fenced,
        free_protected_milli=_int(doc, "free_m"), tiers=tiers,
    )


def encode_enforcement(status: EnforcementStatus) -> str:
    return _dumps({
        "v": SCHEMA_VERSION, "state": status.state.value, "reason": status.reason[:512],
        "kernel": status.kernel[:64], "since": status.since, "exit": status.exit[:512],
        "scheduler": status.scheduler,
    })


def decode_enforcement(text: object) -> EnforcementStatus:
    doc = _loads(text)
    try:
        state = EnforcementState(doc.get("state"))
    except ValueError:
        raise AnnotationError(f"unknown enforcement state {doc.get('state')!r}") from None
    return EnforcementStatus(
        state=state, reason=_str(doc, "reason"), kernel=_str(doc, "kernel"),
        since=_int(doc, "since"), exit=_str(doc, "exit"), scheduler=_str(doc, "scheduler", "temper"),
    )


def safe_mode_requested(annotations: Mapping[str, object] | None) -> bool:
    """True when ``infera.io/safe-mode-requested`` is present and not "false"."""
    if not annotations or SAFE_MODE_KEY not in annotations:
        return False
    value = annotations[SAFE_MODE_KEY]
    return not (isinstance(value, str) and value.strip().lower() == "false")


@dataclass(frozen=True)
class PublishPolicy:
    """When the agent re-publishes the load annotation (no API spam)."""

    min_change_milli: int = 100
    """Publish when any tier's request or usage moved by at least this much."""
    min_change_pressure_pct: float = 5.0
    max_age_s: int = 60
    """Publish at least this often even when nothing moved (readers treat older as stale)."""


def should_publish(previous: NodeLoad | None, current: NodeLoad, policy: PublishPolicy) -> bool:
    """Pure publish decision: something structural changed, a value moved, or max age."""
    if previous is None:
        return True
    if current.timestamp - previous.timestamp >= policy.max_age_s:
        return True
    if (previous.fenced != current.fenced or previous.cpus != current.cpus
            or abs(previous.free_protected_milli - current.free_protected_milli) >= policy.min_change_milli):
        return True
    for tier in Tier:
        old, new = previous.tier(tier), current.tier(tier)
        if (abs(old.request_milli - new.request_milli) >= policy.min_change_milli
                or abs(old.used_milli - new.used_milli) >= policy.min_change_milli
                or abs(old.pressure_pct - new.pressure_pct) >= policy.min_change_pressure_pct):
            return True
    return False
