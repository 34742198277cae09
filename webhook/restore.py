"""What ``temper overcommit report``/``restore`` show and do, as pure functions of pod objects.

Why this module exists: overcommit must be reversible. Every pod the webhook scaled carries
its original CPU requests (``infera.io/original-cpu-requests``) and the factor; this module
turns a pod into a report row and into the ``pods/resize`` patch that puts the originals back.
The API calls are in ``temper.kube.podpatch``; the CLI (``webhook.overcommit_cli``) wires them.

Trust: the annotations are writable by whoever may edit the pod — its owner, not the admin who
runs ``restore`` with broader rights. Restoring ``{"app": "64"}`` verbatim would let the owner
resize the pod to 64 CPUs with the admin's credentials. So restore only puts back what the
webhook *could have written*, judged under the policy it admitted the pod with (the
``PolicyConfig`` given: ``temper overcommit --config`` reads the webhook's config file):

- the factor text is one ``webhook.policy.format_factor`` writes (``parse_factor``: finite,
  ``0 < f <= 1``, canonical short decimal) and equals the policy's factor for the pod's tier
  (``priorityClassName`` is immutable, so the tier is what it was at admission); never for a
  Critical or system-critical pod, which the webhook never scales;
- the originals are a non-empty JSON object ``{container: quantity string}``, each naming an
  app container or native sidecar of the pod (a pod's containers cannot change after creation);
- for every container, ``scale_cpu_milli(original, factor, floor)`` — the webhook's own
  formula — equals the current request, and is below the original (the webhook records only
  what it lowered).

Anything else is reported (the row's ``problem`` says which check failed) and left alone; a
pod resized by its owner since admission fails the last check too, which is right: its current
request is someone's decision, not the webhook's. What the check cannot exclude: a forged
original that the formula maps to the current request — at most ``current / factor`` (the
ceiling rounds, so e.g. ``999m`` and ``1000m`` both scale to ``500m`` at 0.5), i.e. about what
the webhook's own record would say. No HMAC is added: the bound above already limits a forgery
to the owner's own pod and the request the owner could have asked for, and a signing key would
have to be shared with every admin running ``restore``. If the webhook's ``floor`` or factors
change after admission, older pods are reported as inconsistent (safe side); pass the config
they were admitted with.

Restore policy, for consistent pods:
- One strategic-merge patch on ``pods/resize`` (1.33+) sets every recorded container's
  request back to its original.
- A resize may not change the QoS class. A pod that was Guaranteed before scaling
  (``allowGuaranteed``) would become Guaranteed again, so it cannot be restored in place:
  the plan says "restart it" instead.
- Terminal pods (Succeeded/Failed) are reported but not restored.
- After a successful resize the annotations are removed, so a second restore is a no-op.

Errors: nothing here raises; an unreadable or inconsistent annotation is a ``problem`` on the
row and a plan without a patch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from temper.pods import PodError, qos_class
from temper.quantity import QuantityError, format_cpu_milli, parse_cpu_milli
from temper.tiers import Tier, tier_of_pod
from webhook.policy import (
    FACTOR_ANNOTATION,
    ORIGINALS_ANNOTATION,
    PolicyConfig,
    format_factor,
    is_system_critical,
    parse_factor,
    scale_cpu_milli,
)


@dataclass(frozen=True)
class ContainerRow:
    container: str
    original: str
    current: str


@dataclass(frozen=True)
class ScaledPod:
    namespace: str
    name: str
    tier: str
    factor: str
    phase: str
    containers: tuple[ContainerRow, ...]
    problem: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "tier": self.tier, "factor": self.factor,
                "phase": self.phase, "problem": self.problem,
                "containers": [{"name": c.container, "original": c.original, "current": c.current}
                               for c in self.containers]}


@dataclass(frozen=True)
class RestorePlan:
    pod: ScaledPod
    patch: dict[str, Any] | None
    reason: str = ""


class _Untrusted(Exception):
    """Internal: the annotations are not what the webhook could have written (message: why)."""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _scalable(spec: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    """container name -> (field, index) for app containers and native sidecars."""
    found: dict[str, tuple[str, int]] = {}
    for field_name in ("containers", "initContainers"):
        items = spec.get(field_name)
        for index, container in enumerate(items if isinstance(items, list) else []):
            container = _mapping(container)
            if field_name == "initContainers" and container.get("restartPolicy") != "Always":
                continue
            if isinstance(container.get("name"), str):
                found[container["name"]] = (field_name, index)
    return found


def _current_request(spec: Mapping[str, Any], where: tuple[str, int]) -> object:
    container = _mapping(spec[where[0]][where[1]])
    return _mapping(_mapping(container.get("resources")).get("requests")).get("cpu")


def _read_originals(text: object) -> dict[str, str]:
    try:
        originals = orjson.loads(str(text))
    except orjson.JSONDecodeError as exc:
        raise _Untrusted(f"unreadable {ORIGINALS_ANNOTATION} annotation: {exc}") from None
    if not isinstance(originals, dict) or not originals:
        raise _Untrusted(f"unreadable {ORIGINALS_ANNOTATION} annotation: not a non-empty JSON object")
    for name, quantity in originals.items():
        if not isinstance(quantity, str):
            raise _Untrusted(f"{ORIGINALS_ANNOTATION}: the original of {name!r} is not a quantity string")
    return originals


def _check_factor(pod: Mapping[str, Any], text: object, policy: PolicyConfig) -> float:
    """The recorded factor, if it is the one the policy gives this pod's tier."""
    if text is None:
        raise _Untrusted(f"{ORIGINALS_ANNOTATION} without {FACTOR_ANNOTATION}: the webhook always writes both")
    try:
        factor = parse_factor(text)
    except ValueError as exc:
        raise _Untrusted(f"{FACTOR_ANNOTATION} is not a factor the webhook writes: {exc}") from None
    tier = tier_of_pod(pod)
    if tier is Tier.CRITICAL or is_system_critical(pod):
        raise _Untrusted("the webhook never scales Critical or system-critical pods")
    expected = format_factor(policy.factor(tier))
    if text != expected:
        raise _Untrusted(f"{FACTOR_ANNOTATION} {text} is not the factor of tier {tier.label} ({expected}) "
                         "under the webhook's policy (pass the webhook's config file with --config)")
    return factor


