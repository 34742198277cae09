"""The node cache follows a Nodes list+watch, readiness waits for it, and HTTPS is TLS 1.2+.

No kube-apiserver exists here: the API server is faked over real HTTP by an aiohttp app that
answers ``GET /api/v1/nodes`` (LIST) and ``?watch=1`` (a JSON-lines event stream) as the API
server does; the extender reaches it through ``temper.kube`` unchanged."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from extender.app import Settings, make_app
from temper.annotations import EnforcementState
from temper.kube.client import ApiConfig
from temper.tls import server_ssl_context
from tests.connections import mint_localhost
from tests.extender.factories import NOW, args_names, critical_pod, load_annotations, node


def fake_api(events: asyncio.Queue[dict[str, Any] | None]) -> web.Application:
    async def nodes(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "1":
            return web.json_response({"kind": "NodeList", "metadata": {"resourceVersion": "10"},
                                      "items": [node("a", load_annotations(state=EnforcementState.OBSERVE_ONLY))]})
        response = web.StreamResponse()
        await response.prepare(request)
        while (event := await events.get()) is not None:
            await response.write(orjson.dumps(event) + b"\n")
        return response

    app = web.Application()
    app.router.add_get("/api/v1/nodes", nodes)
    return app


async def wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_scores_follow_the_node_watch_and_readiness_waits_for_the_first_list(aiohttp_client: Any) -> None:
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    async with TestServer(fake_api(events)) as api:
        settings = Settings(clock=lambda: NOW, kube=ApiConfig(base_url=str(api.make_url("")).rstrip("/")))
        client = await aiohttp_client(make_app(settings))

        async def ready() -> bool:
            return bool((await client.get("/readyz")).status == 200)

        async def score_of_a() -> int:
            reply = await (await client.post("/prioritize", json=args_names(critical_pod(), ["a"]))).json()
            return int(reply[0]["Score"])

        await wait_for(ready)
        assert await score_of_a() == 0  # observe-only from the LIST
        updated = node("a", load_annotations())
        updated["metadata"]["resourceVersion"] = "11"
        await events.put({"type": "MODIFIED", "object": updated})
        await wait_for(lambda: _equals(score_of_a, 8))
        await events.put({"type": "DELETED", "object": updated})
        await wait_for(lambda: _equals(score_of_a, 5))  # unknown now: neutral
        await events.put(None)


async def test_readiness_says_why_while_the_node_watch_fails_and_recovers_with_it(aiohttp_client: Any) -> None:
    """Issue 15 §2: a failing watch left /readyz at "not synced" with no reason, and a watch
    failing after the first LIST never showed in readiness at all."""
    answers = {"list": 500}
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def nodes(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "1":
            if answers["list"] == 200:
                return web.json_response({"kind": "Status", "code": 500, "message": "watch broke"}, status=500)
            return web.json_response({"kind": "Status", "code": 500, "message": "etcd down"}, status=500)
        if answers["list"] != 200:
            return web.json_response({"kind": "Status", "code": 500, "message": "etcd down"}, status=500)
        return web.json_response({"kind": "NodeList", "metadata": {"resourceVersion": "10"},
                                  "items": [node("a", load_annotations())]})

    app = web.Application()
    app.router.add_get("/api/v1/nodes", nodes)
    async with TestServer(app) as api:
        settings = Settings(clock=lambda: NOW, kube=ApiConfig(base_url=str(api.make_url("")).rstrip("/")),
                            watch_failing_not_ready_s=0.0)
        client = await aiohttp_client(make_app(settings))

        async def readyz_text() -> str:
            response = await client.get("/readyz")
            return f"{response.status} {await response.text()}"

        async def says(fragment: str) -> bool:
            return fragment in await readyz_text()

        await wait_for(lambda: says("503 node cache not synced yet: ApiError"))
        answers["list"] = 200
        # The LIST now lands, but every watch fails: not ready again, with the reason.
        await wait_for(lambda: says("503 node watch failing for"), timeout_s=15.0)
    del events


async def _equals(probe: Any, expected: int) -> bool:
    return bool(await probe() == expected)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    files = mint_localhost(tmp_path)
    return files.ca, files.cert, files.key


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")  # the point is to offer TLS 1.1
async def test_https_serves_prioritize_and_refuses_tls_1_1(tls_files: tuple[Path, Path, Path]) -> None:
    ca, cert, key = tls_files
    app = make_app(Settings(clock=lambda: NOW))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(str(cert), str(key)))
    await site.start()
    port = runner.addresses[0][1]
    try:
        good = ssl.create_default_context(cafile=str(ca))
        async with aiohttp.ClientSession() as session, session.post(
                f"https://localhost:{port}/prioritize", json=args_names(critical_pod(), ["x"]), ssl=good) as response:
            assert await response.json() == [{"Host": "x", "Score": 5}]
        old = ssl.create_default_context(cafile=str(ca))
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
            async with aiohttp.ClientSession() as session, session.get(
                    f"https://localhost:{port}/healthz", ssl=old) as response:
                await response.read()
    finally:
        await runner.cleanup()


def _hostile(annotations: dict[str, str]) -> dict[str, str]:
    from temper.annotations import TIER_LOAD_KEY
    doc = orjson.loads(annotations[TIER_LOAD_KEY])
    doc["free_m"] = 10**400
    doc["ts"] = 10**400
    return {**annotations, TIER_LOAD_KEY: __import__("json").dumps(doc)}


async def test_a_node_with_huge_numbers_scores_neutral_and_the_watch_keeps_running(aiohttp_client: Any) -> None:
    """Issue 15 §2: free_m/ts of 10^400 used to kill reflect() silently (readiness stuck)."""
    done = asyncio.Event()

    async def nodes(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "1":
            return web.json_response({"kind": "NodeList", "metadata": {"resourceVersion": "10"},
                                      "items": [node("bad", _hostile(load_annotations())),
                                                node("good", load_annotations())]})
        response = web.StreamResponse()
        await response.prepare(request)
        await done.wait()  # an idle watch, ended with the test (a sleep would hold shutdown)
        return response

    api_app = web.Application()
    api_app.router.add_get("/api/v1/nodes", nodes)
    async with TestServer(api_app) as api:
        settings = Settings(clock=lambda: NOW, kube=ApiConfig(base_url=str(api.make_url("")).rstrip("/")))
        client = await aiohttp_client(make_app(settings))

        async def ready() -> bool:
            return bool((await client.get("/readyz")).status == 200)

        await wait_for(ready)
        reply = await (await client.post("/prioritize", json=args_names(critical_pod(), ["bad", "good"]))).json()
        assert reply[0] == {"Host": "bad", "Score": 5} and reply[1]["Score"] > 5
        filtered = await client.post("/filter", json=args_names(critical_pod(), ["bad"]))
        assert filtered.status in (200, 404)
        done.set()
