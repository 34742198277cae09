"""The pod model Temper plans with, decoded from API pod objects.

A pod's effective CPU request is computed exactly as kube-scheduler computes it
(``k8s.io/component-helpers/resource.PodRequests``), because the plan must size fenced CPUs
from the same number the bin-packer used:

    restartable = 0; init = 0
    for c in initContainers (in order):
        if c.restartPolicy == "Always":        # a native sidecar (KEP-753)
            restartable += req(c); init = max(init, restartable)
        else:
            init = max(init, restartable + req(c))
    request = max(sum(req(c) for c in containers) + restartable, init) + overhead

A container's request defaults to its limit when only the limit is set (API defaulting).
The limit is None when any app container is unlimited (the pod has no CPU ceiling).

Errors: ``decode_pod`` raises ``PodError`` (a ``ValueError``) with a message naming the pod
and the field, for anything malformed; its ``reason`` is one of ``POD_ERROR_REASONS`` (a
bounded metric label): ``invalid_quantity`` for any resource quantity that is not a valid
Kubernetes quantity in range (``temper.quantity``), ``malformed`` for any other shape problem.
``decode_or_reject`` turns *any* exception raised while decoding one pod into a
``RejectedPod`` (reason ``decode_failed`` for the unexpected ones), so one hostile pod is that
pod's problem and never its caller's. Callers skip rejected pods and count them; nothing is
guessed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from temper.quantity import QuantityError, parse_cpu_milli, parse_quantity_nanos
from temper.tiers import Tier, tier_of_pod

POD_MALFORMED = "malformed"
POD_INVALID_QUANTITY = "invalid_quantity"
POD_DECODE_FAILED = "decode_failed"
POD_ERROR_REASONS = (POD_MALFORMED, POD_INVALID_QUANTITY, POD_DECODE_FAILED)
"""Why a pod was rejected: a bounded set, usable as a metric label."""


class PodError(ValueError):
    """A pod object that cannot be decoded into the planning model; ``reason`` is one of
    ``POD_ERROR_REASONS``."""

    def __init__(self, message: str, reason: str = POD_MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason

    def within(self, context: str) -> PodError:
        """The same error, its message prefixed with where it happened."""
        return PodError(f"{context}: {self}", self.reason)


def _quantity_error(where: str, exc: QuantityError) -> PodError:
    return PodError(f"{where}: {exc}", POD_INVALID_QUANTITY)


class QosClass(enum.Enum):
    GUARANTEED = "Guaranteed"
    BURSTABLE = "Burstable"
    BEST_EFFORT = "BestEffort"


@dataclass(frozen=True)
class PodInfo:
    """What the planner needs to know about one pod."""

    uid: str
    namespace: str
    name: str
    tier: Tier
    cpu_request_milli: int
    cpu_limit_milli: int | None
    qos: QosClass
    node_name: str = ""
    phase: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PodError(f"{what} must be an object")
    return value


def _containers(spec: Mapping[str, Any], field: str) -> Sequence[Mapping[str, Any]]:
    value = spec.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, Mapping) for c in value):
        raise PodError(f"spec.{field} must be a list of objects")
    return value


def _cpu(resources: Mapping[str, Any], kind: str, where: str) -> int | None:
    table = _mapping(resources.get(kind), f"{where}.resources.{kind}")
    if "cpu" not in table:
        return None
    try:
        return parse_cpu_milli(table["cpu"])
    except QuantityError as exc:
        raise _quantity_error(f"{where}.resources.{kind}.cpu", exc) from None


@dataclass(frozen=True)
class _ContainerCpu:
    request: int
    limit: int | None


def _container_cpu(container: Mapping[str, Any], where: str) -> _ContainerCpu:
    resources = _mapping(container.get("resources"), f"{where}.resources")
    limit = _cpu(resources, "limits", where)
    request = _cpu(resources, "requests", where)
    if request is None:
        request = limit if limit is not None else 0
    return _ContainerCpu(request, limit)


def effective_cpu_request_milli(spec: Mapping[str, Any]) -> int:
    """The pod's CPU request as kube-scheduler sees it (see module docstring)."""
    restartable = 0
    init_max = 0
    for i, container in enumerate(_containers(spec, "initContainers")):
        cpu = _container_cpu(container, f"spec.initContainers[{i}]")
        if container.get("restartPolicy") == "Always":
            restartable += cpu.request
            init_max = max(init_max, restartable)
        else:
            init_max = max(init_max, restartable + cpu.request)
    app = sum(
        _container_cpu(c, f"spec.containers[{i}]").request
        for i, c in enumerate(_containers(spec, "containers"))
    )
    overhead_table = _mapping(spec.get("overhead"), "spec.overhead")
    overhead = 0
    if "cpu" in overhead_table:
        try:
            overhead = parse_cpu_milli(overhead_table["cpu"])
        except QuantityError as exc:
            raise _quantity_error("spec.overhead.cpu", exc) from None
    return max(app + restartable, init_max) + overhead


