"""Test doubles for the node agent: a fake Kubernetes API server spoken to over real HTTP
(an aiohttp application serving the API's JSON for pods, nodes and configmaps), and a fake
Enforcer that records every call. Nothing here patches the code under test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from nodeagent.enforcement import EnforcementError, EnforcerStatus, Probe
from temper.bandwidth import Bandwidth
from temper.bpfmaps import ThrottleStats
from temper.plan import Plan
from temper.tiers import Tier
from temper.waits import WaitHistogram


@dataclass
class FakeApiState:
    pods: list[dict[str, Any]] = field(default_factory=list)
    resource_version: int = 100
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    configmaps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    list_failures: int = 0
    """Answer the next N pod LISTs with 500."""
    watch_scripts: list[list[dict[str, Any] | int]] = field(default_factory=list)
    """One script per watch request: events to stream, or an int HTTP status to answer with."""
    patch_failures: int = 0
    get_failures: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    watch_started: asyncio.Event = field(default_factory=asyncio.Event)


def _status(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}
    return web.json_response(body, status=code)


def fake_api(state: FakeApiState) -> web.Application:
    async def pods(request: web.Request) -> web.StreamResponse:
        state.requests.append(("GET", request.path, dict(request.query)))
        if request.query.get("watch") == "1":
            state.watch_started.set()
            script = state.watch_scripts.pop(0) if state.watch_scripts else []
            if isinstance(script, int):
                return _status(script, "scripted failure")
            response = web.StreamResponse()
            response.content_type = "application/json"
            await response.prepare(request)
            for event in script:
                if isinstance(event, int):
                    continue
                await response.write(json.dumps(event).encode() + b"\n")
            if not script:
                await asyncio.sleep(3600)  # an idle watch: held open until the client goes away
            await response.write_eof()
            return response
        if state.list_failures:
            state.list_failures -= 1
            return _status(500, "etcdserver: leader changed")
        return web.json_response({"kind": "PodList", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": str(state.resource_version)},
                                  "items": state.pods})

    async def node(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        state.requests.append((request.method, request.path, dict(request.query)))
        if name not in state.nodes:
            return _status(404, f'nodes "{name}" not found')
        if request.method == "PATCH":
            if request.headers.get("Content-Type") != "application/merge-patch+json":
                return _status(415, "unsupported patch type")
            if state.patch_failures:
                state.patch_failures -= 1
                return _status(500, "internal error")
            body = await request.json()
            state.patches.append((name, body))
            annotations = state.nodes[name].setdefault("metadata", {}).setdefault("annotations", {})
            for key, value in body["metadata"]["annotations"].items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
        elif state.get_failures:
            state.get_failures -= 1
            return _status(503, "unavailable")
        return web.json_response(state.nodes[name])

    async def configmap(request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        state.requests.append((request.method, request.path, {}))
        if key not in state.configmaps:
            return _status(404, "configmap not found")
        return web.json_response(state.configmaps[key])

    app = web.Application()
    app.router.add_get("/api/v1/pods", pods)
    app.router.add_route("*", "/api/v1/nodes/{name}", node)
    app.router.add_get("/api/v1/namespaces/{ns}/configmaps/{name}", configmap)
    return app


class RecordingEnforcer:
    """An Enforcer that records calls; ``fail_applies`` makes the next N applies raise."""

    def __init__(self, supported: bool = True) -> None:
        self.supported = supported
        self.calls: list[tuple[str, Any]] = []
        self.fail_applies = 0
        self.attached = False
        self.attach_count = 0
        self.last_exit = ""
        self.counters: Mapping[Tier, Mapping[str, int]] = {}
        self.throttling: Mapping[int, ThrottleStats] = {}
        self.waits: Mapping[Tier, WaitHistogram] = {}
        self.pod_waits: Mapping[int, WaitHistogram] = {}
        self.bandwidth: Mapping[int, Bandwidth] | None = None
        """What the last apply was handed (None: leave the limits as they are)."""
        self.bandwidths: list[dict[int, Bandwidth]] = []
        """The ``bandwidth=`` of every apply, in order."""

    async def probe(self) -> Probe:
        self.calls.append(("probe", None))
        return Probe(self.supported, "" if self.supported else "kernel 6.1.0 is older than 6.12", "6.12.8")

    async def apply(self, plan: Plan, cgroup_ids: Mapping[str, int], *,
                    bandwidth: Mapping[int, Bandwidth] | None = None) -> None:
        self.calls.append(("apply", (plan, dict(cgroup_ids))))
        self.bandwidth = bandwidth
        self.bandwidths.append(dict(bandwidth or {}))
        if self.fail_applies:
            self.fail_applies -= 1
            raise EnforcementError("map update failed", "bpftool: Operation not permitted")
        if not self.attached:
            self.attached = True
            self.attach_count += 1

    async def stand_down(self, reason: str) -> None:
        self.calls.append(("stand_down", reason))
        self.attached = False

    async def status(self) -> EnforcerStatus:
        return EnforcerStatus(attached=self.attached, scheduler="temper" if self.attached else "",
                              last_exit=self.last_exit, attach_count=self.attach_count, counters=self.counters,
                              throttling=self.throttling, waits=self.waits, pod_waits=self.pod_waits)

    def eject(self, reason: str) -> None:
        """What the kernel's watchdog does: the scheduler is gone, with an exit reason."""
        self.attached = False
        self.last_exit = reason

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]
