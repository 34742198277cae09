"""Typed pod calls for ``temper overcommit``: list pods, read the server version, resize, annotate.

Why this module exists: ``temper.kube`` is the only package that talks to the API server
(docs/architecture.md). ``temper overcommit report``/``restore`` need a handful of pod calls
beyond ``ApiClient``'s get/patch/watch; they live here, typed, so the webhook package only
computes *what* to change.

- ``list_pods`` pages with ``limit``/``continue`` (a large cluster's pod list is never one
  response).
- ``resize_pod`` is a strategic-merge PATCH on the ``pods/resize`` subresource (KEP-1287:
  beta and on by default from 1.33), the only way to change a running pod's requests.
- ``server_version`` reads ``/version`` (``minor`` may carry a ``+`` suffix on managed
  clusters).

Errors: ``temper.kube.client.ApiError`` (non-2xx answers), raised unchanged.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from temper.kube.client import ApiClient, ApiError

RESIZE_MIN_VERSION = (1, 33)
"""In-place pod resize is beta and enabled by default from Kubernetes 1.33 (GA in 1.35)."""
PAGE_SIZE = 500


async def server_version(client: ApiClient) -> tuple[int, int]:
    body = await client.get("/version")
    try:
        major = int(re.sub(r"\D", "", str(body.get("major", ""))))
        minor = int(re.sub(r"\D", "", str(body.get("minor", ""))))
    except ValueError:
        raise ApiError(0, f"/version answered an unreadable version: {body!r:.200}") from None
    return major, minor


async def supports_resize(client: ApiClient) -> bool:
    return await server_version(client) >= RESIZE_MIN_VERSION


def _pods_path(namespace: str | None) -> str:
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods" if namespace else "/api/v1/pods"


async def list_pods(client: ApiClient, namespace: str | None = None,
                    label_selector: str | None = None) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": str(PAGE_SIZE)}
    if label_selector:
        params["labelSelector"] = label_selector
    while True:
        body = await client.get(_pods_path(namespace), params)
        items = body.get("items")
        if not isinstance(items, list):
            raise ApiError(0, "pod list has no items")
        pods.extend(item for item in items if isinstance(item, dict))
        token = body.get("metadata", {}).get("continue") if isinstance(body.get("metadata"), dict) else None
        if not token:
            return pods
        params["continue"] = str(token)


def _pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}"


async def resize_pod(client: ApiClient, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Strategic-merge ``patch`` (``{"spec": {"containers": [...]}}``) on ``pods/resize``."""
    return await client.patch(_pod_path(namespace, name) + "/resize", patch,
                              patch_type="application/strategic-merge-patch+json")


async def patch_pod_annotations(client: ApiClient, namespace: str, name: str,
                                annotations: dict[str, str | None]) -> dict[str, Any]:
    """Merge-patch annotations (``None`` removes a key)."""
    return await client.patch(_pod_path(namespace, name), {"metadata": {"annotations": annotations}})
