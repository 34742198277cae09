"""The explorer, pod, manifest, savings and hub views in headless Debian Chromium through
Playwright, against the real console (``tests.console.harness``: the console app and fake node
agents serving ``/observe``; here with a price file and a hub registry holding one dial-in peer
that never dials)
and the fake Kubernetes API server of ``tests.console.fakeapi`` (no kube-apiserver here; the fake
speaks the API's exact list/watch JSON and streams pod logs).

Asserted: cluster → node → pod → container by the tree, with the keyboard; a pod deleted in the
fake API leaves the open pod list within 2 s, over the tab's one SSE stream (one /events request);
the pod view draws its performance panel with uPlot and follows its log (a line appended in the
fake API shows up); the manifest tab shows the owner's revision diff; the savings totals are the
API's ``/savings`` numbers; the hub lists both clusters with their reachability. Every request
the page makes is checked against the OpenAPI spec on the way out (``chromium_page``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page

from console.app import Settings, token_digest
from console.peers import HubConfig
from console.plane import ActionConfig
from console.savings import SavingsConfig
from tests.console.browser.chromium import chromium_page, sign_in, snapshot
from tests.console.fakeapi import FakeApi
from tests.console.harness import TOKEN, running_console

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

PRICES = """
currency: USD
prices:
  - {instanceType: m6i.xlarge, capacityType: on-demand, region: eu-west-1, nodeHour: 0.192}
