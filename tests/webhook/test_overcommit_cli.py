"""``temper overcommit report|restore`` against a fake API server.

There is no kube-apiserver here: an aiohttp test server speaks the API's JSON over real HTTP
(``/version``, pod list, ``pods/{name}/resize`` strategic-merge PATCH, pod merge PATCH), and
the command talks to it through ``temper.kube.client.ApiClient`` unchanged.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from temper.kube.client import ApiConfig
from temper.tiers import Tier
from tests.webhook.factories import admitted, container, pod
from webhook.overcommit_cli import EXIT_OK, EXIT_PARTIAL, run
from webhook.policy import ORIGINALS_ANNOTATION, PolicyConfig


def _scaled(name: str, *containers: dict[str, Any], policy: PolicyConfig | None = None) -> dict[str, Any]:
    result = admitted(pod(*containers), policy)
    result["metadata"]["name"] = name
    result["status"] = {"phase": "Running"}
    return result


class FakeApi:
    def __init__(self, pods: list[dict[str, Any]], version: str = "33") -> None:
        self.pods = {p["metadata"]["name"]: p for p in pods}
        self.version = version
        self.calls: list[tuple[str, str, str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/version", self.get_version)
        app.router.add_get("/api/v1/pods", self.list_pods)
        app.router.add_get("/api/v1/namespaces/{ns}/pods", self.list_pods)
        app.router.add_patch("/api/v1/namespaces/{ns}/pods/{name}/resize", self.resize)
        app.router.add_patch("/api/v1/namespaces/{ns}/pods/{name}", self.patch)
        return app

    async def get_version(self, request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": self.version + "+", "gitVersion": f"v1.{self.version}.0"})

    async def list_pods(self, request: web.Request) -> web.Response:
        items = list(self.pods.values())
        # Page at one pod per response to exercise the continue token.
        start = int(request.query.get("continue", "0"))
        meta = {"continue": str(start + 1)} if start + 1 < len(items) else {}
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                                  "items": items[start:start + 1]})

    async def resize(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("resize", request.match_info["name"], request.content_type, body))
        target = self.pods[request.match_info["name"]]
        for field, patches in body["spec"].items():
            for item in patches:
                for c in target["spec"][field]:
                    if c["name"] == item["name"]:
                        c["resources"]["requests"].update(item["resources"]["requests"])
        return web.json_response(target)

    async def patch(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("patch", request.match_info["name"], request.content_type, body))
        annotations = self.pods[request.match_info["name"]]["metadata"]["annotations"]
        for key, value in body["metadata"]["annotations"].items():
            if value is None:
                annotations.pop(key, None)
        return web.json_response(self.pods[request.match_info["name"]])


async def _serve(fake: FakeApi) -> tuple[TestServer, ApiConfig]:
    server = TestServer(fake.app())
    await server.start_server()
    return server, ApiConfig(base_url=str(server.make_url("")).rstrip("/"))


async def test_report_lists_scaled_pods_with_their_originals(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi([_scaled("web-1", container("app", "1"), container("log", "200m")),
                    {"metadata": {"name": "plain", "namespace": "shop"}, "spec": {"containers": []}}])
    server, api = await _serve(fake)
    try:
        assert await run(["report", "--json"], api) == EXIT_OK
    finally:
        await server.close()
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"namespace": "shop", "name": "web-1", "tier": "low", "factor": "0.5", "phase": "Running",
                     "problem": "", "containers": [{"name": "app", "original": "1", "current": "500m"},
                                                   {"name": "log", "original": "200m", "current": "100m"}]}]


async def test_restore_resizes_back_to_the_originals_and_drops_the_annotations() -> None:
    fake = FakeApi([_scaled("web-1", container("app", "1"), container("log", "200m"))])
    server, api = await _serve(fake)
    try:
        assert await run(["restore"], api) == EXIT_OK
        assert await run(["restore"], api) == EXIT_OK  # second time: nothing to do
    finally:
        await server.close()
    kind, name, content_type, body = fake.calls[0]
    assert (kind, name, content_type) == ("resize", "web-1", "application/strategic-merge-patch+json")
    assert body == {"spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}},
                                            {"name": "log", "resources": {"requests": {"cpu": "200m"}}}]}}
    assert fake.calls[1][0] == "patch" and fake.calls[1][2] == "application/merge-patch+json"
    restored = fake.pods["web-1"]
    assert [c["resources"]["requests"]["cpu"] for c in restored["spec"]["containers"]] == ["1", "200m"]
    assert ORIGINALS_ANNOTATION not in restored["metadata"]["annotations"]
    assert len(fake.calls) == 2


async def test_restore_on_a_cluster_without_resize_explains_the_rollout_restart(
        capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi([_scaled("web-1", container("app", "1"))], version="32")
    server, api = await _serve(fake)
    try:
        assert await run(["restore"], api) == EXIT_PARTIAL
    finally:
        await server.close()
    out = capsys.readouterr().out
    assert "rollout restart" in out and "1.33+" in out
    assert fake.calls == []


async def test_restore_refuses_a_pod_that_would_change_qos_class(capsys: pytest.CaptureFixture[str]) -> None:
    guaranteed = _scaled("db-1", container("app", "1", limit="1", memory="1Gi"),
                         policy=PolicyConfig(allow_guaranteed=True))
    fake = FakeApi([copy.deepcopy(guaranteed)])
    server, api = await _serve(fake)
    try:
        assert await run(["restore", "--dry-run"], api) == EXIT_PARTIAL
    finally:
        await server.close()
    assert "QoS class" in capsys.readouterr().out
    assert fake.calls == []


async def test_an_unreachable_api_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["report"], ApiConfig(base_url="http://127.0.0.1:9")) == 2
    assert "temper overcommit:" in capsys.readouterr().err


async def test_restore_leaves_a_pod_whose_owner_wrote_the_originals_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15 §3: ``{"a": "64"}`` written by the pod's owner must not become a 64-CPU resize
    made with the admin's credentials; the legitimate pod next to it is still restored."""
    hostile = _scaled("evil-1", container("a", "1"))
    hostile["metadata"]["annotations"][ORIGINALS_ANNOTATION] = '{"a":"64"}'
    fake = FakeApi([hostile, _scaled("web-1", container("app", "1"))])
    server, api = await _serve(fake)
    try:
        assert await run(["report", "--json"], api) == EXIT_OK
        report = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert await run(["restore"], api) == EXIT_PARTIAL
    finally:
        await server.close()
    assert "the annotation was edited" in next(r["problem"] for r in report if r["name"] == "evil-1")
    out = capsys.readouterr().out
    assert "shop/evil-1: not restored: container 'a' requests 500m" in out
    assert "shop/web-1: restored app=1" in out
    assert [(kind, name) for kind, name, _, _ in fake.calls] == [("resize", "web-1"), ("patch", "web-1")]
    assert fake.pods["evil-1"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "500m"


async def test_restore_judges_the_annotations_under_the_webhooks_config_file(tmp_path: Path) -> None:
    policy = PolicyConfig(factors={Tier.LOW: 0.2})
    fake = FakeApi([_scaled("web-1", container("app", "1"), policy=policy)])
    config = tmp_path / "temper.yaml"
    config.write_text("webhook:\n  factors: {low: 0.2}\n")
    server, api = await _serve(fake)
    try:
        assert await run(["restore", "--dry-run"], api) == EXIT_PARTIAL  # built-in factors: 0.2 is not low's
        assert await run(["restore", "--config", str(config)], api) == EXIT_OK
    finally:
        await server.close()
    assert fake.pods["web-1"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1"
