"""A running console against the fake API server and fake agents, for the explorer's tests.

Why it exists: every explorer test needs the same three servers on loopback — the fake
Kubernetes API (``tests.console.fakeapi.FakeApi``, exact wire format; there is no real
kube-apiserver here), fake node agents serving ``/observe`` (``FakeAgents``), and the console
app itself — and must wait until the console's list+watch cache has synced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from console.app import Settings, create_app, token_digest
from console.explorer import Explorer
from console.explorer_api import EXPLORER, HUB
from console.plane import ActionConfig
from console.stream import EventHub
from temper.kube.client import ApiClient, ApiConfig
from tests.console.fakeapi import FakeAgents, FakeApi, populate, populate_workloads

TOKEN = "viewer-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SYNCED = {"nodes", "pods", "replicasets", "Deployment", "StatefulSet", "DaemonSet", "Job"}


@dataclass
class Running:
    api: FakeApi
    agents: FakeAgents
    client: TestClient[web.Request, web.Application]
    app: web.Application

    @property
    def hub(self) -> EventHub:
        return self.app[HUB]

    @property
    def explorer(self) -> Explorer:
        return self.app[EXPLORER]

    async def get_json(self, path: str, status: int = 200) -> object:
        response = await self.client.get(path, headers=AUTH)
        assert response.status == status, (path, response.status, await response.text())
        return await response.json()

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running_console(nodes: int = 3, pods: int = 12, workloads: bool = True,
                          stream_capacity: int | None = None,
                          settings_for: Callable[[str], Settings] | None = None) -> AsyncIterator[Running]:
    """``settings_for(agent_url)``, when given, makes the console's settings (the default: the
    viewer token ``TOKEN`` and the fake agents' URL)."""
    api = FakeApi()
    populate(api, nodes=nodes, pods=pods, namespaces=2)
    if workloads:
        populate_workloads(api)
    await api.start()
    agents = FakeAgents(api)
    agent_runner = web.AppRunner(agents.app())
    await agent_runner.setup()
    site = web.TCPSite(agent_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the server private
    agent_url = f"http://127.0.0.1:{port}/{{node}}"
    settings = settings_for(agent_url) if settings_for else Settings(
        tokens={token_digest(b"console", TOKEN): ("vera", "viewer")}, actions=ActionConfig(agent_url=agent_url))
    app = create_app(ApiClient(ApiConfig(api.url)), settings)
    if stream_capacity is not None:
        app[HUB].ring.__init__(stream_capacity, app[HUB].ring.epoch)  # type: ignore[misc]  # test-only resize
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    running = Running(api, agents, client, app)
    try:
        await running.until(lambda: app[EXPLORER].synced >= SYNCED)
        yield running
    finally:
        await client.close()
        await agent_runner.cleanup()
        await api.stop()
