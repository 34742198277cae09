"""The kube-scheduler extender wire format (``k8s.io/kube-scheduler/extender/v1``), typed, in one place.

Why one module: every byte the extender reads or writes crosses here, so the format cannot
drift between verbs, tests and the benchmark. Keys are capitalised exactly as kube-scheduler
marshals them (Go struct field names, no json tags)::

    ExtenderArgs          {"Pod": v1.Pod, "Nodes": v1.NodeList | null, "NodeNames": [str] | null}
    HostPriorityList      [{"Host": str, "Score": int 0..10}]
    ExtenderFilterResult  {"Nodes": v1.NodeList | null, "NodeNames": [str] | null,
                           "FailedNodes": {name: reason}, "FailedAndUnresolvableNodes": {...},
                           "Error": str}

``NodeNames`` is sent when the extender is ``nodeCacheCapable: true``; otherwise ``Nodes``
carries full Node objects. The filter reply answers in the same form it was asked in.

Decoding is strict and bounded: bodies are parsed with orjson (a 5,000-node list of full
Node objects decodes several times faster than with ``json``), the size is capped by the HTTP
layer before anything is read (``ExtenderArgsError`` subclasses below). Nothing here scores.

Exceptions (one tree; ``extender.app`` maps it to HTTP status once)::

    ExtenderError                 base; ``status`` is the HTTP status
      BadRequest (400)            malformed JSON, missing/invalid Pod, Nodes or NodeNames
      PayloadTooLarge (413)       body above the configured cap
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import orjson

from temper.kube.nodecache import NodeMeta, node_meta

MAX_NODE_NAME_LENGTH = 253
"""A Node name is a DNS subdomain (RFC 1123): at most 253 characters."""


class ExtenderError(Exception):
    """Base of the extender's errors; ``status`` is the HTTP status it maps to."""

    status = 500


class BadRequest(ExtenderError):
    status = 400


class PayloadTooLarge(ExtenderError):
    status = 413


class NodeList(TypedDict, total=False):
    apiVersion: str
    kind: str
    items: list[dict[str, Any]]


class ExtenderArgs(TypedDict, total=False):
    Pod: dict[str, Any]
    Nodes: NodeList | None
    NodeNames: list[str] | None


class HostPriority(TypedDict):
    Host: str
    Score: int


HostPriorityList = list[HostPriority]


class ExtenderFilterResult(TypedDict, total=False):
    Nodes: NodeList | None
    NodeNames: list[str] | None
    FailedNodes: dict[str, str]
    FailedAndUnresolvableNodes: dict[str, str]
    Error: str


@dataclass(frozen=True, slots=True)
class DecodedArgs:
    """ExtenderArgs after validation: the pod, and either node names or reduced nodes."""

    pod: Mapping[str, Any]
    node_names: list[str] | None
    nodes: list[NodeMeta] | None
    node_items: list[dict[str, Any]] | None
    """The original Node objects (full mode), echoed back by the filter verb."""

    @property
    def names(self) -> list[str]:
        if self.node_names is not None:
            return self.node_names
        return [n.name for n in self.nodes or ()]


def decode_args(body: bytes) -> DecodedArgs:
    """Parse and validate an ExtenderArgs body; raises ``BadRequest`` with a precise message."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("ExtenderArgs must be a JSON object")
    pod = doc.get("Pod")
    if pod is None:
        raise BadRequest("ExtenderArgs.Pod is missing")
    if not isinstance(pod, dict):
        raise BadRequest("ExtenderArgs.Pod must be an object")
    if "spec" in pod and not isinstance(pod["spec"], dict):
        raise BadRequest("ExtenderArgs.Pod.spec must be an object")
    names = doc.get("NodeNames")
    if names is not None:
        if not isinstance(names, list):
            raise BadRequest("ExtenderArgs.NodeNames must be a list of strings")
        # C-level checks (map/min/max): a per-name Python loop costs ~1 ms at 5,000 nodes.
        if names and (set(map(type, names)) != {str} or min(map(len, names)) == 0
                      or max(map(len, names)) > MAX_NODE_NAME_LENGTH):
            raise BadRequest("ExtenderArgs.NodeNames must hold node names (strings of 1..253 characters)")
        return DecodedArgs(pod, names, None, None)
    node_list = doc.get("Nodes")
    if node_list is None:
        raise BadRequest("ExtenderArgs carries neither NodeNames nor Nodes")
    items = node_list.get("items") if isinstance(node_list, dict) else None
    if items is None and isinstance(node_list, dict):
        items = []
    if not isinstance(items, list):
        raise BadRequest("ExtenderArgs.Nodes must be a NodeList with an 'items' list")
    nodes: list[NodeMeta] = []
    for index, item in enumerate(items):
        meta = node_meta(item)
        if meta is None or len(meta.name) > MAX_NODE_NAME_LENGTH:
            raise BadRequest(f"ExtenderArgs.Nodes.items[{index}] has no valid metadata.name")
        nodes.append(meta)
    return DecodedArgs(pod, None, nodes, items)


def encode(value: object) -> bytes:
    return orjson.dumps(value)
