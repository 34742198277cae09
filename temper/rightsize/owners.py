"""Pods to workloads, and the HPAs that scale them — from kubectl JSON, never from pod names.

Why it exists: replicas of one workload share one pod template, so their samples size one
request; and an HPA scaling on CPU utilization makes the request part of its arithmetic. Both
need the pod's owner, which ``/observe`` does not carry. Guessing it from a name prefix would
silently merge unrelated pods, so the owner comes only from ``kubectl get pods -A -o json``
(``--pods-json``); without it every pod is its own scope and the evidence says so.

Owner rule (``decode_pods``), first that applies:
1. the pod's controller ``ownerReference`` is a ReplicaSet that the same list contains
   (``kubectl get pods,rs -A -o json``) -> that ReplicaSet's controller (a Deployment), exactly;
2. it is a ReplicaSet named ``<name>-<pod-template-hash>`` where the pod's own
   ``pod-template-hash`` label is that suffix -> Deployment ``<name>`` (the Deployment
   controller's naming, checked against the label, not guessed);
3. any other controller (StatefulSet, DaemonSet, Job, a ReplicaSet without the label) -> it;
4. no controller -> the pod itself.

HPAs (``decode_hpas``): autoscaling/v2 ``metrics`` (``Resource`` / ``ContainerResource`` cpu,
``Utilization`` or ``AverageValue``) and autoscaling/v1 ``targetCPUUtilizationPercentage``.

Errors: ``InputError`` when a list is not a Kubernetes List (no ``items`` list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temper.quantity import QuantityError, parse_cpu_milli
from temper.rightsize.observed import InputError


@dataclass(frozen=True)
class Owner:
    kind: str
    namespace: str
    name: str
    how: str
    """How it was found, for the evidence."""


@dataclass(frozen=True)
class PodInfo:
    uid: str
    owner: Owner
    containers: tuple[str, ...]
    starts: tuple[float, ...]
    """Unix times the pod and its containers (current instance: restarts move it) started."""


@dataclass(frozen=True)
class CpuTarget:
    kind: str
    """``Utilization`` (percent of request) or ``AverageValue`` (millicores per pod)."""
    value: float
    container: str | None = None


@dataclass(frozen=True)
class Hpa:
    namespace: str
    name: str
    target_kind: str
    target_name: str
    cpu: tuple[CpuTarget, ...]
    other_metrics: int
    min_replicas: int
    max_replicas: int
    current_replicas: int | None


def _items(document: Any, what: str) -> list[Mapping[str, Any]]:
    if isinstance(document, list):
        items: Any = document
    elif isinstance(document, Mapping) and isinstance(document.get("items"), list):
        items = document["items"]
    else:
        raise InputError(f"{what}: not a Kubernetes List (no items list)")
    return [item for item in items if isinstance(item, Mapping)]


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _controller(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, Mapping)]
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def decode_pods(document: Any) -> dict[str, PodInfo]:
    """Pure: pod uid -> owner, containers and start times (owner rule in the module docstring)."""
    items = _items(document, "pods JSON")
    replicasets = {(i["metadata"].get("namespace", ""), i["metadata"].get("name")): i["metadata"]
                   for i in items if i.get("kind") == "ReplicaSet" and isinstance(i.get("metadata"), Mapping)}
    result: dict[str, PodInfo] = {}
    for item in items:
        meta, spec, status = item.get("metadata"), item.get("spec"), item.get("status") or {}
        if item.get("kind", "Pod") != "Pod" or not isinstance(meta, Mapping) or not isinstance(meta.get("uid"), str):
            continue
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        owner = Owner("Pod", namespace, name, "no controller ownerReference: the pod is its own scope")
        ref = _controller(meta)
        if ref is not None:
            kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
            owner = Owner(kind, namespace, ref_name, f"controller ownerReference {kind}/{ref_name}")
            rs_meta = replicasets.get((namespace, ref_name))
            rs_ref = _controller(rs_meta) if kind == "ReplicaSet" and rs_meta is not None else None
            suffix = f"-{(meta.get('labels') or {}).get('pod-template-hash', '')}"
            if rs_ref is not None:
                owner = Owner(str(rs_ref.get("kind", "")), namespace, str(rs_ref.get("name", "")),
                              f"ReplicaSet {ref_name} -> its ownerReference")
            elif kind == "ReplicaSet" and len(suffix) > 1 and ref_name.endswith(suffix) and ref_name != suffix[1:]:
                owner = Owner("Deployment", namespace, ref_name[:-len(suffix)],
                              f"ReplicaSet {ref_name} = <deployment>{suffix} (pod-template-hash label)")
        containers = tuple(str(c.get("name", "")) for c in (spec or {}).get("containers") or []
                           if isinstance(c, Mapping))
        starts = [_time(status.get("startTime"))]
        for cs in status.get("containerStatuses") or []:
            running = ((cs or {}).get("state") or {}).get("running") if isinstance(cs, Mapping) else None
            starts.append(_time(running.get("startedAt")) if isinstance(running, Mapping) else None)
        result[meta["uid"]] = PodInfo(meta["uid"], owner, containers, tuple(sorted({s for s in starts if s})))
    return result


def _cpu_targets(spec: Mapping[str, Any]) -> tuple[list[CpuTarget], int]:
    targets: list[CpuTarget] = []
    others = 0
    v1 = spec.get("targetCPUUtilizationPercentage")
    if isinstance(v1, int | float):
        targets.append(CpuTarget("Utilization", float(v1)))
    for metric in spec.get("metrics") or []:
        if not isinstance(metric, Mapping):
            continue
        kind = metric.get("type")
        source = metric.get("resource") if kind == "Resource" else (
            metric.get("containerResource") if kind == "ContainerResource" else None)
        if not isinstance(source, Mapping) or source.get("name") != "cpu":
            others += 1
            continue
        target = source.get("target") or {}
        container = source.get("container") if kind == "ContainerResource" else None
        if target.get("type") == "Utilization" and isinstance(target.get("averageUtilization"), int | float):
            targets.append(CpuTarget("Utilization", float(target["averageUtilization"]), container))
        elif target.get("type") == "AverageValue" and target.get("averageValue") is not None:
            try:
                targets.append(CpuTarget("AverageValue", float(parse_cpu_milli(str(target["averageValue"]))),
                                         container))
            except QuantityError:
                others += 1
        else:
            others += 1
    return targets, others


def decode_hpas(document: Any) -> list[Hpa]:
    """Pure: the HPAs of ``kubectl get hpa -A -o json`` (v1 or v2 objects)."""
    result = []
    for item in _items(document, "HPA JSON"):
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        if not isinstance(ref, Mapping) or not ref.get("name"):
            continue
        targets, others = _cpu_targets(spec)
        current = (item.get("status") or {}).get("currentReplicas")
        result.append(Hpa(str(meta.get("namespace", "")), str(meta.get("name", "")), str(ref.get("kind", "")),
                          str(ref["name"]), tuple(targets), others, int(spec.get("minReplicas") or 1),
                          int(spec.get("maxReplicas") or 0), int(current) if isinstance(current, int) else None))
    return result
