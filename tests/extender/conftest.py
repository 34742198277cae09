"""Fixtures: the real extender app factory served by aiohttp's test server.

No kube-scheduler exists here: tests post exactly what kube-scheduler posts (REFERENCE §3,
capitalised keys) and read replies as kube-scheduler decodes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from extender.app import Settings, make_app
from extender.table import NodeTable
from temper.kube.nodecache import NodeMeta
from tests.extender.factories import NOW

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]]) -> ClientFactory:
    async def build(nodes: dict[str, dict[str, str]] | None = None,
                    **settings: object) -> TestClient[web.Request, web.Application]:
        table = NodeTable.of(NodeMeta(name, ann) for name, ann in (nodes or {}).items())
        config = Settings(clock=lambda: NOW, **settings)  # type: ignore[arg-type]  # test-only kwargs
        return await aiohttp_client(make_app(config, table))

    return build
