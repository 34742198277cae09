"""Builders for pods and AdmissionReviews exactly as the kube-apiserver sends them."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonpatch

from webhook.manifest import OPT_IN_LABEL, OPT_IN_VALUE
from webhook.policy import PolicyConfig, admit
from webhook.review import decode_review, encode_response

OPTED_IN = {OPT_IN_LABEL: OPT_IN_VALUE, "kubernetes.io/metadata.name": "shop"}
"""The labels of an opted-in namespace, as ``admit`` receives them."""


def container(name: str, cpu: str | None = "500m", limit: str | None = None, memory: str | None = None,
              restart_policy: str | None = None) -> dict[str, Any]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if limit is not None:
        limits["cpu"] = limit
    if memory is not None:
        requests["memory"] = limits["memory"] = memory
    c: dict[str, Any] = {"name": name, "image": "registry.invalid/app:1", "resources": {}}
    if requests:
        c["resources"]["requests"] = requests
    if limits:
        c["resources"]["limits"] = limits
    if restart_policy is not None:
        c["restartPolicy"] = restart_policy
    return c


def pod(*containers: dict[str, Any], priority_class: str | None = "infera-low",
        annotations: dict[str, str] | None = None, init: list[dict[str, Any]] | None = None,
        namespace: str = "shop") -> dict[str, Any]:
    metadata: dict[str, Any] = {"generateName": "web-", "namespace": namespace}
    if annotations is not None:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"containers": list(containers) or [container("app")]}
    if priority_class is not None:
        spec["priorityClassName"] = priority_class
    if init is not None:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def review(obj: dict[str, Any] | None, uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002", operation: str = "CREATE",
           resource: str = "pods", sub_resource: str | None = None, dry_run: bool = False,
           namespace: str = "shop") -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": resource},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": resource},
        "name": "", "namespace": namespace, "operation": operation,
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": obj, "oldObject": None, "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    if sub_resource is not None:
        request["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def apply_response(obj: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Apply a response's base64 JSONPatch to ``obj`` the way the API server does."""
    if "patch" not in response:
        return obj
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    result: dict[str, Any] = jsonpatch.JsonPatch(ops).apply(obj)
    return result


def admitted(obj: dict[str, Any], policy: PolicyConfig | None = None) -> dict[str, Any]:
    """``obj`` as the API server stores it after the webhook's answer (wire format both ways),
    in an opted-in namespace."""
    request = decode_review(json.dumps(review(obj)).encode())
    answer = json.loads(encode_response(request.uid, admit(request, policy or PolicyConfig(), OPTED_IN).result))
    return apply_response(obj, answer["response"])
