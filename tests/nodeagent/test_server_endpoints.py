"""/metrics, /observe, /healthz and /readyz through the real app factory (``aiohttp_client``),
over generated sysfs/cgroup trees with a recording fake Enforcer. /metrics is linted by the
real ``promtool check metrics``."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import cbor2
import pytest
from aiohttp.test_utils import TestClient

from nodeagent.agent import Agent
from nodeagent.server import create_app, observe_document
from temper.bpfmaps import ThrottleStats
from temper.tiers import Tier
from tests.nodeagent.fakes import RecordingEnforcer
from tests.nodeagent.harness import make_agent, make_node

AiohttpClient = Any  # the pytest-aiohttp fixture's factory type is not exported


async def _agent(tmp_path: Path) -> tuple[Agent, RecordingEnforcer]:
    node = make_node(tmp_path)
    node.add_pod("db", "critical", "1500m")
    node.add_pod("web", "high")
    node.add_pod("batch", "background", "2")
    enforcer = RecordingEnforcer()
    enforcer.counters = {Tier.CRITICAL: {"dispatched": 7, "preempt_kicks": 2}, Tier.LOW: {"dispatched": 1}}
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    return agent, enforcer


def _samples(text: str) -> dict[str, float]:
    result = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            result[name] = float(value)
    return result


async def test_metrics_export_state_in_base_units_with_bounded_labels(tmp_path: Path,
                                                                       aiohttp_client: AiohttpClient) -> None:
    agent, _ = await _agent(tmp_path)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    samples = _samples(await response.text())
    assert samples['temper_agent_pods{tier="critical"}'] == 1
    assert samples['temper_agent_requested_cpus{tier="background"}'] == 2.0
    assert samples['temper_agent_requested_cpus{tier="critical"}'] == 1.5
    assert samples['temper_agent_pods{tier="low"}'] == 0, "all five tiers are pre-initialised"
    assert samples["temper_agent_fenced_cpus"] == 2
    assert samples["temper_agent_plan_applies_total"] == 1
    assert samples['temper_agent_enforcement_state{state="enforcing"}'] == 1
    assert samples['temper_agent_enforcement_state{state="safe-mode"}'] == 0
    assert samples['temper_agent_skipped_pods{reason="no_cgroup"}'] == 0
    assert samples['temper_agent_scheduler_events_total{counter="dispatched",tier="critical"}'] == 7
    assert samples['temper_agent_scheduler_events_total{counter="preempt_kicks",tier="normal"}'] == 0
    assert samples["temper_agent_scans_total"] == 1


@pytest.mark.tools
async def test_metrics_pass_promtool_check_metrics(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (apt-get install prometheus)"
    agent, enforcer = await _agent(tmp_path)
    enforcer.throttling = {cg.cgroup_id: ThrottleStats(10, 2, 3_000, 0, False) for cg in agent.state.cgroups.values()}
    await agent.step()
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    body = await (await client.get("/metrics")).read()
    assert b"temper_pod_cpu_throttled_seconds_total{" in body
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, check=False)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


async def test_observe_serves_the_same_snapshot_as_json_and_cbor(tmp_path: Path,
                                                                 aiohttp_client: AiohttpClient) -> None:
    agent, _ = await _agent(tmp_path)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    as_json = await (await client.get("/observe")).json()
    response = await client.get("/observe", headers={"Accept": "application/cbor"})
    assert response.content_type == "application/cbor"
    as_cbor = cbor2.loads(await response.read())
    assert as_json == json.loads(json.dumps(as_cbor))
    assert as_json["node"] == "node-a" and as_json["plan"]["fenced"] == "6-7"
    db = next(p for p in as_json["pods"] if p["name"] == "db")
    assert db["tier"] == "critical" and db["request_m"] == 1500
    assert db["cgroup"]["path"].startswith("kubepods.slice/") and db["cgroup"]["id"] > 0
    assert as_json["tiers"]["background"]["request_m"] == 2000
    assert as_json["enforcement"]["state"] == "enforcing"
    assert as_json["enforcer"]["counters"]["critical"]["dispatched"] == 7


async def test_throttle_counters_are_exported_per_pod_in_metrics_and_observe(
        tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    agent, enforcer = await _agent(tmp_path)
    db = next(p for p in agent.state.pods if p.name == "db")
    db_cgroup = agent.state.cgroups[db.uid].cgroup_id
    enforcer.throttling = {
        db_cgroup: ThrottleStats(nr_periods=120, nr_throttled=7, throttled_ns=2_500_000_000, runtime_ns=-5,
                                 throttled=True),
        999_999: ThrottleStats(3, 1, 1_000, 0, False),  # a cgroup the agent knows no pod of (container level)
    }
    await agent.step()
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    text = await (await client.get("/metrics")).text()
    samples = _samples(text)
    assert samples['temper_pod_cpu_nr_periods_total{namespace="default",pod="db"}'] == 120
    assert samples['temper_pod_cpu_nr_throttled_total{namespace="default",pod="db"}'] == 7
    assert samples['temper_pod_cpu_throttled_seconds_total{namespace="default",pod="db"}'] == 2.5
    for name in ("nr_periods", "nr_throttled", "throttled_seconds"):
        assert f"# TYPE temper_pod_cpu_{name}_total counter" in text or f"# TYPE temper_pod_cpu_{name} counter" in text
        assert f"# HELP temper_pod_cpu_{name}" in text
    assert [k for k in samples if k.startswith("temper_pod_cpu_")] == [
        f'temper_pod_cpu_{name}_total{{namespace="default",pod="db"}}'
        for name in ("nr_periods", "nr_throttled", "throttled_seconds")], "only pods with counters, nothing else"
    pods = {p["name"]: p for p in (await (await client.get("/observe")).json())["pods"]}
    assert pods["db"]["throttling"] == {"nr_periods": 120, "nr_throttled": 7, "throttled_seconds": 2.5}
    assert pods["web"]["throttling"] is None


def test_observe_before_any_plan_has_no_plan_and_is_not_ready(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    agent = make_agent(node, RecordingEnforcer())
    document = observe_document(agent.state)
    assert document["plan"] is None and document["ready"] is False and document["pods"] == []


async def test_readyz_waits_for_the_first_applied_plan(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    enforcer.fail_applies = 1
    agent = make_agent(node, enforcer)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    assert (await client.get("/readyz")).status == 503
    await agent.start()
    await agent.step()
    response = await client.get("/readyz")
    assert response.status == 503 and "not applied" in await response.text()
    agent.state.last_apply = -1e9
    await agent.step()
    assert (await client.get("/readyz")).status == 200


async def test_healthz_fails_when_the_loop_stops_completing_iterations(tmp_path: Path,
                                                                       aiohttp_client: AiohttpClient) -> None:
    agent, _ = await _agent(tmp_path)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    assert (await client.get("/healthz")).status == 200
    agent.state.last_iteration = time.monotonic() - 3600
    assert (await client.get("/healthz")).status == 503


async def test_the_app_lifetime_runs_the_loop_and_stands_down_on_exit(tmp_path: Path,
                                                                      aiohttp_client: AiohttpClient) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent))
    import asyncio

    for _ in range(200):
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.02)
    assert enforcer.attached
    await client.close()
    assert enforcer.calls[-1] == ("stand_down", "agent stopping")
