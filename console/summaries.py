"""API objects -> the compact summaries the console caches and lists (pure, no I/O).

Why it exists: the cache keeps a summary per node, pod and workload, not the raw objects (30,000
raw pods with managedFields are hundreds of megabytes), and the list endpoints, the SSE stream
and the detail builders all read the same summaries. Everything here is total: a malformed
object gives ``None`` or a summary with the unknown parts left ``None``, never an exception.

Conventions:
- A pod's ``owner`` is its *workload* when it can be resolved (a ReplicaSet owned by a
  Deployment is reported as the Deployment — ``resolve_owner``), else its direct controller.
- ``original_request_m``: ``console.originals`` (the request kube-scheduler would have counted
  before the webhook scaled it); per container, the quantity the webhook recorded in
  ``infera.io/original-cpu-requests``. ``None`` when not scaled or unreadable.
- ``profile``: what ``temper.profiles.select`` picks from the built-in profiles (the explicit
  annotation or an image match); ``None`` when none applies.
- Workload replicas/ready: Deployment and StatefulSet ``spec.replicas`` (default 1) /
  ``status.readyReplicas``; DaemonSet ``status.desiredNumberScheduled`` / ``status.numberReady``;
  Job ``spec.completions`` (default ``spec.parallelism``, then 1) / ``status.succeeded``.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Mapping
from typing import Any

from console import models as m
from console.agents import internal_ip
from console.originals import ORIGINALS_ANNOTATION, original_request_milli
from console.pricing import node_price_facts
from temper.annotations import AnnotationError, decode_enforcement, decode_node_load
from temper.pods import PodError, decode_pod
from temper.profiles.builtins import builtin_profiles
from temper.profiles.select import pod_profile_inputs, select_profile
from temper.quantity import QuantityError, parse_cpu_milli

WORKLOAD_PLURALS: dict[str, str] = {"Deployment": "deployments", "StatefulSet": "statefulsets",
                                    "DaemonSet": "daemonsets", "Job": "jobs"}
WORKLOAD_GROUPS: dict[str, str] = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                                   "Job": "batch/v1"}


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def node_summary(obj: Mapping[str, Any], pods: int) -> m.NodeSummary:
    meta = _map(obj.get("metadata"))
    ann = _map(meta.get("annotations"))
    cpus, fenced, free, tiers = None, "", None, {}
    with contextlib.suppress(AnnotationError):
        load = decode_node_load(ann.get("infera.io/tier-load"))
        cpus, free = load.cpus, load.free_protected_milli
        fenced = ",".join(str(c) for c in sorted(load.fenced))
        tiers = {t.label: m.TierLoad(request_m=v.request_milli, used_m=v.used_milli, pressure_pct=v.pressure_pct)
                 for t, v in load.tiers.items()}
    enforcement = None
    with contextlib.suppress(AnnotationError):
        e = decode_enforcement(ann.get("infera.io/enforcement"))
        enforcement = m.Enforcement(state=e.state.value, reason=e.reason, kernel=e.kernel, since=e.since, exit=e.exit)
    instance_type = _map(meta.get("labels")).get("node.kubernetes.io/instance-type")
    return m.NodeSummary(name=str(meta.get("name")), cpus=cpus, enforcement=enforcement, fenced=fenced, free_m=free,
                         tiers=tiers, unschedulable=bool(_map(obj.get("spec")).get("unschedulable")),
                         instance_type=instance_type if isinstance(instance_type, str) else None, pods=pods,
                         internal_ip=internal_ip(obj), **node_price_facts(obj))


def original_requests(obj: Mapping[str, Any]) -> dict[str, int] | None:
    """Container name -> original CPU request (millicores) the webhook recorded, or None."""
    raw = _map(_map(obj.get("metadata")).get("annotations")).get(ORIGINALS_ANNOTATION)
    if not isinstance(raw, str):
        return None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            return None
        return {str(name): parse_cpu_milli(value) for name, value in doc.items()}
    except (ValueError, QuantityError):
        return None


def container_cpu(container: Mapping[str, Any]) -> tuple[int, int | None]:
    """(request, limit) millicores of one container spec; a request defaults to the limit."""
    resources = _map(container.get("resources"))
    values: list[int | None] = []
    for kind in ("requests", "limits"):
        quantity = _map(resources.get(kind)).get("cpu")
        try:
            values.append(parse_cpu_milli(quantity) if quantity is not None else None)
        except QuantityError:
            values.append(None)
    request, limit = values
    return (request if request is not None else limit or 0), limit


def _containers(obj: Mapping[str, Any], field: str = "containers") -> list[Mapping[str, Any]]:
    items = _map(obj.get("spec")).get(field)
    return [c for c in items if isinstance(c, Mapping)] if isinstance(items, list) else []


@functools.lru_cache(maxsize=4096)
def _profile(annotation: str | None, images: tuple[str, ...]) -> str | None:
    return select_profile(annotation, images, _builtins()).profile


@functools.cache
def _builtins() -> dict[str, Any]:
    return dict(builtin_profiles())


def controller_of(obj: Mapping[str, Any]) -> m.Owner | None:
    for ref in _map(obj.get("metadata")).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller") and isinstance(ref.get("kind"), str) \
                and isinstance(ref.get("name"), str):
            return m.Owner(kind=ref["kind"], name=ref["name"])
    return None


def pod_summary(obj: Mapping[str, Any]) -> m.PodSummary | None:
    """The summary of an API pod, or None when ``temper.pods`` cannot decode it."""
    try:
        info = decode_pod(obj)
    except PodError:
        return None
    annotation, images = pod_profile_inputs(obj)
    return m.PodSummary(namespace=info.namespace, name=info.name, uid=info.uid, node=info.node_name,
                        phase=info.phase, tier=info.tier.label, profile=_profile(annotation, images),
                        request_m=info.cpu_request_milli, limit_m=info.cpu_limit_milli,
                        original_request_m=original_request_milli(obj),
                        owner=controller_of(obj), containers=[str(c.get("name", "")) for c in _containers(obj)])


def resolve_owner(namespace: str, owner: m.Owner | None, replica_sets: Mapping[str, str]) -> m.Owner | None:
    """A ReplicaSet owner known to belong to a Deployment becomes that Deployment.
    ``replica_sets``: "namespace/replicaset" -> deployment name."""
    if owner is not None and owner.kind == "ReplicaSet":
        deployment = replica_sets.get(f"{namespace}/{owner.name}")
        if deployment is not None:
            return m.Owner(kind="Deployment", name=deployment)
    return owner


def workload_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def pod_workload_key(pod: m.PodSummary) -> str | None:
    """The workload index key of a pod's owner (its facet value), or None for a bare pod."""
    return workload_key(pod.owner.kind, pod.namespace, pod.owner.name) if pod.owner is not None else None


