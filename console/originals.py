"""A pod's CPU request as it was before the overcommit webhook scaled it (pure).

Why it exists: the savings report counts the millicores the webhook packed away
(original − current request), and the pod views show the original next to the current
request. The webhook records ``infera.io/original-cpu-requests`` as a JSON object
``{container name: quantity}`` holding only the containers it scaled (app containers and
native sidecars), next to ``infera.io/overcommit-factor``. The console may not import the
webhook, so the format is read here, from the annotation alone.

The original *pod* request is what kube-scheduler would have counted before scaling:
``temper.pods.effective_cpu_request_milli`` of the spec with each recorded container's request
put back to its original. Containers the annotation does not name keep their current request.

Returns None for a pod without the annotation, or whose annotation is not the webhook's
format (not a JSON object of quantity strings, or naming a container the pod does not have):
an unreadable record is no evidence of packing, so it counts for nothing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from temper.pods import PodError, effective_cpu_request_milli
from temper.quantity import QuantityError, format_cpu_milli, parse_cpu_milli

ORIGINALS_ANNOTATION = "infera.io/original-cpu-requests"


def original_request_milli(pod: Mapping[str, Any]) -> int | None:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(ORIGINALS_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(raw, str):
        return None
    try:
        originals = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(originals, dict) or not originals:
        return None
    spec = copy.deepcopy(pod.get("spec") or {})
    if not isinstance(spec, dict):
        return None
    found: set[str] = set()
    for field_name in ("containers", "initContainers"):
        items = spec.get(field_name)
        for container in items if isinstance(items, list) else []:
            if not isinstance(container, dict) or container.get("name") not in originals:
                continue
            if field_name == "initContainers" and container.get("restartPolicy") != "Always":
                continue
            try:
                milli = parse_cpu_milli(originals[container["name"]])
            except QuantityError:
                return None
            resources = container.setdefault("resources", {})
            if not isinstance(resources, dict):
                return None
            requests = resources.setdefault("requests", {})
            if not isinstance(requests, dict):
                return None
            requests["cpu"] = format_cpu_milli(milli)
            found.add(container["name"])
    if found != set(originals):
        return None
    try:
        return effective_cpu_request_milli(spec)
    except PodError:
        return None
