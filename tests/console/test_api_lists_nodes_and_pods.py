"""The console against the fake API server over real HTTP: auth, paging, a valid OpenAPI spec."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from console.app import Settings, create_app, token_digest
from console.openapi import spec
from temper.kube.client import ApiClient, ApiConfig
from tests.console.fakeapi import FakeApi, populate


def test_the_generated_openapi_document_validates() -> None:
    validate(spec())  # type: ignore[arg-type]  # the validator types its input loosely


async def test_nodes_page_with_continue_and_token_roles(aiohttp_client: object) -> None:
    api = FakeApi()
    populate(api, nodes=25, pods=100)
    await api.start()
    try:
        settings = Settings(tokens={token_digest(b"console", "s3cret"): ("alice", "viewer")})
        client: TestClient = await aiohttp_client(create_app(ApiClient(ApiConfig(api.url)), settings))  # type: ignore[operator]
        for _ in range(100):
            if (await client.get("/api/v1/clusters/local/nodes?limit=10",
                                 headers={"Authorization": "Bearer s3cret"})).status == 200:
                body = await (await client.get("/api/v1/clusters/local/nodes?limit=10",
                                               headers={"Authorization": "Bearer s3cret"})).json()
                if body["total"] == 25:
                    break
            await asyncio.sleep(0.05)
        assert len(body["items"]) == 10 and body["continue"] == "node-00009"
        second = await (await client.get(f"/api/v1/clusters/local/nodes?limit=10&continue={body['continue']}",
                                         headers={"Authorization": "Bearer s3cret"})).json()
        assert second["items"][0]["name"] == "node-00010"
        assert (await client.get("/api/v1/whoami")).status == 401
        assert (await client.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"})).status == 401
        assert (await client.get("/api/v1/clusters/local/nodes?limit=0",
                                 headers={"Authorization": "Bearer s3cret"})).status == 400
    finally:
        await api.stop()
