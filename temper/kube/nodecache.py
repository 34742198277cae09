"""A watch of the cluster's Nodes reduced to what Temper reads: each node's name and annotations.

Why it exists: the scheduler extender in ``nodeCacheCapable`` mode receives only node *names*
and must answer from its own copy of every node's annotations; other readers of the node
annotations (the management plane) need the same thing. Keeping 5,000 full Node objects
(status.images alone can be tens of KiB each) would waste memory, so every object is reduced
on arrival to a ``NodeMeta``: the name plus the string-valued annotations under Temper's
domain (``infera.io/``) — the only keys any reader needs.

Design: ``NodeWatch`` is ``temper.kube.objectwatch.ObjectWatch`` on ``/api/v1/nodes`` with
``node_meta`` as the reduction; it forwards to a ``NodeSink`` (``replace`` after each LIST,
``upsert`` / ``delete`` per watch event). The sink owns the data; the watch only tracks
``synced`` (a LIST has completed, so readiness can be reported) and counts failures.

Invariants: a sink never sees a half-listed state (``replace`` receives the whole LIST);
objects without a string ``metadata.name`` are dropped and counted, never forwarded; the
annotations forwarded are always ``dict[str, str]``.

Exceptions: none of its own; API failures are ``temper.kube.client.ApiError`` and are handled
by the reflector's backoff (reported through ``on_error``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from temper.annotations import DOMAIN
from temper.kube.objectwatch import ObjectWatch, Sink, name_and_metadata, string_map

NODES_PATH = "/api/v1/nodes"
ANNOTATION_PREFIX = f"{DOMAIN}/"


@dataclass(frozen=True, slots=True)
class NodeMeta:
    """A Node reduced to its name and Temper's annotations (``infera.io/*``)."""

    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)


def node_meta(obj: object) -> NodeMeta | None:
    """Reduce an API Node object; ``None`` when it has no usable ``metadata.name``."""
    found = name_and_metadata(obj)
    if found is None:
        return None
    name, metadata = found
    return NodeMeta(name, string_map(metadata.get("annotations"), ANNOTATION_PREFIX))


NodeSink = Sink[NodeMeta]
"""Receives the reduced nodes. Called from the event loop, one call at a time."""


class NodeWatch(ObjectWatch[NodeMeta]):
    """List+watch Nodes into a ``NodeSink``; ``synced`` once the first LIST has landed."""

    def __init__(self, sink: NodeSink, on_error: Callable[[Exception], None] | None = None,
                 label_selector: str = "") -> None:
        super().__init__(NODES_PATH, node_meta, sink, on_error, label_selector)
