"""Shared pieces of the browser tests: Debian's Chromium launched headless through Playwright
(once per test module, see ``conftest.py``; every test gets a fresh context, so no cookies or
session storage cross tests), sign-in with a token, a recorder of every request a page makes, and ``snapshot``: with
``TEMPER_UI_SCREENSHOTS=DIR`` set, the tests save screenshots of the views they reach into DIR
(that is how docs/console-*.png are refreshed); otherwise it does nothing.

``Recorder.check`` asserts that nothing left the console's origin and that every /api/v1
request (method and path) is an operation of the OpenAPI spec, or one of the paths whose routes
are still on other branches (``tests.console.ui_routes_pending``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from playwright.async_api import Browser, Page, Request, async_playwright

from console.openapi import spec
from tests.console.ui_paths import spec_path
from tests.console.ui_routes_pending import NOT_YET_SERVED

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 5_000


@dataclass
class Recorder:
    origin: str
    external: list[str] = field(default_factory=list)
    api: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, request: Request) -> None:
        if not request.url.startswith(self.origin):
            self.external.append(request.url)
        elif urlsplit(request.url).path.startswith("/api/v1/"):
            self.api.append((request.method.lower(), unquote(urlsplit(request.url).path)))

    def check(self) -> None:
        assert self.external == [], f"the UI made requests off its own origin: {self.external}"
        paths = spec()["paths"]
        unknown = []
        for method, path in self.api:
            template = spec_path(path, paths)
            if template is not None and method in paths[template]:
                continue
            if method == "get" and spec_path(path, NOT_YET_SERVED) is not None:
                continue
            unknown.append((method, path))
        assert unknown == [], f"the UI made requests the OpenAPI spec lacks: {unknown}"


@asynccontextmanager
async def launched() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), "scripts/setup.sh installs Debian's chromium"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def chromium_page(browser: Browser, url: str) -> AsyncIterator[tuple[Page, Recorder]]:
    """A page in a fresh context on ``url``'s origin with its requests recorded; checked on the way out."""
    recorder = Recorder(url.rstrip("/"))
    context = await browser.new_context(accept_downloads=True)
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("request", recorder)
        yield page, recorder
    finally:
        await context.close()
    recorder.check()


async def sign_in(page: Page, url: str, secret: str, role: str) -> None:
    await page.goto(url)
    await page.fill("#token", secret)
    await page.keyboard.press("Enter")
    who = page.locator("[data-testid=whoami]")
    await who.wait_for()
    assert await who.get_attribute("data-role") == role


async def snapshot(page: Page, name: str) -> None:
    out = os.environ.get("TEMPER_UI_SCREENSHOTS")
    if out:
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.screenshot(path=os.path.join(out, f"console-{name}.png"))
