"""The overcommit decision: which CPU requests of a new pod to scale down, as a JSONPatch.

Why this module exists: the bin-packer counts CPU *requests*, which are padded because nobody
trusts CFS on a tight node. With Temper's enforcement underneath, Critical stays safe, so the
requests of the other tiers can be scaled down and more pods fit. This is the pure function
behind ``POST /mutate``; the aiohttp handler only decodes, calls ``admit`` and encodes.

Policy (first match wins; every "leave alone" is an allowed response without a patch):

1. Not a Pod CREATE (including the ``pods/resize`` subresource, any UPDATE) -> leave alone.
   Resize is the user's explicit decision; scaling it would fight them and could change the
   pod's QoS class, which a resize may not do.
2. The namespace is not known to carry the opt-in label -> leave alone. The webhook acts on
   whatever reaches it, so it does not trust its registration's ``namespaceSelector`` to have
   filtered the request: the caller passes the namespace's labels (``None``: unknown — the
   namespace cache has not synced, or has not seen the namespace yet) and they must match
   ``webhook.manifest.NAMESPACE_SELECTOR``. Unknown is *not* opted in (fail safe: the only
   cost is an unscaled pod). Reasons ``namespace_unknown`` / ``namespace_not_opted_in``.
3. Tier (``temper.tiers.tier_of_pod``, the node agent's rule) is Critical -> leave alone.
4. The pod already carries ``infera.io/original-cpu-requests`` -> leave alone (idempotent under
   ``reinvocationPolicy: IfNeeded``; a pod is scaled at most once).
5. Guaranteed QoS (requests = limits for CPU and memory) -> leave alone unless
   ``allowGuaranteed``: lowering a request makes the pod Burstable (other cgroup parent,
   other OOM score adjustment).
6. Pod-level resources (``spec.resources``) -> leave alone: the scheduler then sums those.
7. Scale ``resources.requests.cpu`` of every app container and native sidecar (an init
   container with ``restartPolicy: Always``) by the tier's factor::

       new = min(old, max(floor, ceil(old * factor)))

   so a request is never raised and never pushed below the floor (an already-small request
   stays as it is). Classic init containers are left alone: they run once before the app
   containers and their request only shapes the pod's request when it dominates, in which
   case keeping it is the conservative choice. Containers without a CPU request, limits and
   memory are never touched.
8. Record the originals (JSON ``{container name: quantity}``) and the factor in annotations;
   create the annotations map when it is missing. The factor is written as ``format_factor``
   text (``%g``, six significant digits) and the scaling uses the value *of that text*, so
   ``temper overcommit restore`` can recompute every scaled request from the annotations
   exactly (``webhook.restore``); ``parse_factor`` accepts only text this could have written.

An odd pod shape (containers not a list, unparsable quantity, duplicate names, ...) is allowed
without a patch, with a warning and the ``unhandled`` outcome: the webhook never blocks a pod
because of its own limitation. ``admit`` is total: it raises only ``BadReview`` (from
decoding), never for an object.

Invariants (property-tested): every patch applies cleanly to the pod it was computed for;
scaling never raises a request nor crosses below the floor; limits, memory and Critical pods
are never changed; a pod whose namespace is not known to be opted in is never changed;
applying ``admit`` to its own output yields no further patch; ``webhook.restore`` recomputes
every scaled request from the annotations written (restore plan = the originals, exactly).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from temper.annotations import DOMAIN
from temper.config import ConfigError, reject_unknown, take
from temper.pods import PodError, QosClass, qos_class
from temper.quantity import QuantityError, format_cpu_milli, parse_cpu_milli
from temper.tiers import Tier, tier_of_pod
from webhook.manifest import namespace_opted_in
from webhook.review import AdmissionRequest, AdmissionResult, PatchOp, escape_pointer

ORIGINALS_ANNOTATION = f"{DOMAIN}/original-cpu-requests"
FACTOR_ANNOTATION = f"{DOMAIN}/overcommit-factor"

DEFAULT_FACTORS: Mapping[Tier, float] = {
    Tier.CRITICAL: 1.0,
    Tier.HIGH: 0.9,
    Tier.NORMAL: 0.75,
    Tier.LOW: 0.5,
    Tier.BACKGROUND: 0.25,
}
"""High keeps most of its padding (it preempts Normal but is not fenced); batch tiers run on
idle cycles only, so their requests are mostly a packing hint and shrink the most."""

DEFAULT_FLOOR_MILLI = 10
"""Below 10m a request stops meaning anything to the scheduler and cpu.weight bottoms out."""


@dataclass(frozen=True)
class PolicyConfig:
    """The decision's knobs (``webhook.factors``, ``webhook.floor``, ``webhook.allowGuaranteed``)."""

    factors: Mapping[Tier, float] = field(default_factory=lambda: dict(DEFAULT_FACTORS))
    floor_milli: int = DEFAULT_FLOOR_MILLI
    allow_guaranteed: bool = False

    def factor(self, tier: Tier) -> float:
        return 1.0 if tier is Tier.CRITICAL else self.factors.get(tier, 1.0)