"""


@dataclass
class Console:
    api: FakeApi
    client: TestClient[web.Request, web.Application]
    url: str

    async def get_json(self, path: str) -> Any:
        response = await self.client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 200, (path, response.status)
        return await response.json()


@pytest_asyncio.fixture(loop_scope="module")
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    (tmp_path / "prices.yaml").write_text(PRICES)
    (tmp_path / "peers.yaml").write_text("peers:\n  - {name: far, mode: dial-in, token: far-peer-token}\n")

    def settings_for(agent_url: str) -> Settings:
        return Settings(tokens={token_digest(b"console", TOKEN): ("vera", "viewer")},
                        actions=ActionConfig(agent_url=agent_url),
                        savings=SavingsConfig(prices_file=str(tmp_path / "prices.yaml"),
                                              data_dir=str(tmp_path / "data"), cache_seconds=0),
                        hub=HubConfig(peers_file=str(tmp_path / "peers.yaml"), probe_seconds=0.2))

    async with running_console(settings_for=settings_for) as r:
        yield Console(r.api, r.client, str(r.client.make_url("/")))


async def open_page(page: Page, c: Console, route: str) -> None:
    await sign_in(page, c.url, TOKEN, "viewer")
    await page.goto(f"{c.url}#/{route}")


async def move_to(page: Page, label: str) -> None:
    """ArrowDown through the focused tree until the active item is ``label``."""
    active = page.locator(".tree-item.active .tree-label")
    for _ in range(60):
        if await active.inner_text() == label:
            return
        await page.keyboard.press("ArrowDown")
    raise AssertionError(f"no tree item {label!r} below the active one")


async def test_the_tree_leads_from_the_cluster_to_a_container_by_keyboard(browser: Browser, console: Console) -> None:
    async with chromium_page(browser, console.url) as (page, _):
        await open_page(page, console, "c/local/explorer/pods")
        tree = page.get_by_role("tree", name="Cluster tree")
        await tree.get_by_text("node-00000").wait_for()
        await tree.focus()
        await move_to(page, "node-00000")
        await page.keyboard.press("ArrowRight")  # expand the node
        await move_to(page, "apps/web-2-aaaaa")
        await page.keyboard.press("ArrowRight")  # expand the pod
        await page.keyboard.press("ArrowRight")  # onto its first container
        assert await page.locator(".tree-item.active .tree-label").inner_text() == "app"
        await page.keyboard.press("Enter")
        await page.locator("[data-testid=container-name]").wait_for()
        assert await page.locator("[data-testid=container-name]").inner_text() == "app"
        assert page.url.endswith("#/c/local/ns/apps/pods/web-2-aaaaa/containers/app")
        await page.go_back()
        await page.get_by_role("tree", name="Cluster tree").wait_for()
        await snapshot(page, "explorer")


async def test_a_deleted_pod_leaves_the_open_list_within_two_seconds(browser: Browser, console: Console) -> None:
    async with chromium_page(browser, console.url) as (page, recorder):
        await open_page(page, console, "c/local/explorer/pods")
        table = page.locator("[data-testid=pods-table]")
        await table.get_by_text("batch-q1").wait_for()
        await page.locator("[data-testid=stream].live").wait_for()
        console.api.delete("pods", "apps", "batch-q1")
        await table.get_by_text("batch-q1").wait_for(state="detached", timeout=2_000)
        events = [p for _, p in recorder.api if p == "/api/v1/events"]
    assert len(events) == 1, f"one SSE stream per tab, got {events}"


async def test_the_pod_view_charts_performance_and_follows_its_log(browser: Browser, console: Console) -> None:
    console.api.append_log("apps", "web-2-aaaaa", "app", "first line")
    async with chromium_page(browser, console.url) as (page, _):
        await open_page(page, console, "c/local/ns/apps/pods/web-2-aaaaa")
        perf = page.locator("[data-testid=performance]")
        await perf.locator(".uplot canvas").first.wait_for()
        assert await perf.locator(".uplot").count() == 4
        assert "33m" in await perf.locator("dl").inner_text()  # the fake agent: used = request // 3
        await snapshot(page, "pod")
        await page.get_by_role("tab", name="Logs").click()
        assert await page.get_by_label("Follow").is_checked()
        logs = page.locator("[data-testid=logs]")
        await logs.get_by_text("first line").wait_for()
        console.api.append_log("apps", "web-2-aaaaa", "app", "appended while following")
        await logs.get_by_text("appended while following").wait_for()


async def test_the_manifest_tab_shows_the_revision_diff(browser: Browser, console: Console) -> None:
    async with chromium_page(browser, console.url) as (page, _):
        await open_page(page, console, "c/local/ns/apps/pods/web-2-aaaaa")
        await page.get_by_role("tab", name="Manifest").click()
        await page.locator("[data-testid=manifest]").get_by_text("web-2-aaaaa").first.wait_for()
        diff = page.locator("[data-testid=revision-diff]")
        await diff.wait_for()
        lines = [line.strip() for line in (await diff.inner_text()).splitlines()]
        assert lines[:2] == ["--- revision 1 (web-1)", "+++ revision 2 (web-2)"], lines
        assert [line for line in lines if line.startswith(("-", "+")) and "image:" in line] == \
            ["-    - image: web:1", "+    - image: web:2"], lines  # one line each, as the unified diff has them
        await diff.scroll_into_view_if_needed()
        await snapshot(page, "manifest")


async def test_the_savings_totals_are_the_apis(browser: Browser, console: Console) -> None:
    expected = await console.get_json("/api/v1/clusters/local/savings")
    async with chromium_page(browser, console.url) as (page, _):
        await open_page(page, console, "c/local/savings")
        shown = {}
        for testid in ("realized-total", "identified-total", "total-cost"):
            cell = page.locator(f"[data-testid={testid}]")
            await cell.wait_for()
            shown[testid] = float(await cell.get_attribute("data-value") or "nan")
        await snapshot(page, "savings")
    assert shown == {"realized-total": expected["realized"]["total"],
                     "identified-total": expected["identified"]["total"], "total-cost": expected["total_cost"]}
    assert expected["total_cost"] > 0


async def test_the_hub_lists_clusters_with_their_reachability(browser: Browser, console: Console) -> None:
    async with chromium_page(browser, console.url) as (page, _):
        await open_page(page, console, "hub")
        table = page.get_by_role("table", name="Clusters")
        await table.get_by_role("row").filter(has_text="far").wait_for()
        local = await table.get_by_role("row").filter(has_text="local").inner_text()
        far = await table.get_by_role("row").filter(has_text="far").inner_text()
        await snapshot(page, "hub")
    assert "reachable" in local and "unreachable" not in local
    assert "unreachable" in far
