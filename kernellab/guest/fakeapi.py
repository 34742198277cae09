"""A minimal Kubernetes API server for the lab guest: one Node and one ConfigMap.

Why it exists: no kube-apiserver can run here, yet the node agent's annotation publishing and
safe-mode polling are production paths worth running against the real kernel. This serves
exactly the calls the agent makes — ``GET``/``PATCH /api/v1/nodes/NAME`` (JSON merge patch of
``metadata``) and ``GET /api/v1/namespaces/NS/configmaps/NAME`` — on loopback, in a thread,
and lets the scenario read and set annotations. Anything else answers 404 like the API does.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from pathlib import Path
from typing import Any

from aiohttp import web


class FakeApi:
    def __init__(self, node: str, configmap: tuple[str, str]) -> None:
        self.node_name = node
        self.configmap_ref = configmap
        self.node: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                                     "metadata": {"name": node, "annotations": {}, "resourceVersion": "1"}}
        self.configmap: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": configmap[1], "namespace": configmap[0], "annotations": {}}, "data": {}}
        self.patches = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    # ---- scenario side ----
    def annotations(self) -> dict[str, str]:
        with self._lock:
            return dict(self.node["metadata"]["annotations"])

    def set_node_annotation(self, key: str, value: str | None) -> None:
        with self._lock:
            notes = self.node["metadata"]["annotations"]
            if value is None:
                notes.pop(key, None)
            else:
                notes[key] = value

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "lab",
            "clusters": [{"name": "lab", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "lab", "user": {"token": "lab-token"}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}]}))
        return path

    # ---- server side ----
    async def _get_node(self, request: web.Request) -> web.Response:
        if request.match_info["name"] != self.node_name:
            return web.json_response({"kind": "Status", "code": 404, "message": "not found"}, status=404)
        with self._lock:
            return web.json_response(copy.deepcopy(self.node))

    async def _patch_node(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.patches += 1
            for key, value in ((body.get("metadata") or {}).get("annotations") or {}).items():
                if value is None:
                    self.node["metadata"]["annotations"].pop(key, None)
                else:
                    self.node["metadata"]["annotations"][key] = value
            return web.json_response(copy.deepcopy(self.node))

    async def _get_configmap(self, request: web.Request) -> web.Response:
        if (request.match_info["ns"], request.match_info["name"]) != self.configmap_ref:
            return web.json_response({"kind": "Status", "code": 404, "message": "not found"}, status=404)
        with self._lock:
            return web.json_response(copy.deepcopy(self.configmap))

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.add_routes([web.get("/api/v1/nodes/{name}", self._get_node),
                            web.patch("/api/v1/nodes/{name}", self._patch_node),
                            web.get("/api/v1/namespaces/{ns}/configmaps/{name}", self._get_configmap)])
            runner = web.AppRunner(app)
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the server private
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(30)