def _check_container(spec: Mapping[str, Any], where: dict[str, tuple[str, int]], name: str, original: str,
                     factor: float, policy: PolicyConfig) -> None:
    """The current request is what the webhook's formula makes of the recorded original."""
    if name not in where:
        raise _Untrusted(f"{ORIGINALS_ANNOTATION} names {name!r}, which is not an app container or "
                         "native sidecar of this pod")
    try:
        old = parse_cpu_milli(original)
    except QuantityError as exc:
        raise _Untrusted(f"{ORIGINALS_ANNOTATION}: the original of {name!r}: {exc}") from None
    current_value = _current_request(spec, where[name])
    try:
        current = parse_cpu_milli(current_value)
    except QuantityError:
        raise _Untrusted(f"container {name!r} has no readable CPU request to restore from") from None
    scaled = scale_cpu_milli(old, factor, policy.floor_milli)
    floor = format_cpu_milli(policy.floor_milli)
    if scaled >= old:
        raise _Untrusted(f"the webhook would not have scaled {name!r} from the recorded original {original} "
                         f"(factor {format_factor(factor)}, floor {floor})")
    if current != scaled:
        raise _Untrusted(f"container {name!r} requests {current_value}, but the webhook scales the recorded "
                         f"original {original} to {format_cpu_milli(scaled)} (factor {format_factor(factor)}, "
                         f"floor {floor}): the annotation was edited or the pod resized since admission")


def _problem(pod: Mapping[str, Any], annotations: Mapping[str, Any], spec: Mapping[str, Any],
             policy: PolicyConfig) -> tuple[dict[str, str], str]:
    """(the originals as far as readable, why they must not be restored — "" when they may)."""
    originals: dict[str, str] = {}
    try:
        originals = _read_originals(annotations[ORIGINALS_ANNOTATION])
        factor = _check_factor(pod, annotations.get(FACTOR_ANNOTATION), policy)
        where = _scalable(spec)
        for name, original in sorted(originals.items()):
            _check_container(spec, where, name, original, factor, policy)
    except _Untrusted as exc:
        return originals, str(exc)
    return originals, ""


def scaled_pod(pod: Mapping[str, Any], policy: PolicyConfig) -> ScaledPod | None:
    """The report row of a pod carrying the webhook's annotation, or None for any other pod.
    ``problem`` is non-empty when the annotations are not what the webhook (under ``policy``)
    could have written."""
    metadata = _mapping(pod.get("metadata"))
    annotations = _mapping(metadata.get("annotations"))
    if ORIGINALS_ANNOTATION not in annotations:
        return None
    spec = _mapping(pod.get("spec"))
    originals, problem = _problem(pod, annotations, spec, policy)
    where = _scalable(spec)
    rows = []
    for name, quantity in sorted(originals.items()):
        current = _current_request(spec, where[name]) if name in where else "(no such container)"
        rows.append(ContainerRow(name, quantity, "-" if current is None else str(current)))
    return ScaledPod(
        namespace=str(metadata.get("namespace", "")), name=str(metadata.get("name", "")),
        tier=tier_of_pod(pod).label, factor=str(annotations.get(FACTOR_ANNOTATION, "?")),
        phase=str(_mapping(pod.get("status")).get("phase", "")), containers=tuple(rows), problem=problem)


def restore_plan(pod: Mapping[str, Any], policy: PolicyConfig) -> RestorePlan | None:
    """The ``pods/resize`` strategic-merge patch restoring the originals (None: not scaled).
    No patch, with the reason, for anything the webhook could not have written."""
    row = scaled_pod(pod, policy)
    if row is None:
        return None
    if row.problem:
        return RestorePlan(row, None, row.problem)
    if row.phase in ("Succeeded", "Failed"):
        return RestorePlan(row, None, f"pod is {row.phase}; nothing runs to resize")
    spec = _mapping(pod.get("spec"))
    where = _scalable(spec)
    restored = copy.deepcopy(dict(spec))
    patch: dict[str, list[dict[str, Any]]] = {}
    for item in row.containers:
        field_name, index = where[item.container]
        patch.setdefault(field_name, []).append(
            {"name": item.container, "resources": {"requests": {"cpu": item.original}}})
        target = restored[field_name][index] = dict(restored[field_name][index])
        resources = target["resources"] = dict(_mapping(target.get("resources")))
        resources["requests"] = {**_mapping(resources.get("requests")), "cpu": item.original}
    try:
        if qos_class(restored) != qos_class(spec):
            return RestorePlan(row, None, f"restoring would change the QoS class to {qos_class(restored).value}, "
                                          "which a resize may not do: restart the pod instead")
    except PodError as exc:
        return RestorePlan(row, None, f"odd pod shape: {exc}")
    return RestorePlan(row, {"spec": patch})
