"""The pod list at 30,000 pods in headless Debian Chromium through Playwright, against the real
console and the fake Kubernetes API server of ``tests.console.fakeapi`` (no kube-apiserver
here): the first rows are painted from the first small page, long before the whole list is in,
and the table is virtualised — a few dozen row elements in the DOM for 30,000 rows, which still
scroll into view. The time to first rows is measured in the page (``first_render``) and tabled
against a 12-pod cluster by ``benchmarks/console_first_render.py``, not asserted here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from tests.console.browser.chromium import chromium_page, snapshot
from tests.console.browser.first_render import console_with_pods, first_rows_ms

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]
PODS = 30_000


@pytest_asyncio.fixture(loop_scope="module")
async def console_url() -> AsyncIterator[str]:
    async with console_with_pods(PODS, nodes=500) as url:
        yield url


async def test_the_first_rows_of_30000_pods_paint_from_the_first_page_in_a_virtual_list(
        browser: Browser, console_url: str) -> None:
    async with chromium_page(browser, console_url) as (page, _):
        first = await first_rows_ms(page, console_url)
        print(f"first rows of {PODS} pods after {first.ms:.0f} ms")
        assert 0 < first.rows_in_table < PODS, "the first rows came before the whole list"
        assert 0 < first.rows_in_dom < 100
        table = page.locator("[data-testid=pods-table]")
        await page.wait_for_function(f"() => document.querySelector('[data-testid=pods-table]').dataset.rows == {PODS}",
                                     timeout=30_000)
        assert await table.locator("[role=row]").count() < 100
        await table.locator(".vt-body").focus()
        await page.keyboard.press("End")
        await table.locator(f"[role=row][aria-rowindex='{PODS + 1}']").wait_for()  # the last pod, scrolled in
        await snapshot(page, "pods-30000")
