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

The NodeNames fast form: kube-scheduler marshals ExtenderArgs with Go's ``encoding/json``,
compact and in struct order, so the body ends ``,"NodeNames":["a","b",...]}``. When it does
and every name is plain (DNS-subdomain characters, no escapes, 1..253 of them),
``decode_args`` parses only the small head (the Pod) with orjson and hands the names array to
the per-name backend's ``split_plain`` (``extender.fastreply``): natively one scan of the
bytes that keeps each name as an offset into the body (no Python object per name); in pure
Python one ``split`` and one ``translate`` to prove it plain. The names stay bytes — the
node table is keyed by each name's JSON encoding (``host_key``), which for a plain name is
the name itself. Any other shape (whitespace, escapes, ``null``, full Nodes, an over-long
name) takes the general path, which also gives every error message; both give the same
``DecodedArgs`` (property-tested). Nothing is memoised: at scale kube-scheduler sends a
different subset, in a different order, on nearly every call.

Why orjson and not a schema decoder (msgspec Structs, or orjson for the names too): both
make a ``str`` per name, which alone costs more per name than the whole native scan.

Why the Pod is still parsed in full: its tier (``spec.priorityClassName`` / ``spec.priority``)
and CPU request (every container's, init containers', ``spec.overhead``) are spread over the
object, and orjson parses the benchmark's 4 KiB Pod in ~10-25 µs — less than a byte scanner
that could prove it found the right keys at the right depth would cost in Python, and a small
share of a call (``benchmarks/RESULTS.md``).

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

from extender.fastreply import BACKEND, MAX_NAME_LENGTH, Names
from temper.kube.nodecache import NodeMeta, node_meta

MAX_NODE_NAME_LENGTH = MAX_NAME_LENGTH
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


def host_key(name: str) -> bytes:
    """A node name as it appears between the quotes of its JSON string (orjson's encoding).

    The node table is keyed by it, so a compact body's names are looked up as the bytes they
    arrive as, and ``b'{"Host":"' + key + b'","Score":N}'`` is exactly ``orjson.dumps`` of
    the ``HostPriority``."""
    return orjson.dumps(name)[1:-1]


@dataclass(frozen=True, slots=True)
class DecodedArgs:
    """ExtenderArgs after validation: the pod, the node names as ``host_key`` bytes, and in
    full-Node mode the reduced nodes."""

    pod: Mapping[str, Any]
    keys: Names
    """One per requested node, in request order (``NodeNames``, or the names of ``Nodes``): a
    list, or from the fast form the backend's ``split_plain`` result (``extender.fastreply``)."""
    nodes: list[NodeMeta] | None
    """Full-Node mode only."""
    node_items: list[dict[str, Any]] | None
    """The original Node objects (full mode), echoed back by the filter verb."""
    fast: bool = False
    """Decoded by the NodeNames fast form (the general path gives the same values)."""

    @property
    def names(self) -> list[str]:
        """The node names as strings (decoded on demand: the hot path never needs them)."""
        if self.nodes is not None:
            return [n.name for n in self.nodes]
        if not self.keys:
            return []
        decoded: list[str] = orjson.loads(b'["' + b'","'.join(self.keys) + b'"]')
        return decoded


_NAMES_KEY = b'"NodeNames":'
_WHITESPACE = b" \t\r\n"


def split_node_names(body: bytes) -> tuple[bytes, bytes] | None:
    """``(head, names)`` for a body of the form ``{...,"NodeNames":[<plain names>]}``, else None.

    ``head`` is the body up to the ``NodeNames`` member, closed with ``}``; ``names`` the raw
    array. If ``head`` parses as a non-empty JSON object and ``names`` is a compact array of
    plain strings (``extender.fastreply``'s ``split_plain``), the whole body is that object
    plus ``NodeNames`` — the ``,`` before the key then sits between two members at the top level."""
    end = len(body)
    while end and body[end - 1] in _WHITESPACE:
        end -= 1
    if end < 4 or body[end - 2:end] != b"]}":
        return None
    start = body.rfind(b"[", 0, end)
    comma = start - len(_NAMES_KEY) - 1
    if comma < 1 or body[comma] != 0x2C or body[comma + 1:start] != _NAMES_KEY:  # 0x2C: ","
        return None
    return body[:comma] + b"}", body[start:end - 1]


def _fast(body: bytes) -> DecodedArgs | None:
    split = split_node_names(body)
    if split is None:
        return None
    head, raw = split
    keys = BACKEND.split_plain(raw)
    if keys is None:
        return None
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError:
        return None  # the general path reports it, with the position in the whole body
    if not isinstance(doc, dict) or not doc:
        return None
    return DecodedArgs(_pod(doc), keys, None, None, fast=True)


def decode_args(body: bytes) -> DecodedArgs:
    """Parse and validate an ExtenderArgs body; raises ``BadRequest`` with a precise message."""
    fast = _fast(body)
    if fast is not None:
        return fast
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("ExtenderArgs must be a JSON object")
    pod = _pod(doc)
    names = doc.get("NodeNames")
    if names is not None:
        if not isinstance(names, list):
            raise BadRequest("ExtenderArgs.NodeNames must be a list of strings")
        # C-level checks (map/min/max): a per-name Python loop costs ~1 ms at 5,000 nodes.
        if names and (set(map(type, names)) != {str} or min(map(len, names)) == 0
                      or max(map(len, names)) > MAX_NODE_NAME_LENGTH):
            raise BadRequest("ExtenderArgs.NodeNames must hold node names (strings of 1..253 characters)")
        return DecodedArgs(pod, [host_key(name) for name in names], None, None)
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
    return DecodedArgs(pod, [host_key(node.name) for node in nodes], nodes, items)


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    pod = doc.get("Pod")
    if pod is None:
        raise BadRequest("ExtenderArgs.Pod is missing")
    if not isinstance(pod, dict):
        raise BadRequest("ExtenderArgs.Pod must be an object")
    if "spec" in pod and not isinstance(pod["spec"], dict):
        raise BadRequest("ExtenderArgs.Pod.spec must be an object")
    return pod


def encode(value: object) -> bytes:
    return orjson.dumps(value)
