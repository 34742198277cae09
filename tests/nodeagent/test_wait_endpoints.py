"""Runqueue waits through the real app factory: the enforcer's histograms (here a recording
enforcer standing in for the BPF maps, whose real read is tests/nodeagent/test_bpf_enforcer_maps.py)
become ``temper_runqueue_wait_seconds{tier}`` and ``temper_pod_runqueue_wait_seconds`` histograms
that the real ``promtool check metrics`` accepts, and ``runqueue_wait`` summaries in /observe."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from nodeagent.agent import Agent
from nodeagent.server import create_app
from temper.tiers import Tier
from temper.waits import WaitHistogram
from tests.nodeagent.fakes import RecordingEnforcer
from tests.nodeagent.harness import make_agent, make_node

AiohttpClient = Any
CRITICAL_WAITS = WaitHistogram.of_waits([3_000] * 98 + [40_000, 2_000_000])  # 3 µs mostly, a 2 ms tail
BATCH_WAITS = WaitHistogram.of_waits([30_000_000] * 10)  # 30 ms each


async def _agent(tmp_path: Path) -> tuple[Agent, str]:
    node = make_node(tmp_path)
    node.add_pod("db", tier="critical")
    node.add_pod("batch", tier="background")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    db = next(p.uid for p in agent.state.pods if p.name == "db")
    enforcer.waits = {Tier.CRITICAL: CRITICAL_WAITS, Tier.BACKGROUND: BATCH_WAITS}
    enforcer.pod_waits = {agent.state.cgroups[db].cgroup_id: CRITICAL_WAITS, 999_999: BATCH_WAITS}
    await agent.step()  # the scan reads the enforcer's status
    return agent, db


def _samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def test_waits_are_histograms_per_tier_and_per_known_pod(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    agent, _ = await _agent(tmp_path)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    samples = _samples((await (await client.get("/metrics")).read()).decode())
    tier = 'temper_runqueue_wait_seconds_bucket{le="%s",tier="critical"}'
    assert samples[tier % "4.096e-06"] == 98 and samples[tier % "6.5536e-05"] == 99 and samples[tier % "+Inf"] == 100
    assert samples['temper_runqueue_wait_seconds_count{tier="critical"}'] == 100
    assert samples['temper_runqueue_wait_seconds_count{tier="high"}'] == 0  # every tier, always
    assert samples['temper_runqueue_wait_seconds_sum{tier="background"}'] == pytest.approx(0.3)
    pod = 'temper_pod_runqueue_wait_seconds_bucket{le="%s",namespace="default",pod="db"}'
    assert samples[pod % "1.6384e-05"] == 98 and samples[pod % "0.004194304"] == 100
    buckets = [k for k in samples if k.startswith("temper_pod_runqueue_wait_seconds_bucket")]
    assert len(buckets) == 9  # 8 coarse bounds + Inf, for db only: the other cgroup is no known pod


async def test_observe_summarises_the_waits(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    agent, db = await _agent(tmp_path)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    document = json.loads(await (await client.get("/observe")).read())
    critical = document["tiers"]["critical"]["runqueue_wait"]
    assert critical["count"] == 100 and critical["p50_us"] == 4.096 and critical["p99_us"] == 65.536
    assert document["tiers"]["high"]["runqueue_wait"] is None
    pods = {p["uid"]: p for p in document["pods"]}
    assert pods[db]["runqueue_wait"]["p99_us"] == 65.536
    assert all(p["runqueue_wait"] is None for uid, p in pods.items() if uid != db)


@pytest.mark.tools
async def test_wait_metrics_pass_promtool_check_metrics(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (apt-get install prometheus)"
    agent, _ = await _agent(tmp_path)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    body = await (await client.get("/metrics")).read()
    assert b"temper_pod_runqueue_wait_seconds_bucket{" in body
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout.decode() + result.stderr.decode()