def cpu_limit_milli(spec: Mapping[str, Any]) -> int | None:
    """Sum of app-container (and sidecar) CPU limits, or None when any is unlimited."""
    total = 0
    containers = list(_containers(spec, "containers"))
    sidecars = [c for c in _containers(spec, "initContainers") if c.get("restartPolicy") == "Always"]
    for i, container in enumerate(containers + sidecars):
        limit = _container_cpu(container, f"container[{i}]").limit
        if limit is None:
            return None
        total += limit
    return total


def qos_class(spec: Mapping[str, Any]) -> QosClass:
    """Kubernetes QoS class from CPU and memory requests and limits (``GetPodQOS``).

    Guaranteed: every container limits both CPU and memory, with requests (if set) equal to
    the limits. BestEffort: no container sets any CPU or memory request or limit.
    """
    all_containers = list(_containers(spec, "initContainers")) + list(_containers(spec, "containers"))
    any_set = False
    guaranteed = bool(all_containers)
    for i, container in enumerate(all_containers):
        resources = _mapping(container.get("resources"), f"container[{i}].resources")
        requests = _mapping(resources.get("requests"), f"container[{i}].resources.requests")
        limits = _mapping(resources.get("limits"), f"container[{i}].resources.limits")
        for name in ("cpu", "memory"):
            request, limit = requests.get(name), limits.get(name)
            any_set = any_set or request is not None or limit is not None
            where = f"container[{i}].resources"
            if limit is None or (request is not None and not _quantities_equal(request, limit, where, name)):
                guaranteed = False
    if not any_set:
        return QosClass.BEST_EFFORT
    return QosClass.GUARANTEED if guaranteed else QosClass.BURSTABLE


def _quantities_equal(a: object, b: object, where: str, name: str) -> bool:
    """Numeric equality of two quantities of any resource ("1" == "1000m", "1Gi" == "1024Mi");
    an invalid one is the pod's error (the API server would have refused the pod)."""
    try:
        request = parse_quantity_nanos(a)
    except QuantityError as exc:
        raise _quantity_error(f"{where}.requests.{name}", exc) from None
    try:
        limit = parse_quantity_nanos(b)
    except QuantityError as exc:
        raise _quantity_error(f"{where}.limits.{name}", exc) from None
    return request == limit


