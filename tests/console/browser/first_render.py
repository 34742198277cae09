"""The pod list's first render, measured in the page: shared by the 30,000-pod browser test and
``benchmarks/console_first_render.py``.

``console_with_pods`` runs the real console against the fake Kubernetes API server of
``tests.console.fakeapi`` (no kube-apiserver here) holding ``pods`` pods, and yields once the
console's list+watch cache has synced. ``first_rows_ms`` loads the explorer's pod list afresh
(a real navigation, the token already in session storage) and returns the page's own
``performance.now()`` clock reading — milliseconds from navigation start — of the
``temper:first-rows`` mark the virtualised table sets once its first rows have been painted,
together with how many row elements the table put in the DOM and how many rows it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Page

from console.app import Settings, create_app, token_digest
from console.explorer_api import EXPLORER
from temper.kube.client import ApiClient, ApiConfig
from tests.console.browser.chromium import sign_in
from tests.console.fakeapi import FakeApi, populate

SECRET = "viewer-secret"
MARK = "temper:first-rows"


@dataclass(frozen=True)
class FirstRender:
    ms: float
    rows_in_dom: int
    rows_in_table: int


@asynccontextmanager
async def console_with_pods(pods: int, nodes: int) -> AsyncIterator[str]:
    api = FakeApi()
    populate(api, nodes=nodes, pods=pods, namespaces=10)
    await api.start()
    app = create_app(ApiClient(ApiConfig(api.url)),
                     Settings(tokens={token_digest(b"console", SECRET): ("vera", "viewer")}))
    server: TestServer[web.Request] = TestServer(app)  # type: ignore[type-arg]
    await server.start_server()
    try:
        while not {"nodes", "pods"} <= app[EXPLORER].synced:
            await asyncio.sleep(0.05)
        yield str(server.make_url("/"))
    finally:
        await server.close()
        await api.stop()


async def first_rows_ms(page: Page, url: str) -> FirstRender:
    """Sign in (first call on a page), then a fresh navigation to the pod list, timed in the page."""
    if not page.url.startswith(url):
        await sign_in(page, url, SECRET, "viewer")
    await page.goto("about:blank")
    await page.goto(f"{url}#/c/local/explorer/pods")
    await page.wait_for_function(f"() => performance.getEntriesByName({MARK!r}).length > 0", timeout=30_000)
    ms = await page.evaluate(f"() => performance.getEntriesByName({MARK!r})[0].startTime")
    table = page.locator("[data-testid=pods-table]")
    return FirstRender(float(ms), await table.locator("[role=row]").count(),
                       int(await table.get_attribute("data-rows") or "0"))