def parse_policy_config(section: Mapping[str, Any], where: str = "webhook") -> PolicyConfig:
    """``factors`` (tier -> 0 < f <= 1; ``critical`` is refused), ``floor``, ``allowGuaranteed``."""
    raw = take(section, "factors", dict, {}, where)
    factors = dict(DEFAULT_FACTORS)
    for label, value in raw.items():
        try:
            tier = Tier.from_label(str(label))
        except ValueError as exc:
            raise ConfigError(f"{where}.factors: {exc}") from None
        if tier is Tier.CRITICAL:
            raise ConfigError(f"{where}.factors.critical: the Critical tier is never scaled")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ConfigError(f"{where}.factors.{label}: expected a number in (0, 1], got {value!r}")
        factors[tier] = float(value)
    floor_text = take(section, "floor", str, format_cpu_milli(DEFAULT_FLOOR_MILLI), where)
    try:
        floor = parse_cpu_milli(floor_text)
    except QuantityError as exc:
        raise ConfigError(f"{where}.floor: {exc}") from None
    if floor < 1:
        raise ConfigError(f"{where}.floor must be at least 1m")
    return PolicyConfig(factors, floor, take(section, "allowGuaranteed", bool, False, where))


POLICY_KEYS = {"factors", "floor", "allowGuaranteed"}


def check_policy_keys(section: Mapping[str, Any], extra: set[str], where: str = "webhook") -> None:
    reject_unknown(section, POLICY_KEYS | extra, where)


# --- the decision -------------------------------------------------------------------------


class Outcome(enum.Enum):
    MUTATED = "mutated"
    SKIPPED = "skipped"
    IGNORED = "ignored"
    UNHANDLED = "unhandled"


class Reason(enum.Enum):
    SCALED = "scaled"
    NOT_POD_CREATE = "not_pod_create"
    RESIZE = "resize"
    NAMESPACE_UNKNOWN = "namespace_unknown"
    NAMESPACE_NOT_OPTED_IN = "namespace_not_opted_in"
    CRITICAL_TIER = "critical_tier"
    SYSTEM_CRITICAL = "system_critical"
    FACTOR_ONE = "factor_one"
    ALREADY_SCALED = "already_scaled"
    GUARANTEED = "guaranteed"
    POD_LEVEL_RESOURCES = "pod_level_resources"
    NO_CPU_REQUEST = "no_cpu_request"
    AT_FLOOR = "at_floor"
    ODD_SHAPE = "odd_shape"


@dataclass(frozen=True)
class Decision:
    result: AdmissionResult
    outcome: Outcome
    reason: Reason
    tier: Tier | None
    removed_milli: int = 0