def decode_pod(pod: object, thresholds: tuple[tuple[int, Tier], ...] | None = None) -> PodInfo:
    """Decode an API pod object; raises ``PodError`` naming the pod and the bad field."""
    if not isinstance(pod, Mapping):
        raise PodError("pod must be a JSON object")
    metadata = pod.get("metadata")
    spec = pod.get("spec")
    if not isinstance(metadata, Mapping):
        raise PodError("pod has no metadata")
    name = metadata.get("name")
    namespace = metadata.get("namespace", "default")
    uid = metadata.get("uid")
    label = f"pod {namespace}/{name}"
    if not isinstance(name, str) or not name:
        raise PodError("pod has no metadata.name")
    if not isinstance(namespace, str):
        raise PodError(f"{label}: metadata.namespace must be a string")
    if not isinstance(uid, str) or not uid:
        raise PodError(f"{label}: metadata.uid is missing")
    if not isinstance(spec, Mapping):
        raise PodError(f"{label}: spec is missing")
    status = pod.get("status")
    status = status if isinstance(status, Mapping) else {}
    try:
        request = effective_cpu_request_milli(spec)
        limit = cpu_limit_milli(spec)
        qos_text = status.get("qosClass")
        qos = QosClass(qos_text) if qos_text in {q.value for q in QosClass} else qos_class(spec)
    except PodError as exc:
        raise exc.within(label) from None
    tier = tier_of_pod(pod) if thresholds is None else tier_of_pod(pod, thresholds)
    node = spec.get("nodeName", "")
    phase = status.get("phase", "")
    return PodInfo(
        uid=uid,
        namespace=namespace,
        name=name,
        tier=tier,
        cpu_request_milli=request,
        cpu_limit_milli=limit,
        qos=qos,
        node_name=node if isinstance(node, str) else "",
        phase=phase if isinstance(phase, str) else "",
    )


@dataclass(frozen=True)
class RejectedPod:
    """A pod that did not decode: who (``namespace/name``, else its uid, else "?"), why."""

    key: str
    reason: str
    """One of ``POD_ERROR_REASONS``."""
    message: str


def _pod_key(pod: object) -> str:
    try:
        metadata = pod.get("metadata") if isinstance(pod, Mapping) else None
        if not isinstance(metadata, Mapping):
            return "?"
        name, namespace, uid = metadata.get("name"), metadata.get("namespace", "default"), metadata.get("uid")
    except Exception:  # the pod that broke decoding may break this too
        return "?"
    if isinstance(name, str) and name and isinstance(namespace, str):
        return f"{namespace}/{name}"[:300]
    return uid[:64] if isinstance(uid, str) and uid else "?"


def decode_or_reject(pod: object, thresholds: tuple[tuple[int, Tier], ...] | None = None) -> PodInfo | RejectedPod:
    """``decode_pod``, with every failure — expected or not — returned as that pod's rejection."""
    try:
        return decode_pod(pod, thresholds)
    except PodError as exc:
        return RejectedPod(_pod_key(pod), exc.reason, str(exc))
    except Exception as exc:  # a decoder bug on odd input stays this pod's problem, never the caller's
        key = _pod_key(pod)
        return RejectedPod(key, POD_DECODE_FAILED, f"pod {key}: cannot be decoded ({type(exc).__name__})")


@dataclass(frozen=True)
class DecodedPods:
    """Result of decoding a pod list: good pods plus one message per rejected pod."""

    pods: tuple[PodInfo, ...]
    errors: tuple[str, ...]


def pod_list_items(document: object) -> list[dict[str, Any]]:
    """The pod objects of ``kubectl get pods -o json`` output, a bare array, or one Pod.

    A non-object entry stays in the list as an empty object, so decoding reports it.
    """
    if isinstance(document, Mapping):
        items = document.get("items")
        if items is None and document.get("kind") == "Pod":
            items = [document]
    else:
        items = document
    if not isinstance(items, list):
        raise PodError("expected a pod List (with 'items') or a JSON array of pods")
    return [dict(item) if isinstance(item, Mapping) else {} for item in items]


def decode_pod_list(document: object) -> DecodedPods:
    """Decode ``kubectl get pods -o json`` output (a List) or a bare list of pods."""
    items = pod_list_items(document)
    pods: list[PodInfo] = []
    errors: list[str] = []
    for raw in items:
        decoded = decode_or_reject(raw)
        if isinstance(decoded, RejectedPod):
            errors.append(decoded.message)
        else:
            pods.append(decoded)
    return DecodedPods(tuple(pods), tuple(errors))
