"""The explorer, pod, manifest, savings and hub views in headless Debian Chromium through
Playwright, against the real console (``tests.console.harness``-style: the console app, fake node
agents serving ``/observe``, a price file, a hub registry with one dial-in peer that never dials)
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

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page

from console.app import Settings, create_app, token_digest
from console.explorer_api import EXPLORER
from console.peers import HubConfig
from console.plane import ActionConfig
from console.savings import SavingsConfig
from temper.kube.client import ApiClient, ApiConfig
from tests.console.browser.chromium import chromium_page, sign_in, snapshot
from tests.console.fakeapi import FakeAgents, FakeApi, populate, populate_workloads

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

SECRET = "viewer-secret"
PRICES = """
currency: USD
prices:
  - {instanceType: m6i.xlarge, capacityType: on-demand, region: eu-west-1, nodeHour: 0.192}
"""
SYNCED = {"nodes", "pods", "replicasets", "Deployment", "StatefulSet", "DaemonSet", "Job"}


@dataclass
class Console:
    api: FakeApi
    client: TestClient[web.Request, web.Application]
    url: str

    async def get_json(self, path: str) -> Any:
        response = await self.client.get(path, headers={"Authorization": f"Bearer {SECRET}"})
        assert response.status == 200, (path, response.status)
        return await response.json()


@pytest_asyncio.fixture(loop_scope="module")
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    api = FakeApi()
    populate(api, nodes=3, pods=12, namespaces=2)
    populate_workloads(api)
    await api.start()
    agents = FakeAgents(api)
    agent_runner = web.AppRunner(agents.app())
    await agent_runner.setup()
    site = web.TCPSite(agent_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the server private
    (tmp_path / "prices.yaml").write_text(PRICES)
    (tmp_path / "peers.yaml").write_text("peers:\n  - {name: far, mode: dial-in, token: far-peer-token}\n")
    settings = Settings(tokens={token_digest(b"console", SECRET): ("vera", "viewer")},
                        actions=ActionConfig(agent_url=f"http://127.0.0.1:{port}/{{node}}"),
                        savings=SavingsConfig(prices_file=str(tmp_path / "prices.yaml"),
                                              data_dir=str(tmp_path / "data"), cache_seconds=0),
                        hub=HubConfig(peers_file=str(tmp_path / "peers.yaml"), probe_seconds=0.2))
    app = create_app(ApiClient(ApiConfig(api.url)), settings)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    try:
        for _ in range(500):
            if app[EXPLORER].synced >= SYNCED:
                break
            await asyncio.sleep(0.02)
        yield Console(api, client, str(client.make_url("/")))
    finally:
        await client.close()
        await agent_runner.cleanup()
        await api.stop()


async def open_page(page: Page, c: Console, route: str) -> None:
    await sign_in(page, c.url, SECRET, "viewer")
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
