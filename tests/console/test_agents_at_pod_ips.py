"""The trace actions and the savings sampler reach a node's agent where the chart's agent really
listens: the IP of the ``--agent-selector`` pod on that node, not the node's InternalIP.

Against the fake API server and fake agents over real HTTP (``tests.console.actions_harness``;
no kube-apiserver here). The fake agents listen on 127.0.0.2 only — the agent pod's IP — while
every node's InternalIP is 127.0.0.3, where nothing listens, so a request that went to the
InternalIP fails. The console's template is the chart's ``http://{ip}:PORT/...``.

node-00000  agent pod at 127.0.0.2           -> traces and samples work
node-00001  no agent pod, InternalIP only    -> 502 agent-unreachable saying no agent pod is known
node-00002  no agent pod, no InternalIP      -> 502 no-agent-address
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from console import models as m
from console.agents import VIA_INTERNAL_IP, Observation
from console.explorer_api import AGENTS, EXPLORER
from console.savings import RecommendPolicy, SavingsConfig
from console.savings_api import STATE
from tests.console.actions_harness import AiohttpClient, Harness, start
from tests.console.fakeapi import FakeApi, make_pod

POD_IP, NODE_IP = "127.0.0.2", "127.0.0.3"
SELECTOR = {"app.kubernetes.io/component": "agent"}
TRACES = "/api/v1/clusters/local/nodes/{}/traces"


def agent_pods_and_node_ips(api: FakeApi) -> None:
    for (_, name), node in api.objects["nodes"].items():
        node["status"]["addresses"] = [] if name == "node-00002" else [{"type": "InternalIP", "address": NODE_IP}]
    agent = make_pod("infera", "infera-agent-a1", "node-00000", 0, labels=SELECTOR)
    agent["status"]["podIP"] = POD_IP
    api.put("pods", agent)
    elsewhere = make_pod("infera", "not-the-agent", "node-00001", 0, labels={"app": "web"})
    elsewhere["status"]["podIP"] = POD_IP  # a pod IP, but not the selected agent's: never used
    api.put("pods", elsewhere)


async def started(aiohttp_client: AiohttpClient, tmp_path: Path) -> tuple[Harness, Callable[[], Awaitable[None]]]:
    savings = SavingsConfig(sample_seconds=0.05, policy=RecommendPolicy(min_samples=2))
    harness, stop = await start(aiohttp_client, tmp_path, nodes=3, pods=30, agents_host=POD_IP, agents_by_ip=True,
                                prepare=agent_pods_and_node_ips, savings=savings)
    app = harness.client.app
    assert app is not None
    for _ in range(200):
        if app[EXPLORER].agent_ips.get("node-00000") == POD_IP:
            break
        await asyncio.sleep(0.02)
    assert app[EXPLORER].agent_ips == {"node-00000": POD_IP}
    return harness, stop


async def test_a_trace_is_captured_and_downloaded_at_the_agent_pods_ip(aiohttp_client: AiohttpClient,
                                                                       tmp_path: Path) -> None:
    harness, stop = await started(aiohttp_client, tmp_path)
    try:
        status, result = await harness.call("post", TRACES.format("node-00000"), "operator", {"seconds": 2})
        assert status == 200 and result["result"] == "ok", result
        status, blob = await harness.call("get", f"{TRACES.format('node-00000')}/{result['trace_id']}", "operator")
        assert status == 200 and blob == b"trace-bytes-node-00000"
    finally:
        await stop()


async def test_a_node_without_an_agent_pod_is_a_clear_502_not_a_fake_success(aiohttp_client: AiohttpClient,
                                                                             tmp_path: Path) -> None:
    harness, stop = await started(aiohttp_client, tmp_path)
    try:
        status, body = await harness.call("post", TRACES.format("node-00001"), "operator", {"seconds": 2})
        assert status == 502 and body["error"]["code"] == "agent-unreachable"
        assert VIA_INTERNAL_IP in body["error"]["message"] and "no agent pod" in body["error"]["message"]
        assert harness.echoed()[-1]["result"] == "failed"
        status, body = await harness.call("get", f"{TRACES.format('node-00001')}/t1", "operator")
        assert status == 502 and body["error"]["code"] == "agent-unreachable"
        status, body = await harness.call("post", TRACES.format("node-00002"), "operator", {"seconds": 2})
        assert status == 502 and body["error"]["code"] == "no-agent-address"
        assert "neither an agent pod nor an InternalIP" in body["error"]["message"]
        status, body = await harness.call("post", TRACES.format("node-09999"), "operator", {"seconds": 2})
        assert status == 404
        assert harness.agents.trace_blobs == {}
    finally:
        await stop()


async def test_the_savings_sampler_reads_the_agent_at_its_pod_ip_through_the_shared_client(
        aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    harness, stop = await started(aiohttp_client, tmp_path)
    app = harness.client.app
    assert app is not None
    try:
        assert harness.plane.agents is app[AGENTS]  # one locator, one /observe client and cache
        usage = app[STATE].usage
        for _ in range(200):
            if usage.recommended:
                break
            await asyncio.sleep(0.02)
        on_agent_node = {f"{p.namespace}/{p.name}" for p in app[EXPLORER].pods.items.values()
                         if p.node == "node-00000"}
        assert usage.samples and set(usage.samples) <= on_agent_node
        assert set(usage.recommended) <= on_agent_node and usage.recommended
        assert isinstance(await app[AGENTS].observe("node-00000"), Observation)
        assert harness.agents.observed.keys() == {"node-00000"}  # nothing else is reachable
    finally:
        await stop()


async def test_the_sampler_and_the_explorer_share_one_cache_per_node(aiohttp_client: AiohttpClient,
                                                                     tmp_path: Path) -> None:
    harness, stop = await started(aiohttp_client, tmp_path)
    app = harness.client.app
    assert app is not None
    try:
        app[AGENTS].ttl_s = 600.0  # every sweep (each 0.05 s) and read from now on hits the cache
        usage = app[STATE].usage
        pod = next(f"{p.namespace}/{p.name}" for p in app[EXPLORER].pods.items.values()
                   if p.node == "node-00000" and p.namespace != "infera")
        for _ in range(200):
            if len(usage.samples.get(pod, ())) >= 1:
                break
            await asyncio.sleep(0.02)
        requests = harness.agents.observed["node-00000"]
        for _ in range(200):
            if len(usage.samples[pod]) >= 6:
                break
            await asyncio.sleep(0.02)
        assert len(usage.samples[pod]) >= 6
        status, detail = await harness.call("get", "/api/v1/clusters/local/nodes/node-00000", "viewer")
        assert status == 200 and detail["agent"]["reachable"] is True
        assert harness.agents.observed["node-00000"] == requests  # no second poller, no second client
        unreachable = await app[AGENTS].observe("node-00001")
        assert isinstance(unreachable, m.AgentStatus) and "no agent pod" in (unreachable.error or "")
    finally:
        await stop()
