"""Actions, audit and tokens in the web UI, in headless Debian Chromium through Playwright,
against the real console (``tests.console.actions_harness``: one bootstrap token per role, a
SQLite audit under tmp_path) and the fake Kubernetes API server of ``tests.console.fakeapi``
(not a kube-apiserver, none can be had here; it records the patches and evictions it is sent).

A viewer is offered no action and is refused (403, one ``denied`` record) when it calls one
from the page anyway; an operator cordons a node with the keyboard through the confirm step and
sees the audit record the server wrote; the drain dialog shows the server's own preview; an
admin creates a token (secret shown once, and it works), revokes it (and it stops working),
and finds both records on the audit page and in its JSON Lines export; an operator captures and
downloads a trace and restarts a Deployment. Every request is checked against the OpenAPI spec.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Locator, Page

from temper.annotations import SAFE_MODE_KEY
from tests.console.actions_harness import CONFIGMAP, SECRETS, Harness, start
from tests.console.browser.chromium import chromium_page, sign_in, snapshot

Console = tuple[Harness, str]
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def client_on_this_loop(app: web.Application) -> TestClient[web.Request, web.Application]:
        clients.append(TestClient(TestServer(app)))
        await clients[-1].start_server()
        return clients[-1]

    harness, stop = await start(client_on_this_loop, tmp_path, nodes=4, pods=40)
    try:
        yield harness, str(harness.client.make_url("/"))
    finally:
        for client in clients:
            await client.close()
        await stop()


async def audit_record(harness: Harness, audit_id: int) -> dict[str, Any]:
    status, page = await harness.call("GET", f"/api/v1/audit?continue={audit_id + 1}&limit=1")
    assert status == 200
    [record] = page["items"]
    assert record["id"] == audit_id
    return dict(record)


def node_object(harness: Harness, name: str) -> dict[str, Any]:
    return dict(harness.api.objects["nodes"][("", name)])


async def open_actions(page: Page, url: str) -> None:
    await page.goto(f"{url}#/c/local/actions")
    await page.locator("[data-testid=ops-nodes] tr[data-node=node-00001]").wait_for()


async def run_action(page: Page, label: str, target: str, fields: dict[str, str] | None = None
                     ) -> tuple[Locator, int]:
    """Open the action ``label`` on ``target``, fill its fields, confirm; the dialog and the
    audit id it shows."""
    await page.get_by_role("button", name=f"{label} {target}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"{label} {target}: confirm")
    for field, value in (fields or {}).items():
        await dialog.get_by_label(field).fill(value)
    await dialog.get_by_role("button", name=f"Confirm {label.lower()}").click()
    note = dialog.locator("[data-testid=audit-record]")
    await note.wait_for()
    return dialog, int(await note.get_attribute("data-audit-id") or "0")


async def test_a_viewer_sees_no_action_and_is_refused_when_it_calls_one(browser: Browser, console: Console) -> None:
    harness, url = console
    async with chromium_page(browser, url) as (page, recorder):
        await sign_in(page, url, SECRETS["viewer"], "viewer")
        await page.get_by_text("node-00000").first.wait_for()
        nav = await page.get_by_role("navigation", name="Main").inner_text()
        assert "Actions" not in nav and "Audit" not in nav and "Tokens" not in nav
        refusals = [("c/local/actions", "Actions are for operators and admins."),
                    ("tokens", "Token management is for admins."), ("audit", "The audit log is for admins.")]
        for route, refusal in refusals:
            await page.goto(f"{url}#/{route}")
            await page.get_by_text(refusal).wait_for()
            assert await page.locator("[data-action], button[type=submit]").count() == 0
        assert [p for _, p in recorder.api if p.startswith(("/api/v1/tokens", "/api/v1/audit"))] == []
        before = harness.audit_count()
        answer = await page.evaluate("""async () => {
            const res = await fetch('/api/v1/clusters/local/nodes/node-00001/cordon', {method: 'POST',
              headers: {Authorization: `Bearer ${sessionStorage.getItem('temper.console.token')}`}});
            return [res.status, await res.json()];
        }""")
    assert answer[0] == 403 and answer[1]["error"]["code"] == "forbidden"
    assert not node_object(harness, "node-00001")["spec"].get("unschedulable")
    assert harness.audit_count() == before + 1
    denied = await audit_record(harness, before + 1)
    assert (denied["result"], denied["action"], denied["token"]) == ("denied", "cordon", "boot-viewer")


async def test_an_operator_cordons_a_node_through_the_confirm_step(browser: Browser, console: Console) -> None:
    harness, url = console
    async with chromium_page(browser, url) as (page, _):
        await sign_in(page, url, SECRETS["operator"], "operator")
        await open_actions(page, url)
        assert await page.get_by_role("link", name="Audit").count() == 0
        cordon = page.get_by_role("button", name="Cordon local/node/node-00001", exact=True)
        await cordon.focus()
        await page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Cordon local/node/node-00001: confirm")
        await dialog.wait_for()
        assert "marked unschedulable" in await dialog.inner_text()
        assert not node_object(harness, "node-00001")["spec"].get("unschedulable"), "nothing happens before confirm"
        confirm = dialog.get_by_role("button", name="Confirm cordon")
        for _ in range(5):  # Tab from the dialog's first control to its confirm button
            if await confirm.evaluate("b => b === document.activeElement"):
                break
            await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        note = dialog.locator("[data-testid=audit-record]")
        await note.wait_for()
        audit_id = int(await note.get_attribute("data-audit-id") or "0")
        shown = await note.inner_text()
        await snapshot(page, "cordon-confirmed")
        await page.keyboard.press("Escape")
        await page.locator("tr[data-node=node-00001] [data-testid=cordoned]").wait_for()
        assert await page.get_by_role("button", name="Uncordon local/node/node-00001", exact=True).count() == 1
    assert node_object(harness, "node-00001")["spec"]["unschedulable"] is True
    record = await audit_record(harness, audit_id)
    assert (record["action"], record["target"], record["token"], record["result"]) == (
        "cordon", "local/node/node-00001", "boot-operator", "allowed")
    assert f"Audit record #{audit_id}" in shown and "cordon" in shown and "local/node/node-00001" in shown


async def test_the_drain_dialog_shows_the_servers_preview(browser: Browser, console: Console) -> None:
    harness, url = console
    status, preview = await harness.call("GET", "/api/v1/clusters/local/nodes/node-00002/drain", role="operator")
    assert status == 200 and preview["evictions"]
    async with chromium_page(browser, url) as (page, _):
        await sign_in(page, url, SECRETS["operator"], "operator")
        await open_actions(page, url)
        await page.get_by_role("button", name="Drain local/node/node-00002", exact=True).click()
        shown = page.locator("[data-testid=drain-evictions] li")
        await shown.first.wait_for()
        assert await shown.all_inner_texts() == preview["evictions"][:50]
        await snapshot(page, "drain-preview")
        await page.keyboard.press("Escape")
        await page.get_by_role("dialog").wait_for(state="hidden")
        assert not node_object(harness, "node-00002")["spec"].get("unschedulable"), "a cancelled drain does nothing"
        assert harness.api.evictions == [] and harness.audit_count() == 0, "nor does its preview"

        await page.get_by_role("button", name="Drain local/node/node-00002", exact=True).click()
        dialog = page.get_by_role("dialog", name="Drain local/node/node-00002: confirm")
        await dialog.get_by_label("Dry run (evict nothing)").check()
        await dialog.get_by_role("button", name="Confirm drain").click()
        await dialog.locator("[data-testid=audit-record]").wait_for()
        assert await dialog.locator("[data-testid=action-result]").inner_text() == "dry-run"
        assert f"Evicted {len(preview['evictions'])}," in await dialog.inner_text()
    assert not node_object(harness, "node-00002")["spec"].get("unschedulable"), "a dry run cordons nothing"
    record = await audit_record(harness, 1)
    assert (record["action"], record["parameters"]["dry_run"], record["result"]) == ("drain", True, "allowed")


async def test_an_admin_creates_and_revokes_a_token_and_reads_the_audit_log(
        browser: Browser, console: Console, tmp_path: Path) -> None:
    harness, url = console
    async with chromium_page(browser, url) as (page, _):
        await sign_in(page, url, SECRETS["admin"], "admin")
        await page.get_by_role("link", name="Tokens").click()
        form = page.get_by_role("form", name="Create a token")
        await form.get_by_label("Name").fill("ci-bot")
        await form.get_by_label("Role").select_option("operator")
        await form.get_by_role("button", name="Create token").click()
        secret = await page.locator("[data-testid=token-secret]").input_value()
        status, me = await harness.call("GET", "/api/v1/whoami", token=secret)
        assert (status, me) == (200, {"name": "ci-bot", "role": "operator"})
        await page.get_by_role("button", name="Done").click()
        assert await page.locator("[data-testid=token-secret]").count() == 0, "the secret is shown once"
        await form.get_by_label("Name").fill("ci-bot")
        await form.get_by_role("button", name="Create token").click()
        await form.get_by_role("alert").get_by_text("409").wait_for()
        assert "revoke it first" in await form.get_by_role("alert").inner_text()
        await page.get_by_role("button", name="Revoke token/ci-bot").click()
        dialog = page.get_by_role("dialog", name="Revoke token/ci-bot: confirm")
        await dialog.get_by_role("button", name="Confirm revoke").click()
        note = dialog.locator("[data-testid=audit-record][data-complete=yes]")
        await note.wait_for()
        assert "token-revoke" in await note.inner_text()
        await dialog.get_by_role("button", name="Close").click()
        await page.locator("tr[data-token=ci-bot] [data-testid=revoked]").wait_for()
        await snapshot(page, "tokens")
        await page.get_by_role("link", name="Audit").click()
        rows = page.locator("[data-testid=audit-table] tbody tr")
        await rows.first.wait_for()
        actions = [line.split("\t")[4] for line in await rows.all_inner_texts()]
        assert actions == ["token-revoke", "token-create", "token-create"]
        await snapshot(page, "audit")
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Export JSON Lines").click()
        saved = tmp_path / "audit.jsonl"
        await (await info.value).save_as(saved)
        await page.get_by_label("Since").fill("2099-01-01T00:00")
        await page.get_by_text("No records in this range.").wait_for()
    status, _ = await harness.call("GET", "/api/v1/whoami", token=secret)
    assert status == 401
    status, exported = await harness.call("GET", "/api/v1/audit/export?format=jsonl")
    assert status == 200 and saved.read_bytes() == exported
    actions = [json.loads(line)["action"] for line in saved.read_text().splitlines()]
    assert actions == ["token-create", "token-create", "token-revoke"]


async def test_an_operator_captures_and_downloads_a_trace_and_restarts_a_deployment(
        browser: Browser, console: Console, tmp_path: Path) -> None:
    harness, url = console
    async with chromium_page(browser, url) as (page, _):
        await sign_in(page, url, SECRETS["operator"], "operator")
        await open_actions(page, url)
        dialog, _ = await run_action(page, "Capture trace", "local/node/node-00003", {"Seconds": "1"})
        await dialog.get_by_text("Trace t1 captured.").wait_for()
        await dialog.get_by_role("button", name="Close").click()
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download trace t1 of node-00003").click()
        saved = tmp_path / "trace"
        await (await info.value).save_as(saved)

        restart = page.get_by_role("region", name="Rollout restart")
        await restart.get_by_label("Namespace").fill("ns-001")
        await restart.get_by_label("Name", exact=True).fill("app0")
        _, restart_id = await run_action(page, "Rollout restart", "local/Deployment/ns-001/app0")
    assert saved.read_bytes() == b"trace-bytes-node-00003"
    template = harness.api.objects["deployments"][("ns-001", "app0")]["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    record = await audit_record(harness, restart_id)
    assert (record["action"], record["target"], record["result"]) == (
        "restart", "local/Deployment/ns-001/app0", "allowed")


async def test_an_operator_requests_safe_mode_for_a_node_and_for_the_fleet(browser: Browser, console: Console) -> None:
    harness, url = console
    async with chromium_page(browser, url) as (page, _):
        await sign_in(page, url, SECRETS["operator"], "operator")
        await open_actions(page, url)
        dialog, _ = await run_action(page, "Safe mode", "local/node/node-00000")
        await dialog.get_by_role("button", name="Close").click()
        dialog, fleet_id = await run_action(page, "Safe mode for every node", "local/fleet")
        assert "fair class" in await dialog.inner_text() and "node-00003:" in await dialog.inner_text()
    node = node_object(harness, "node-00000")
    assert node["metadata"]["annotations"][SAFE_MODE_KEY] == "true"
    configmap = harness.api.objects["configmaps"][CONFIGMAP]
    assert configmap["metadata"]["annotations"][SAFE_MODE_KEY] == "true"
    record = await audit_record(harness, fleet_id)
    assert (record["action"], record["target"], record["parameters"]["enabled"]) == ("safe-mode", "local/fleet", True)
