"""The console's web UI in a real browser: Debian's Chromium, headless, driven by Playwright,
against the real console server and the fake Kubernetes API server of ``tests.console.fakeapi``
(no kube-apiserver can be had here; the fake speaks the API's exact list/watch JSON).

Only what this session could prove is asserted: the page loads under its CSP with no external
request, a viewer signs in with a token, and the live node and pod lists render the cluster.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from console.app import Settings, create_app, token_digest
from temper.kube.client import ApiClient, ApiConfig
from tests.console.fakeapi import FakeApi, populate

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.browser


@pytest.fixture
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


async def test_a_viewer_signs_in_and_sees_the_live_node_list(console_url: str) -> None:
    assert shutil.which(CHROMIUM), "scripts/setup.sh installs Debian's chromium"
    external: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("request", lambda r: None if r.url.startswith(console_url.rstrip("/")) else external.append(r.url))
            await page.goto(console_url)
            await page.fill("#token", "viewer-secret")
            await page.click("button[type=submit]")
            who = page.locator("[data-testid=whoami]")
            await who.wait_for(timeout=10_000)
            assert await who.get_attribute("data-role") == "viewer"
            await page.get_by_text("node-00000").first.wait_for(timeout=10_000)
        finally:
            await browser.close()
    assert external == [], f"the UI made requests off its own origin: {external}"
