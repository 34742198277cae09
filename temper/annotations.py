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

Decoders are strict and range-checked, because any agent may write its own node's
annotations (one compromised node must not be able to crash or skew a reader): every number
is an integer (never a bool) or, for pressure, a finite number, inside the bounds below;
strings are bounded; any deviation raises ``AnnotationError`` whose ``fault`` is one of the
closed set ``FAULTS`` (metric label values) and whose message names the field. Callers treat
that as "no data" (the extender scores neutral) rather than guessing.

    ts, since    0 .. MAX_TIMESTAMP        free_m, request_m, used_m   0 .. MAX_MILLI
    cpus         1 .. MAX_CPUS             fenced  cpulist of ids < MAX_CPUS, at most cpus ids
    pressure     0 .. 100 (finite)         reason, exit  <= 512 chars; kernel, scheduler <= 64
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from temper.cpuset import MAX_CPUS, format_cpulist, parse_cpulist
from temper.tiers import Tier

DOMAIN = "infera.io"
TIER_LOAD_KEY = f"{DOMAIN}/tier-load"
ENFORCEMENT_KEY = f"{DOMAIN}/enforcement"
SAFE_MODE_KEY = f"{DOMAIN}/safe-mode-requested"
SCHEMA_VERSION = 1
MAX_ANNOTATION_BYTES = 4096
"""Both annotations stay far below the API's 256 KiB total; refuse anything larger."""


MAX_MILLI = 10**9
"""A million CPUs in millicores: far above any node, far below float trouble."""
MAX_TIMESTAMP = 2**33
"""UNIX seconds in the year 2242; a larger ``ts`` is not a clock reading."""
MAX_PRESSURE_PCT = 100.0
MAX_REASON_CHARS = 512
MAX_NAME_CHARS = 64

FAULT_SYNTAX = "syntax"
"""Not a string, too large, not JSON, not an object."""
FAULT_VERSION = "version"
FAULT_TYPE = "type"
"""A field of the wrong JSON type (bools are not numbers), or an unknown key value."""
FAULT_RANGE = "range"
"""A number or string outside its documented bounds."""
FAULTS = (FAULT_SYNTAX, FAULT_VERSION, FAULT_TYPE, FAULT_RANGE)


class AnnotationError(ValueError):
    """An annotation value that does not follow the documented format; ``fault`` in ``FAULTS``."""

    def __init__(self, message: str, fault: str = FAULT_TYPE) -> None:
        super().__init__(message)
        self.fault = fault


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
        raise AnnotationError("annotation value must be a string", FAULT_SYNTAX)
    if len(text) > MAX_ANNOTATION_BYTES or len(text.encode()) > MAX_ANNOTATION_BYTES:
        raise AnnotationError("annotation value is too large", FAULT_SYNTAX)
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"not JSON: {exc.msg}", FAULT_SYNTAX) from None
    except ValueError as exc:  # NaN / Infinity literals, or an integer of > 4300 digits
        raise AnnotationError(f"not JSON: {exc}", FAULT_SYNTAX) from None
    if not isinstance(value, dict):
        raise AnnotationError("annotation value must be a JSON object", FAULT_SYNTAX)
    version = value.get("v")
    if type(version) is not int or version != SCHEMA_VERSION:  # true == 1.0 == 1 in Python
        raise AnnotationError(f"unsupported schema version {version!r}"[:80], FAULT_VERSION)
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _bounded_int(value: object, what: str, minimum: int, maximum: int) -> int:
    if type(value) is not int:  # excludes bool (a subclass of int)
        raise AnnotationError(f"{what} must be an integer", FAULT_TYPE)
    if not minimum <= value <= maximum:
        raise AnnotationError(f"{what} must be within {minimum}..{maximum}", FAULT_RANGE)
    return value


def _int(doc: Mapping[str, object], key: str, minimum: int = 0, maximum: int = MAX_MILLI) -> int:
    return _bounded_int(doc.get(key), f"field {key!r}", minimum, maximum)


def _pressure(value: object, what: str) -> float:
    if type(value) is not int and type(value) is not float:
        raise AnnotationError(f"{what} must be a number", FAULT_TYPE)
    if not (math.isfinite(value) and 0 <= value <= MAX_PRESSURE_PCT):
        raise AnnotationError(f"{what} must be a finite number within 0..100", FAULT_RANGE)
    return float(value)


def _str(doc: Mapping[str, object], key: str, default: str = "", maximum: int = MAX_REASON_CHARS) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise AnnotationError(f"field {key!r} must be a string", FAULT_TYPE)
    if len(value) > maximum:
        raise AnnotationError(f"field {key!r} is longer than {maximum} characters", FAULT_RANGE)
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
    cpus = _int(doc, "cpus", 1, MAX_CPUS)
    try:
        fenced = parse_cpulist(_str(doc, "fenced"))
    except ValueError as exc:
        raise AnnotationError(f"field 'fenced': {exc}"[:200], FAULT_RANGE) from None
    if len(fenced) > cpus:
        raise AnnotationError(f"field 'fenced' names {len(fenced)} CPUs on a node of {cpus}", FAULT_RANGE)
    raw_tiers = doc.get("tiers")
    if not isinstance(raw_tiers, dict):
        raise AnnotationError("field 'tiers' must be an object", FAULT_TYPE)
    tiers: dict[Tier, TierLoad] = {}
    for label, entry in raw_tiers.items():
        try:
            tier = Tier.from_label(label)
        except ValueError:
            raise AnnotationError(f"unknown tier {label!r}"[:80], FAULT_TYPE) from None
        if not isinstance(entry, list) or len(entry) != 3:
            raise AnnotationError(f"tier {tier.label!r} must be [request_m, used_m, pressure_pct]", FAULT_TYPE)
        what = f"tier {tier.label!r}"
        tiers[tier] = TierLoad(_bounded_int(entry[0], f"{what} request_m", 0, MAX_MILLI),
                               _bounded_int(entry[1], f"{what} used_m", 0, MAX_MILLI),
                               _pressure(entry[2], f"{what} pressure_pct"))
    return NodeLoad(
        timestamp=_int(doc, "ts", 0, MAX_TIMESTAMP), cpus=cpus, fenced=fenced,
        free_protected_milli=_int(doc, "free_m"), tiers=tiers,
    )


def encode_enforcement(status: EnforcementStatus) -> str:
    return _dumps({
        "v": SCHEMA_VERSION, "state": status.state.value, "reason": status.reason[:512],
        "kernel": status.kernel[:64], "since": status.since, "exit": status.exit[:512],
        "scheduler": status.scheduler[:MAX_NAME_CHARS],
    })


def decode_enforcement(text: object) -> EnforcementStatus:
    doc = _loads(text)
    try:
        state = EnforcementState(doc.get("state"))
    except (ValueError, TypeError):  # TypeError: an unhashable value (a list or object)
        raise AnnotationError(f"unknown enforcement state {doc.get('state')!r}"[:80], FAULT_TYPE) from None
    return EnforcementStatus(
        state=state, reason=_str(doc, "reason"), kernel=_str(doc, "kernel", maximum=MAX_NAME_CHARS),
        since=_int(doc, "since", 0, MAX_TIMESTAMP), exit=_str(doc, "exit"),
        scheduler=_str(doc, "scheduler", "temper", MAX_NAME_CHARS),
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
