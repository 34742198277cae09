"""The outbound-only tunnel's wire format: JSON text frames over one WebSocket (pure).

Why it exists: a peer cluster whose plane cannot be reached from the hub (no inbound route,
NAT, a firewall that only lets traffic out) dials the hub instead and keeps one WebSocket
open: ``GET /api/v1/hub/tunnel/{name}`` with ``Authorization: Bearer <the peer's token>``
(the token the hub's registry holds for that dial-in peer). Over it the hub sends requests and
the peer answers them from its own plane, so the hub serves that peer's API exactly as for a
peer it can dial. The design is HTTP-over-WebSocket, deliberately small:

    hub  -> peer  {"t": "req", "id": 7, "method": "GET", "path": "/api/v1/clusters/edge/nodes",
                   "query": "limit=10", "headers": {...}, "body": "<base64>"}
    hub  -> peer  {"t": "cancel", "id": 7}              (the hub's client went away)
    peer -> hub   {"t": "head", "id": 7, "status": 200, "headers": {"Content-Type": ...}}
    peer -> hub   {"t": "chunk", "id": 7, "data": "<base64>"}    (0..n, so streams work)
    peer -> hub   {"t": "end", "id": 7}
    peer -> hub   {"t": "error", "id": 7, "message": "..."}      (instead of head: no answer)

Requests are multiplexed by ``id`` (the hub's counter); frames of different requests
interleave. The peer answers each request with its *own* token, whatever the hub sent: the
peer alone decides what the hub may do there. Only the headers in ``FORWARDED_REQUEST`` /
``FORWARDED_RESPONSE`` cross. A frame that does not parse is dropped by ``decode`` (``None``),
never a crash; either side may drop the socket, and the peer redials with backoff.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

FORWARDED_REQUEST = ("Accept", "Content-Type", "Last-Event-ID", "X-Temper-Hub-User")
FORWARDED_RESPONSE = ("Content-Type", "Cache-Control")
KINDS = {"req": ("method", "path", "query", "headers", "body"), "cancel": (), "head": ("status", "headers"),
         "chunk": ("data",), "end": (), "error": ("message",)}
TYPES: Mapping[str, type | tuple[type, ...]] = {"method": str, "path": str, "query": str, "headers": dict,
                                                "body": str, "status": int, "data": str, "message": str}


def pick(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: headers[name] for name in names if name in headers}


def encode(kind: str, ident: int, **fields: Any) -> str:
    return json.dumps({"t": kind, "id": ident, **fields}, separators=(",", ":"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def decode(text: object) -> dict[str, Any] | None:
    """A frame, checked: known ``t``, an int ``id``, the kind's fields with their types."""
    if not isinstance(text, str):
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, dict) or frame.get("t") not in KINDS:
        return None
    if not isinstance(frame.get("id"), int) or isinstance(frame.get("id"), bool):
        return None
    for name in KINDS[frame["t"]]:
        if not isinstance(frame.get(name), TYPES[name]) or isinstance(frame.get(name), bool):
            return None
    if "headers" in frame and not all(isinstance(k, str) and isinstance(v, str) for k, v in frame["headers"].items()):
        return None
    return frame
