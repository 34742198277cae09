"""Where a node's agent answers: the one place the ``--agent-url`` template becomes a URL.

Why it exists: two features talk to the node agents — the audited trace actions
(``console.actions``: ``POST /traces``, ``GET /traces/{id}``) and the savings usage sampler
(``console.usage``: ``GET /observe``) — and both must read ``--agent-url`` the same way. The
template names the agent of one node with ``{node}`` (the node's name, e.g. a headless
Service ``http://{node}.agents:9100``) and/or ``{ip}`` (the node's ``InternalIP`` from
``status.addresses``, e.g. a hostPort DaemonSet ``http://{ip}:9100``); the caller appends
the agent's path. Pure: no I/O; callers bring the node's name and address.

Invariant: a template that needs ``{ip}`` never yields a URL for a node without one
(``agent_base`` answers None), so no request goes to ``http://:9100``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def internal_ip(node: Mapping[str, Any]) -> str:
    """The node object's first ``InternalIP`` address ("" when it has none)."""
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((str(a.get("address") or "") for a in addresses
                 if isinstance(a, Mapping) and a.get("type") == "InternalIP"), "")


def agent_base(template: str, node: str, ip: str) -> str | None:
    """The agent's base URL (no trailing slash) for ``node``; None when the template needs an IP
    the node does not have. ``template`` must be non-empty (an empty one means no agents)."""
    if "{ip}" in template and not ip:
        return None
    return template.replace("{node}", node).replace("{ip}", ip).rstrip("/")
