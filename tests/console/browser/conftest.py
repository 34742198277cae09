"""One headless Chromium per browser test module, on the module's event loop (launching it is
most of a test's time on a loaded machine); the tests of a module share that loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser

from tests.console.browser.chromium import launched


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched() as b:
        yield b
