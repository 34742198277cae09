"""Safe mode: the operator's kill switch, per node or for the whole fleet.

Why it exists: ``infera.io/safe-mode-requested`` on this agent's Node, or on the agent's own
ConfigMap (fleet-wide), must stand the scheduler down within 5 s and return the node to the
stock scheduler; removing it resumes enforcement.

Design: poll both objects with a GET every ``poll_s`` seconds (``AgentConfig.safe_mode_poll_s``,
at most 5 s by config validation, default 2 s) rather than watching: two tiny GETs are cheap,
have no resourceVersion state to lose, and bound the reaction time to one poll plus one GET
timeout. The decision is pure (``decide``); ``SafeModePoller`` is the I/O. On each change it
awaits ``on_change(requested, reason)``; the agent's handler calls ``enforcer.stand_down`` on
entry and forces a re-apply on exit.

Failure model (fail static): when a GET fails, that object's last known answer is kept — an
API outage neither enters nor leaves safe mode by itself. A 404 means "no such object", so no
request from it (a deleted ConfigMap releases the fleet switch). Errors are counted in
``errors`` and logged; nothing is raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from temper.annotations import SAFE_MODE_KEY, safe_mode_requested

if TYPE_CHECKING:
    from temper.kube.client import ApiClient

log = logging.getLogger(__name__)

OnChange = Callable[[bool, str], Awaitable[None]]


@dataclass(frozen=True)
class SafeModeSources:
    node: bool | None
    """Requested on the Node; None while unknown (never fetched successfully)."""
    configmap: bool | None


def decide(sources: SafeModeSources) -> tuple[bool, str]:
    """Pure: (requested, reason). Either source requesting it is enough."""
    if sources.node:
        return True, f"{SAFE_MODE_KEY} set on the node"
    if sources.configmap:
        return True, f"{SAFE_MODE_KEY} set on the agent ConfigMap (fleet)"
    return False, ""


def parse_configmap_ref(text: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` -> (namespace, name), validated as DNS labels/subdomains."""
    namespace, sep, name = text.partition("/")
    valid = all(part and len(part) <= 253 and part.replace("-", "").replace(".", "").isalnum()
                and part == part.lower() for part in (namespace, name))
    if not sep or not valid or "/" in name:
        raise ValueError(f"--configmap must be NAMESPACE/NAME, got {text!r}")
    return namespace, name


class SafeModePoller:
    def __init__(self, client: ApiClient, node_name: str, configmap: tuple[str, str] | None,
                 poll_s: float, on_change: OnChange, request_timeout_s: float = 2.5,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.client = client
        self.node_path = f"/api/v1/nodes/{node_name}"
        self.configmap_path = (f"/api/v1/namespaces/{configmap[0]}/configmaps/{configmap[1]}"
                               if configmap else None)
        self.poll_s = poll_s
        self.request_timeout_s = request_timeout_s
        """Bounds one GET so a hung API server cannot push the reaction past 5 s."""
        self.on_change = on_change
        self.sources = SafeModeSources(None, None if configmap else False)
        self.requested = False
        self.reason = ""
        self.errors = 0
        self._on_error = on_error

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if self._on_error is not None:
            self._on_error(exc)

    async def _fetch(self, path: str, last: bool | None) -> bool | None:
        from temper.kube.client import ApiError

        try:
            obj: dict[str, Any] = await asyncio.wait_for(self.client.get(path), self.request_timeout_s)
        except ApiError as exc:
            if exc.status == 404:
                return False
            self._failed(exc)
            log.warning("safe-mode poll of %s failed (keeping last answer): %s", path, exc)
            return last
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            self._failed(exc)
            log.warning("safe-mode poll of %s failed (keeping last answer): %s: %s",
                        path, type(exc).__name__, exc)
            return last
        metadata = obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        return safe_mode_requested(annotations if isinstance(annotations, dict) else None)

    async def poll_once(self) -> bool:
        """Fetch both objects, notify on a change; returns whether safe mode is requested."""
        node = await self._fetch(self.node_path, self.sources.node)
        configmap = (await self._fetch(self.configmap_path, self.sources.configmap)
                     if self.configmap_path else False)
        self.sources = SafeModeSources(node, configmap)
        requested, reason = decide(self.sources)
        if requested != self.requested or (requested and reason != self.reason):
            changed = requested != self.requested
            self.requested, self.reason = requested, reason
            if changed:
                log.warning("safe mode %s%s", "requested: " if requested else "released",
                            reason)
                await self.on_change(requested, reason)
        return self.requested

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.poll_s)
