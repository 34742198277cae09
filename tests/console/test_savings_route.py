"""``/api/v1/clusters/{c}/savings`` against the fake API server and fake agents over real HTTP
(tests/console/fakeapi.py stands in for a kube-apiserver): prices from a mounted file, a
baseline recorded by an admin and kept on disk, packing read from the webhook's annotations,
identified slack from sampled ``/observe`` use."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from console.app import Settings, create_app, token_digest
from console.originals import original_request_milli
from console.plane import PLANE, ActionConfig
from console.savings import RecommendPolicy, SavingsConfig
from temper.kube.client import ApiClient, ApiConfig
from tests.console.fakeapi import FakeAgents, FakeApi, make_node, make_pod

VIEWER = {"Authorization": "Bearer v"}
ADMIN = {"Authorization": "Bearer a"}
PRICES = """
currency: USD
prices:
  - {instanceType: m6i.xlarge, capacityType: on-demand, region: eu-west-1, nodeHour: 0.192}
"""


def test_the_original_request_puts_back_only_the_containers_the_webhook_recorded() -> None:
    pod = make_pod("ns", "p", "n", seed=2, scaled=True)  # request 200m, original 400m
    assert original_request_milli(pod) == 400
    pod["spec"]["containers"].append({"name": "side", "resources": {"requests": {"cpu": "50m"}}})
    assert original_request_milli(pod) == 450
    pod["metadata"]["annotations"]["infera.io/original-cpu-requests"] = json.dumps({"ghost": "1"})
    assert original_request_milli(pod) is None
    for bad in ("{", "[]", json.dumps({"app": "lots"})):
        pod["metadata"]["annotations"]["infera.io/original-cpu-requests"] = bad
        assert original_request_milli(pod) is None
    assert original_request_milli(make_pod("ns", "q", "n", seed=2)) is None


async def _until(client: Client, path: str, check: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(200):
        response = await client.get(path, headers=VIEWER)
        if response.status == 200:
            body = await response.json()
            if check(body):
                return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never satisfied the check; last {body}")


Client = TestClient[web.Request, web.Application]


async def _start(aiohttp_client: Any, tmp_path: Path, agent_url: str = "") -> tuple[FakeApi, Client]:
    api = FakeApi()
    for i in range(4):
        api.put("nodes", make_node(f"node-{i}", i, instance_type="m6i.xlarge"))  # 8 or 16 CPUs
    api.put("nodes", make_node("node-odd", 1, instance_type="r6i.2xlarge"))
    for p in range(8):
        api.put("pods", make_pod("ns", f"app-{p}", f"node-{p % 4}", seed=2, scaled=p % 2 == 0))
    await api.start()
    (tmp_path / "prices.yaml").write_text(PRICES)
    config = SavingsConfig(prices_file=str(tmp_path / "prices.yaml"), data_dir=str(tmp_path / "data"),
                           sample_seconds=0.05, policy=RecommendPolicy(min_samples=3), cache_seconds=0)
    settings = Settings(tokens={token_digest(b"console", "v"): ("vic", "viewer"),
                                token_digest(b"console", "a"): ("ada", "admin")},
                        actions=ActionConfig(agent_url=agent_url), savings=config)
    client = await aiohttp_client(create_app(ApiClient(ApiConfig(api.url)), settings))
    return api, client


async def test_realized_savings_follow_a_recorded_baseline_and_the_webhooks_packing(
        aiohttp_client: Any, tmp_path: Path) -> None:
    api, client = await _start(aiohttp_client, tmp_path)
    try:
        path = "/api/v1/clusters/local/savings?window=1h"
        first = await _until(client, path, lambda b: b["total_cost"] > 0 and b["realized"]["total"] > 0)
        # 4 of 8 pods scaled from 400m to 200m: 800 m packed, no baseline yet, nothing identified
        [line] = first["realized"]["by_instance_type"]
        assert line["millicore_hours"] == 800 and line["node_hours"] == 0
        assert first["unpriced_instance_types"] == ["r6i.2xlarge"] and first["baseline_recorded"] is None
        assert first["identified"]["total"] == 0 and first["pods_with_recommendation"] == 0

        assert (await client.post("/api/v1/clusters/local/savings/baseline", headers=VIEWER)).status == 403
        assert (await client.post("/api/v1/clusters/local/savings/baseline", headers=ADMIN,
                                  data=b'{"pools": 3}')).status == 400
        for bad in (b'{"pools": [{"instance_type": "a", "nodes": false, "capacity_m": 1}]}', b"{", b'{"x": 1}',
                    b'{"pools": [{"instance_type": "a", "nodes": -1, "capacity_m": 1}]}'):
            assert (await client.post("/api/v1/clusters/local/savings/baseline", headers=ADMIN,
                                      data=bad)).status == 400, bad
        recorded = await (await client.post("/api/v1/clusters/local/savings/baseline", headers=ADMIN)).json()
        assert {(p["instance_type"], p["nodes"]) for p in recorded["pools"]} == {("m6i.xlarge", 4), ("r6i.2xlarge", 1)}
        assert json.loads((tmp_path / "data" / "savings-baseline.json").read_text())["pools"] == recorded["pools"]

        api.delete("nodes", "", "node-3")  # a 16-CPU m6i.xlarge goes: 16000 m removed
        after = await _until(client, path, lambda b: b["realized"]["by_instance_type"][0]["node_hours"] == 1)
        [line] = after["realized"]["by_instance_type"]
        assert line["millicore_hours"] == 16000  # the 600 m still packed are within the removal
        assert after["realized"]["total"] + after["identified"]["total"] <= after["total_cost"]
        assert after["baseline_recorded"] == recorded["recorded"]
        assert (await client.get("/api/v1/clusters/local/savings?window=fortnight", headers=VIEWER)).status == 400
        assert (await client.get("/api/v1/clusters/elsewhere/savings", headers=VIEWER)).status == 404
    finally:
        await api.stop()


async def test_a_restarted_console_keeps_the_baseline_and_a_bad_price_edit_keeps_the_last_book(
        aiohttp_client: Any, tmp_path: Path) -> None:
    api, client = await _start(aiohttp_client, tmp_path)
    try:
        await _until(client, "/api/v1/clusters/local/nodes", lambda b: b["total"] == 5)
        await client.post("/api/v1/clusters/local/savings/baseline", headers=ADMIN,
                          json={"pools": [{"instance_type": "m6i.xlarge", "capacity_type": "on-demand",
                                           "region": "eu-west-1", "nodes": 10, "capacity_m": 160000}]})
        await _until(client, "/api/v1/clusters/local/savings?window=1h", lambda b: b["total_cost"] > 0)
        prices = tmp_path / "prices.yaml"
        prices.write_text("prices: [{instanceType: m6i.xlarge, nodeHour: -3}]")
        os.utime(prices, ns=(1, 1))
        body = await _until(client, "/api/v1/clusters/local/savings?window=1h", lambda b: b["prices_error"])
        assert "finite number" in body["prices_error"] and body["total_cost"] > 0
    finally:
        await api.stop()
    api2, client2 = await _start(aiohttp_client, tmp_path)
    try:
        baseline = await (await client2.get("/api/v1/clusters/local/savings/baseline", headers=VIEWER)).json()
        assert baseline["pools"][0]["nodes"] == 10
    finally:
        await api2.stop()


async def test_identified_slack_comes_from_sampled_agent_use(aiohttp_client: Any, tmp_path: Path) -> None:
    agents_api = FakeApi()
    agents = FakeAgents(agents_api)
    runner = web.AppRunner(agents.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps it private
    api, client = await _start(aiohttp_client, tmp_path, agent_url=f"http://127.0.0.1:{port}/{{node}}")
    agents.api = api  # the agents see the console's fleet: used_m = request // 3
    agents.down.add("node-1")
    try:
        body = await _until(client, "/api/v1/clusters/local/savings?window=1h",
                            lambda b: b["pods_with_recommendation"] == 6)
        # 6 pods on reachable agents request 200m, use 66m -> recommended ceil(66 * 1.15) = 76m
        [line] = body["identified"]["by_instance_type"]
        assert line["millicore_hours"] == 6 * (200 - 76)
    finally:
        await api.stop()
        await runner.cleanup()


async def test_recording_a_baseline_writes_one_audit_record_whatever_the_outcome(
        aiohttp_client: Any, tmp_path: Path) -> None:
    """The baseline POST goes through the same audit path as every mutation: one record per call
    (allowed with the previous baseline, failed for a bad body or a refused write, denied below
    admin), all in the console's own store."""
    api, client = await _start(aiohttp_client, tmp_path)
    try:
        await _until(client, "/api/v1/clusters/local/nodes", lambda b: b["total"] == 5)
        url = "/api/v1/clusters/local/savings/baseline"
        first = await (await client.post(url, headers=ADMIN)).json()
        pools = {"pools": [{"instance_type": "m6i.xlarge", "nodes": 10, "capacity_m": 160000}]}
        second = await (await client.post(url, headers=ADMIN, json=pools)).json()
        assert (await client.post(url, headers=ADMIN, data=b"{")).status == 400
        assert (await client.post(url, headers=VIEWER)).status == 403
        (tmp_path / "data" / "savings-baseline.tmp").mkdir()  # the atomic write's scratch file cannot be made
        refused = await client.post(url, headers=ADMIN)
        assert refused.status == 503 and (await refused.json())["error"]["code"] == "baseline-not-stored"
        assert client.app is not None
        records = list(reversed(await client.app[PLANE].audit.page(None, 100, None, None)))
        assert [(r.action, r.result, r.token) for r in records] == [
            ("savings-baseline", "allowed", "ada"), ("savings-baseline", "allowed", "ada"),
            ("savings-baseline", "failed", "ada"), ("savings-baseline", "denied", "vic"),
            ("savings-baseline", "failed", "ada")]
        assert [first["audit_id"], second["audit_id"]] == [records[0].id, records[1].id]
        assert records[0].previous is None and records[1].previous is not None
        assert records[1].previous["recorded"] == first["recorded"]
        assert records[1].parameters == pools | {"pools": [pools["pools"][0] | {"capacity_type": "", "region": ""}]}
        assert records[0].target == "local/fleet" and "503" in records[4].detail
        kept = await (await client.get(url, headers=VIEWER)).json()
        assert kept["pools"][0]["nodes"] == 10  # the refused write left the last baseline in place
    finally:
        await api.stop()