def scale_cpu_milli(old: int, factor: float, floor: int) -> int:
    """``min(old, max(floor, ceil(old * factor)))``: never raises, never below the floor."""
    return min(old, max(floor, math.ceil(old * factor)))


MAX_FACTOR_TEXT = 12
"""``%g`` of a positive float is at most 12 characters (``4.94066e-324``); anything longer was
not written by the webhook."""


def format_factor(factor: float) -> str:
    """The ``infera.io/overcommit-factor`` text of a factor (``%g``: ``0.5``, ``0.333333``)."""
    return f"{factor:g}"


def parse_factor(text: object) -> float:
    """The factor of an ``infera.io/overcommit-factor`` text, strictly: only text that
    ``format_factor`` writes for a finite ``0 < f <= 1`` is accepted (no ``nan``, ``1e3``,
    ``0.50``, `` 0.5``, ``0_5``...). Raises ``ValueError`` saying what is wrong."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_FACTOR_TEXT:
        raise ValueError(f"expected a short decimal text, got {str(text)[:40]!r}")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise ValueError(f"{text!r} is not within (0, 1]")
    if format_factor(value) != text:
        raise ValueError(f"{text!r} is not in the form the webhook writes ({format_factor(value)!r})")
    return value


class _OddShape(Exception):
    """Internal: the pod is not shaped as the policy expects (becomes an ``unhandled``)."""


def admit(request: AdmissionRequest, config: PolicyConfig, namespace_labels: Mapping[str, str] | None) -> Decision:
    """The whole policy (see the module docstring). ``namespace_labels``: the labels of the
    request's namespace, ``None`` when they are not known. Total: never raises."""
    if request.is_pod and request.sub_resource == "resize":
        return Decision(AdmissionResult(), Outcome.IGNORED, Reason.RESIZE, None)
    if not (request.is_pod and request.sub_resource == "" and request.operation == "CREATE"):
        return Decision(AdmissionResult(), Outcome.IGNORED, Reason.NOT_POD_CREATE, None)
    pod = request.object
    if pod is None:
        return _unhandled(None, "the request carries no pod object")
    tier = tier_of_pod(pod)
    if namespace_labels is None:
        return _skip(tier, Reason.NAMESPACE_UNKNOWN)
    if not namespace_opted_in(namespace_labels):
        return _skip(tier, Reason.NAMESPACE_NOT_OPTED_IN)
    try:
        return _admit_pod(pod, tier, config)
    except _OddShape as exc:
        return _unhandled(tier, str(exc))


def _unhandled(tier: Tier | None, why: str) -> Decision:
    warning = f"temper overcommit: pod left unchanged ({why})"
    return Decision(AdmissionResult(warnings=(warning,)), Outcome.UNHANDLED, Reason.ODD_SHAPE, tier)


def _skip(tier: Tier, reason: Reason) -> Decision:
    return Decision(AdmissionResult(), Outcome.SKIPPED, reason, tier)


SYSTEM_PRIORITY_FLOOR = 1_000_000_000
"""Priorities above this belong to the system classes only (``system-*-critical``)."""


def is_system_critical(pod: Mapping[str, Any]) -> bool:
    """A ``system-node-critical`` / ``system-cluster-critical`` pod (by class name or by the
    priority only those classes can carry). Their tier is High, but the cluster's own
    machinery is never overcommitted, whatever the namespace opt-in says."""
    spec = pod.get("spec")
    if not isinstance(spec, Mapping):
        return False
    name = spec.get("priorityClassName")
    if isinstance(name, str) and name.startswith("system-") and name.endswith("-critical"):
        return True
    priority = spec.get("priority")
    return isinstance(priority, int) and not isinstance(priority, bool) and priority > SYSTEM_PRIORITY_FLOOR


