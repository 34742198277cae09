"""A console wired to the fake API server and fake node agents, with one token per role.

Not a kube-apiserver: ``tests.console.fakeapi`` speaks the API's wire format over real HTTP
(there is none to be had here), and ``FakeAgents`` stands in for the node agents. The console
is the real app from ``console.app.create_app``; its store is a SQLite file under ``tmp_path``
so tests can reopen it, and its audit echo goes to ``harness.out``.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from console.app import Settings, create_app, token_digest
from console.plane import PLANE, ActionConfig, Plane
from console.savings import SavingsConfig
from temper.kube.client import ApiClient, ApiConfig
from tests.console.fakeapi import FakeAgents, FakeApi, populate

SECRETS = {"viewer": "viewer-secret", "operator": "operator-secret", "admin": "admin-secret"}
CONFIGMAP = ("infera", "infera-agent")
AiohttpClient = Callable[[web.Application], Awaitable["TestClient[web.Request, web.Application]"]]


@dataclass
class Harness:
    api: FakeApi
    agents: FakeAgents
    agents_url: str
    client: TestClient[web.Request, web.Application]
    out: io.StringIO
    store_path: Path

    @property
    def plane(self) -> Plane:
        app = self.client.app
        assert app is not None
        return app[PLANE]

    async def call(self, method: str, path: str, role: str | None = "admin", body: Any = None,
                   token: str | None = None) -> tuple[int, Any]:
        secret = token or (SECRETS[role] if role else "")
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        async with self.client.request(method, path, **kwargs) as response:
            if response.headers.get("Content-Type", "").startswith("text/event-stream"):
                return response.status, await response.content.readany()  # a live stream never ends
            raw = await response.read()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw

    def audit_count(self) -> int:
        return self.plane.audit.store.last_audit()[0]

    def echoed(self) -> list[dict[str, Any]]:
        return [json.loads(line)["audit"] for line in self.out.getvalue().splitlines()]

    def set_enforcement(self, node: str, state: str) -> None:
        obj = self.api.objects["nodes"][("", node)]
        obj["metadata"]["annotations"]["infera.io/enforcement"] = json.dumps(
            {"v": 1, "state": state, "reason": "", "kernel": "6.12.8", "since": 1764316800, "exit": "",
             "scheduler": "temper"})
        self.api.put("nodes", obj)


async def serve(app: web.Application, host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the server private
    return runner, f"http://{host}:{port}"


async def start(aiohttp_client: AiohttpClient, tmp_path: Path, nodes: int = 4, pods: int = 40,
                agents_host: str = "127.0.0.1", agents_by_ip: bool = False,
                prepare: Callable[[FakeApi], None] | None = None, savings: SavingsConfig | None = None,
                **config: Any) -> tuple[Harness, Callable[[], Awaitable[None]]]:
    """The harness and its stop function; returns once the console's node cache is full.

    The fake agents listen on ``agents_host``; ``agents_by_ip`` makes the console's template
    ``http://{ip}:PORT/{node}`` (the chart's form) instead of the fixed host; ``prepare`` edits
    the fake API's objects before it starts."""
    api = FakeApi()
    populate(api, nodes=nodes, pods=pods, namespaces=2)
    api.put("configmaps", {"metadata": {"namespace": CONFIGMAP[0], "name": CONFIGMAP[1], "annotations": {}},
                           "data": {}})
    if prepare is not None:
        prepare(api)
    await api.start()
    agents = FakeAgents(api)
    agents_runner, agents_url = await serve(agents.app(), agents_host)
    template = f"http://{{ip}}:{agents_url.rsplit(':', 1)[1]}" if agents_by_ip else agents_url
    out = io.StringIO()
    store = tmp_path / "console.db"
    actions = ActionConfig(**{"store_path": str(store), "agent_url": template + "/{node}",
                              "agent_configmap": "/".join(CONFIGMAP), "drain_retry_s": 0.05,
                              "converge_poll_s": 0.02, "audit_out": out, **config})
    settings = Settings(tokens={token_digest(b"console", s): (f"boot-{r}", r) for r, s in SECRETS.items()},
                        actions=actions, savings=savings or SavingsConfig())
    client = await aiohttp_client(create_app(ApiClient(ApiConfig(api.url)), settings))
    harness = Harness(api, agents, agents_url, client, out, store)
    for _ in range(200):
        if len(harness.plane.nodes()) == nodes:
            break
        await asyncio.sleep(0.02)

    async def stop() -> None:
        await agents_runner.cleanup()
        await api.stop()
    return harness, stop
