"""Builders of API-shaped pod objects for tests (the same JSON kubectl prints)."""

from __future__ import annotations

import uuid
from typing import Any


def container(name: str = "app", cpu_request: str | None = None, cpu_limit: str | None = None,
              memory: str | None = None, restart_policy: str | None = None) -> dict[str, Any]:
    resources: dict[str, dict[str, str]] = {}
    if cpu_request is not None:
        resources.setdefault("requests", {})["cpu"] = cpu_request
    if cpu_limit is not None:
        resources.setdefault("limits", {})["cpu"] = cpu_limit
    if memory is not None:
        resources.setdefault("requests", {})["memory"] = memory
        resources.setdefault("limits", {})["memory"] = memory
    result: dict[str, Any] = {"name": name, "image": "registry.example/app:1", "resources": resources}
    if restart_policy:
        result["restartPolicy"] = restart_policy
    return result


def pod(name: str = "p", namespace: str = "default", *, uid: str | None = None,
        priority_class: str | None = None, priority: int | None = None,
        containers: list[dict[str, Any]] | None = None, init_containers: list[dict[str, Any]] | None = None,
        node: str = "node-a", phase: str = "Running") -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node, "containers": containers or [container(cpu_request="100m")]}
    if init_containers:
        spec["initContainers"] = init_containers
    if priority_class is not None:
        spec["priorityClassName"] = priority_class
    if priority is not None:
        spec["priority"] = priority
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or str(uuid.uuid4())},
        "spec": spec, "status": {"phase": phase},
    }