def _admit_pod(pod: Mapping[str, Any], tier: Tier, config: PolicyConfig) -> Decision:
    if tier is Tier.CRITICAL:
        return _skip(tier, Reason.CRITICAL_TIER)
    if is_system_critical(pod):
        return _skip(tier, Reason.SYSTEM_CRITICAL)
    factor_text = format_factor(config.factor(tier))
    factor = float(factor_text)  # scale by exactly what is recorded (restore recomputes it)
    if factor >= 1.0:
        return _skip(tier, Reason.FACTOR_ONE)
    metadata = _object(pod.get("metadata", {}), "metadata")
    annotations = _object(metadata.get("annotations", {}), "metadata.annotations")
    if ORIGINALS_ANNOTATION in annotations or FACTOR_ANNOTATION in annotations:
        return _skip(tier, Reason.ALREADY_SCALED)
    spec = _object(pod.get("spec"), "spec")
    try:
        qos = qos_class(spec)
    except PodError as exc:
        raise _OddShape(str(exc)) from None
    if qos is QosClass.GUARANTEED and not config.allow_guaranteed:
        return _skip(tier, Reason.GUARANTEED)
    if spec.get("resources") is not None:
        return _skip(tier, Reason.POD_LEVEL_RESOURCES)

    ops: list[PatchOp] = []
    originals: dict[str, str] = {}
    removed = 0
    any_request = False
    for field_name, sidecars_only in (("containers", False), ("initContainers", True)):
        for index, container in _containers(spec, field_name):
            if sidecars_only and container.get("restartPolicy") != "Always":
                continue
            name = container.get("name")
            if not isinstance(name, str) or not name:
                raise _OddShape(f"spec.{field_name}[{index}] has no name")
            if name in originals:
                raise _OddShape(f"container name {name!r} appears twice")
            resources = _object(container.get("resources", {}), f"spec.{field_name}[{index}].resources")
            requests = _object(resources.get("requests", {}), f"spec.{field_name}[{index}].resources.requests")
            if "cpu" not in requests:
                continue
            any_request = True
            try:
                old = parse_cpu_milli(requests["cpu"])
            except QuantityError as exc:
                raise _OddShape(f"spec.{field_name}[{index}].resources.requests.cpu: {exc}") from None
            new = scale_cpu_milli(old, factor, config.floor_milli)
            if new >= old:
                continue
            originals[name] = requests["cpu"] if isinstance(requests["cpu"], str) else format_cpu_milli(old)
            removed += old - new
            ops.append({"op": "replace", "path": f"/spec/{field_name}/{index}/resources/requests/cpu",
                        "value": format_cpu_milli(new)})
    if not ops:
        return _skip(tier, Reason.AT_FLOOR if any_request else Reason.NO_CPU_REQUEST)

    records = {ORIGINALS_ANNOTATION: orjson.dumps(originals, option=orjson.OPT_SORT_KEYS).decode(),
               FACTOR_ANNOTATION: factor_text}
    if pod.get("metadata") is None:
        ops.append({"op": "add", "path": "/metadata", "value": {"annotations": records}})
    elif metadata.get("annotations") is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": records})
    else:
        for key, value in records.items():
            ops.append({"op": "add", "path": f"/metadata/annotations/{escape_pointer(key)}", "value": value})
    warning = (f"temper overcommit: CPU requests of {len(originals)} container(s) scaled by {factor_text} "
               f"(tier {tier.label}); originals in annotation {ORIGINALS_ANNOTATION}")
    result = AdmissionResult(patch=tuple(ops), warnings=(warning,),
                             audit={"tier": tier.label, "factor": factor_text})
    return Decision(result, Outcome.MUTATED, Reason.SCALED, tier, removed)


def _object(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _OddShape(f"{what} is not an object")
    return value


def _containers(spec: Mapping[str, Any], field_name: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = spec.get(field_name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _OddShape(f"spec.{field_name} is not a list")
    out: list[tuple[int, Mapping[str, Any]]] = []
    for index, container in enumerate(value):
        if not isinstance(container, Mapping):
            raise _OddShape(f"spec.{field_name}[{index}] is not an object")
        out.append((index, container))
    return out
