"""A watch of the cluster's Nodes reduced to what Temper reads: each node's name and annotations.

Why it exists: the scheduler extender in ``nodeCacheCapable`` mode receives only node *names*
and must answer from its own copy of every node's annotations; other readers of the node
annotations (the management plane) need the same thing. Keeping 5,000 full Node objects
(status.images alone can be tens of KiB each) would waste memory, so every object is reduced
on arrival to a ``NodeMeta``: the name plus the string-valued annotations under Temper's
domain (``infera.io/``) — the only keys any reader needs.

Design: ``NodeWatch.run`` drives ``temper.kube.reflector.reflect`` on ``/api/v1/nodes`` and
forwards to a ``NodeSink`` (``replace`` after each LIST, ``upsert`` / ``delete`` per watch
event). The sink owns the data; the watch only tracks ``synced`` (a LIST has completed, so
readiness can be reported) and counts failures.

Invariants: a sink never sees a half-listed state (``replace`` receives the whole LIST);
objects without a string ``metadata.name`` are dropped and counted, never forwarded; the
annotations forwarded are always ``dict[str, str]``.

Exceptions: none of its own; API failures are ``temper.kube.client.ApiError`` and are handled
by the reflector's backoff (reported through ``on_error``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from temper.annotations import DOMAIN
from temper.kube.client import ApiClient
from temper.kube.reflector import Backoff, reflect

NODES_PATH = "/api/v1/nodes"
ANNOTATION_PREFIX = f"{DOMAIN}/"


@dataclass(frozen=True, slots=True)
class NodeMeta:
    """A Node reduced to its name and Temper's annotations (``infera.io/*``)."""

    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)


def node_meta(obj: object) -> NodeMeta | None:
    """Reduce an API Node object; ``None`` when it has no usable ``metadata.name``."""
    if not isinstance(obj, Mapping):
        return None
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return None
    raw = metadata.get("annotations")
    annotations: dict[str, str] = {}
    if isinstance(raw, Mapping):
        annotations = {k: v for k, v in raw.items()
                       if isinstance(k, str) and k.startswith(ANNOTATION_PREFIX) and isinstance(v, str)}
    return NodeMeta(name, annotations)


class NodeSink(Protocol):
    """Receives the reduced nodes. Called from the event loop, one call at a time."""

    def replace(self, nodes: list[NodeMeta]) -> None: ...

    def upsert(self, node: NodeMeta) -> None: ...

    def delete(self, name: str) -> None: ...


class NodeWatch:
    """List+watch Nodes into a ``NodeSink``; ``synced`` once the first LIST has landed."""

    def __init__(self, sink: NodeSink, on_error: Callable[[Exception], None] | None = None,
                 label_selector: str = "") -> None:
        self.sink = sink
        self.synced = False
        self.dropped = 0
        """Objects without a usable name (counted, never forwarded)."""
        self.errors = 0
        self.failing_since: float | None = None
        """Monotonic time of the first failure since the last successful LIST or event."""
        self.last_error = ""
        self._on_error = on_error
        self._params = {"labelSelector": label_selector} if label_selector else {}

    def _replace(self, items: list[dict[str, Any]]) -> None:
        nodes: list[NodeMeta] = []
        for item in items:
            meta = node_meta(item)
            if meta is None:
                self.dropped += 1
            else:
                nodes.append(meta)
        self.sink.replace(nodes)
        self.synced = True
        self.failing_since = None

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        self.failing_since = None
        meta = node_meta(obj)
        if meta is None:
            self.dropped += 1
        elif kind == "DELETED":
            self.sink.delete(meta.name)
        else:
            self.sink.upsert(meta)

    def _error(self, exc: Exception) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:200]
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        if self._on_error is not None:
            self._on_error(exc)

    async def run(self, client: ApiClient, backoff: Backoff | None = None, watch_timeout_s: int = 300) -> None:
        """Run forever (cancel the task to stop)."""
        await reflect(client, NODES_PATH, self._params, self._replace, self._event, self._error,
                      backoff=backoff, watch_timeout_s=watch_timeout_s)
