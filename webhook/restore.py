"""What ``temper overcommit report``/``restore`` show and do, as pure functions of pod objects.

Why this module exists: overcommit must be reversible. Every pod the webhook scaled carries
its original CPU requests (``infera.io/original-cpu-requests``) and the factor; this module
turns a pod into a report row and into the ``pods/resize`` patch that puts the originals back.
The API calls are in ``temper.kube.podpatch``; the CLI (``webhook.overcommit_cli``) wires them.

Restore policy:
- App containers and native sidecars named in the annotation get their original request back
  through one strategic-merge patch on ``pods/resize`` (1.33+). Containers that no longer
  exist are skipped and said so.
- A resize may not change the QoS class. A pod that was Guaranteed before scaling
  (``allowGuaranteed``) would become Guaranteed again, so it cannot be restored in place:
  the plan says "restart it" instead.
- Terminal pods (Succeeded/Failed) are reported but not restored.
- After a successful resize the annotations are removed, so a second restore is a no-op.

Errors: a pod whose annotation is not valid JSON of ``{name: quantity}`` gets a plan with a
reason instead of a patch; nothing here raises.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from temper.pods import PodError, qos_class
from temper.quantity import QuantityError, parse_cpu_milli
from temper.tiers import tier_of_pod
from webhook.policy import FACTOR_ANNOTATION, ORIGINALS_ANNOTATION


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


def _current_request(spec: Mapping[str, Any], where: tuple[str, int]) -> str:
    container = _mapping(spec[where[0]][where[1]])
    value = _mapping(_mapping(container.get("resources")).get("requests")).get("cpu")
    return str(value) if value is not None else "-"


def scaled_pod(pod: Mapping[str, Any]) -> ScaledPod | None:
    """The report row of a pod the webhook scaled, or None for any other pod."""
    metadata = _mapping(pod.get("metadata"))
    annotations = _mapping(metadata.get("annotations"))
    if ORIGINALS_ANNOTATION not in annotations:
        return None
    spec = _mapping(pod.get("spec"))
    where = _scalable(spec)
    problem = ""
    rows: list[ContainerRow] = []
    try:
        originals = orjson.loads(str(annotations[ORIGINALS_ANNOTATION]))
        if not isinstance(originals, dict):
            raise ValueError("not an object")
        for name, quantity in sorted(originals.items()):
            parse_cpu_milli(quantity)
            current = _current_request(spec, where[name]) if name in where else "(container gone)"
            rows.append(ContainerRow(str(name), str(quantity), current))
    except (ValueError, QuantityError) as exc:
        problem = f"unreadable {ORIGINALS_ANNOTATION} annotation: {exc}"
    return ScaledPod(
        namespace=str(metadata.get("namespace", "")), name=str(metadata.get("name", "")),
        tier=tier_of_pod(pod).label, factor=str(annotations.get(FACTOR_ANNOTATION, "?")),
        phase=str(_mapping(pod.get("status")).get("phase", "")), containers=tuple(rows), problem=problem)


def restore_plan(pod: Mapping[str, Any]) -> RestorePlan | None:
    """The ``pods/resize`` strategic-merge patch restoring the originals (None: not scaled)."""
    row = scaled_pod(pod)
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
        if item.container not in where:
            continue
        field_name, index = where[item.container]
        patch.setdefault(field_name, []).append(
            {"name": item.container, "resources": {"requests": {"cpu": item.original}}})
        target = restored[field_name][index] = dict(restored[field_name][index])
        resources = target["resources"] = dict(_mapping(target.get("resources")))
        resources["requests"] = {**_mapping(resources.get("requests")), "cpu": item.original}
    if not patch:
        return RestorePlan(row, None, "none of the scaled containers exists any more")
    try:
        if qos_class(restored) != qos_class(spec):
            return RestorePlan(row, None, f"restoring would change the QoS class to {qos_class(restored).value}, "
                                          "which a resize may not do: restart the pod instead")
    except PodError as exc:
        return RestorePlan(row, None, f"odd pod shape: {exc}")
    return RestorePlan(row, {"spec": patch})
