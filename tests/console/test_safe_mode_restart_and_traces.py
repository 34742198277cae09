"""Safe mode per node and fleet-wide (the annotation the agents poll, then ``infera.io/enforcement``
watched until it converges), rollout restart (the exact strategic merge patch), and traces
through the node agents (a clear 501 when the agent lacks ``POST /traces``, 502 when it is gone).

Against the fake API server and fake agents (``tests.console.actions_harness``; no
kube-apiserver here). ``agent_loop`` plays the node agents: it moves a node's published
enforcement state to what its safe-mode annotations ask for, as nodeagent/safemode.py does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from temper.annotations import SAFE_MODE_KEY, safe_mode_requested
from tests.console.actions_harness import CONFIGMAP, AiohttpClient, Harness, start


@contextlib.asynccontextmanager
async def agents_react(harness: Harness, only: set[str] | None = None) -> AsyncIterator[None]:
    async def agent_loop() -> None:
        while True:
            fleet = safe_mode_requested(harness.api.objects["configmaps"][CONFIGMAP]["metadata"].get("annotations"))
            for (_, name), node in list(harness.api.objects["nodes"].items()):
                if only is not None and name not in only:
                    continue
                want = "safe-mode" if fleet or safe_mode_requested(node["metadata"]["annotations"]) else "enforcing"
                if want not in node["metadata"]["annotations"]["infera.io/enforcement"]:
                    harness.set_enforcement(name, want)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(agent_loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_node_safe_mode_sets_the_annotation_and_waits_for_the_agent(aiohttp_client: AiohttpClient,
                                                                          tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    path = "/api/v1/clusters/local/nodes/node-00002/safe-mode"
    try:
        async with agents_react(harness):
            status, result = await harness.call("post", path, "operator", {"enabled": True, "wait_seconds": 5})
            assert status == 200 and result["result"] == "ok" and result["nodes"] == {"node-00002": "safe-mode"}
            assert harness.api.objects["nodes"][("", "node-00002")]["metadata"]["annotations"][SAFE_MODE_KEY] == "true"
            status, result = await harness.call("post", path, "operator", {"enabled": False, "wait_seconds": 5})
            assert status == 200 and result["nodes"] == {"node-00002": "enforcing"}
            assert SAFE_MODE_KEY not in harness.api.objects["nodes"][("", "node-00002")]["metadata"]["annotations"]
        status, result = await harness.call("post", path, "operator", {"enabled": True, "wait_seconds": 0.3})
        assert status == 200 and result["result"] == "partial" and result["nodes"] == {"node-00002": "enforcing"}
        records = harness.echoed()
        assert records[0]["previous"] == {SAFE_MODE_KEY: None} and records[1]["previous"] == {SAFE_MODE_KEY: "true"}
        assert records[2]["result"] == "allowed", "not converging in time is reported, the write was made"
        assert (await harness.call("post", path, "operator", {"enabled": "maybe"}))[0] == 400
        assert (await harness.call("post", path, "operator", {"enabled": True, "wait_seconds": 601}))[0] == 400
    finally:
        await stop()


async def test_fleet_safe_mode_uses_the_agent_configmap_and_reports_every_node(aiohttp_client: AiohttpClient,
                                                                               tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        async with agents_react(harness, only={"node-00000", "node-00001", "node-00002"}):
            status, result = await harness.call("post", "/api/v1/clusters/local/safe-mode", "operator",
                                                {"enabled": True, "wait_seconds": 0.5})
        assert status == 200 and result["result"] == "partial"
        assert result["nodes"] == {"node-00000": "safe-mode", "node-00001": "safe-mode", "node-00002": "safe-mode",
                                   "node-00003": "enforcing"}
        assert harness.api.objects["configmaps"][CONFIGMAP]["metadata"]["annotations"][SAFE_MODE_KEY] == "true"
        async with agents_react(harness):
            status, result = await harness.call("post", "/api/v1/clusters/local/nodes/node-00003/safe-mode",
                                                "operator", {"enabled": False, "wait_seconds": 0.2})
            assert "fleet-wide safe mode is still requested" in result["detail"]
            status, result = await harness.call("post", "/api/v1/clusters/local/safe-mode", "operator",
                                                {"enabled": False, "wait_seconds": 5})
        assert result["result"] == "ok" and set(result["nodes"].values()) == {"enforcing"}
    finally:
        await stop()


async def test_fleet_safe_mode_without_a_configmap_is_a_clear_501(aiohttp_client: AiohttpClient,
                                                                  tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path, agent_configmap="")
    try:
        status, body = await harness.call("post", "/api/v1/clusters/local/safe-mode", "operator", {"enabled": True})
        assert status == 501 and "--agent-configmap" in body["error"]["message"]
        assert harness.echoed()[-1]["result"] == "failed"
    finally:
        await stop()


async def test_rollout_restart_patches_the_pod_template_annotation(aiohttp_client: AiohttpClient,
                                                                   tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    path = "/api/v1/clusters/local/workloads/Deployment/ns-000/app0/restart"
    try:
        status, result = await harness.call("post", path, "operator")
        assert status == 200 and result["result"] == "ok"
        content_type, api_path, body = harness.api.patches[-1]
        assert (content_type, api_path) == ("application/strategic-merge-patch+json",
                                            "/apis/apps/v1/namespaces/ns-000/deployments/app0")
        stamp = body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        deployment = harness.api.objects["deployments"][("ns-000", "app0")]
        assert deployment["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == stamp
        assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "app0"}, "the rest is kept"
        assert (await harness.call("post", path, "operator"))[0] == 200
        assert harness.echoed()[-1]["previous"] == {"restartedAt": stamp}
        assert (await harness.call("post", path.replace("Deployment", "Job"), "operator"))[0] == 400
        assert (await harness.call("post", path.replace("app0", "gone"), "operator"))[0] == 404
    finally:
        await stop()


async def test_traces_are_captured_and_downloaded_through_the_agent(aiohttp_client: AiohttpClient,
                                                                    tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    base = "/api/v1/clusters/local/nodes/node-00001/traces"
    try:
        status, result = await harness.call("post", base, "operator", {"seconds": 2})
        assert status == 200 and result["result"] == "ok"
        status, blob = await harness.call("get", f"{base}/{result['trace_id']}", "operator")
        assert status == 200 and blob == b"trace-bytes-node-00001"
        assert (await harness.call("get", f"{base}/nope", "operator"))[0] == 404
        harness.agents.traces_supported = False
        status, body = await harness.call("post", base, "operator", {"seconds": 2})
        assert status == 501 and body["error"]["code"] == "agent-lacks-traces"
        assert "does not support trace capture" in body["error"]["message"]
        assert harness.echoed()[-1]["result"] == "failed"
        assert (await harness.call("post", base, "operator", {"seconds": 0}))[0] == 400
    finally:
        await stop()


async def test_an_unreachable_agent_is_a_502_not_a_fake_success(aiohttp_client: AiohttpClient,
                                                                tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path, agent_url="http://127.0.0.1:9/{node}")
    try:
        status, body = await harness.call("post", "/api/v1/clusters/local/nodes/node-00001/traces", "operator")
        assert status == 502 and body["error"]["code"] == "agent-unreachable"
    finally:
        await stop()