def workload_summary(kind: m.WorkloadKind, obj: Mapping[str, Any], pods: int) -> m.WorkloadSummary | None:
    meta = _map(obj.get("metadata"))
    namespace, name = meta.get("namespace"), meta.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    if kind == "DaemonSet":
        replicas, ready = _int(status.get("desiredNumberScheduled")), _int(status.get("numberReady"))
    elif kind == "Job":
        replicas = _int(spec.get("completions"), _int(spec.get("parallelism"), 1))
        ready = _int(status.get("succeeded"))
    else:
        replicas, ready = _int(spec.get("replicas"), 1), _int(status.get("readyReplicas"))
    return m.WorkloadSummary(kind=kind, namespace=namespace, name=name, replicas=replicas, ready=ready, pods=pods)


def container_details(obj: Mapping[str, Any]) -> list[m.ContainerDetail]:
    """Containers (init containers after them, flagged) with their CPU and status."""
    originals = original_requests(obj) or {}
    statuses: dict[str, Mapping[str, Any]] = {}
    status = _map(obj.get("status"))
    for field in ("containerStatuses", "initContainerStatuses"):
        for entry in status.get(field) or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                statuses[entry["name"]] = entry
    out = []
    for field, init in (("containers", False), ("initContainers", True)):
        for container in _containers(obj, field):
            name = str(container.get("name", ""))
            request, limit = container_cpu(container)
            state = statuses.get(name, {})
            image = container.get("image")
            out.append(m.ContainerDetail(name=name, image=image if isinstance(image, str) else "",
                                         request_m=request, limit_m=limit, original_request_m=originals.get(name),
                                         ready=state.get("ready") is True, restarts=_int(state.get("restartCount")),
                                         init=init))
    return out


def pod_ip(obj: Mapping[str, Any]) -> str | None:
    ip = _map(obj.get("status")).get("podIP")
    return ip if isinstance(ip, str) and ip else None


def labels_match(selector: Mapping[str, str], obj: Mapping[str, Any]) -> bool:
    labels = _map(_map(obj.get("metadata")).get("labels"))
    return all(labels.get(k) == v for k, v in selector.items())
