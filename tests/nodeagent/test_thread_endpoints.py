"""Per-thread telemetry through the real app factory: the agent reads threads once per scan,
/observe serves them as temper.threads/v1 (JSON and CBOR), /metrics as bounded series that
the real ``promtool check metrics`` accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cbor2
import pytest
from aiohttp.test_utils import TestClient

from nodeagent.agent import Agent
from nodeagent.server import create_app
from temper.config import AgentConfig
from temper.threadsnap import DEFAULT_TOP_K, snapshot_from_dict
from tests.nodeagent.fakes import RecordingEnforcer
from tests.nodeagent.harness import Node, make_agent, make_node
from tests.nodeagent.trees import write_cgroup_threads, write_proc_thread

AiohttpClient = Any  # the pytest-aiohttp fixture's factory type is not exported
CONTAINER = "cri-containerd-0123abcd.scope"


def _give_threads(node: Node, agent: Agent, name: str, threads: int, first_tid: int) -> str:
    """``threads`` threads (tid ``first_tid``..., cpu_ns growing with the tid) in ``name``'s container."""
    uid = next(p.uid for p in agent.state.pods if p.name == name)
    tids = list(range(first_tid, first_tid + threads))
    write_cgroup_threads(node.cgroup_root / agent.state.cgroups[uid].path / CONTAINER, tids)
    for tid in tids:
        write_proc_thread(node.sysfs_root / "proc", tid, comm="worker", state="R", cpu_ns=tid * 1_000_000,
                          wait_ns=tid * 1_000, timeslices=tid, last_cpu=tid % 8)
    return uid


async def _agent(tmp_path: Path, threads: dict[str, int]) -> tuple[Node, Agent, dict[str, str]]:
    node = make_node(tmp_path)
    for name in threads:
        node.add_pod(name)
    agent = make_agent(node, RecordingEnforcer())
    await agent.start()
    await agent.step()  # finds the cgroups
    uids = {name: _give_threads(node, agent, name, count, 1000 * (i + 1))
            for i, (name, count) in enumerate(threads.items())}
    await agent.step()  # reads the threads
    return node, agent, uids


def _samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def test_observe_serves_the_threads_of_each_pod_as_json_and_cbor(tmp_path: Path,
                                                                     aiohttp_client: AiohttpClient) -> None:
    _, agent, uids = await _agent(tmp_path, {"web": 3, "db": 12})
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    as_json = await (await client.get("/observe")).json()
    response = await client.get("/observe", headers={"Accept": "application/cbor"})
    assert response.content_type == "application/cbor"
    as_cbor = cbor2.loads(await response.read())
    assert as_json["threads"] == json.loads(json.dumps(as_cbor["threads"]))
    threads = as_json["threads"]
    assert threads["schema"] == "temper.threads/v1" and threads["top_k"] == DEFAULT_TOP_K
    assert threads["taken_at"] > 1.6e9, "a unix time in seconds"
    web = threads["pods"][uids["web"]]
    assert (web["total"], web["shown"], web["truncated"]) == (3, 3, False)
    assert web["threads"][0] == {"tid": 1002, "comm": "worker", "container": CONTAINER, "state": "R",
                                 "cpu_ns": 1_002_000_000, "wait_ns": 1_002_000, "timeslices": 1002, "last_cpu": 2}
    assert web["rest"] == {"threads": 0, "cpu_ns": 0, "wait_ns": 0, "timeslices": 0}
    db = threads["pods"][uids["db"]]
    assert (db["total"], db["shown"]) == (12, DEFAULT_TOP_K)
    assert [t["tid"] for t in db["threads"]] == list(range(2011, 2011 - DEFAULT_TOP_K, -1)), "busiest first"
    assert db["rest"] == {"threads": 2, "cpu_ns": 4_001_000_000, "wait_ns": 4_001_000, "timeslices": 4001}
    assert snapshot_from_dict(threads) == agent.state.threads


async def test_threads_are_read_once_per_scan_not_per_request(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    node, agent, uids = await _agent(tmp_path, {"web": 2})
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    taken_at = agent.state.threads.taken_at
    write_proc_thread(node.sysfs_root / "proc", 1000, cpu_ns=99 * 10**9)
    first = (await (await client.get("/observe")).json())["threads"]
    assert first["taken_at"] == taken_at and first["pods"][uids["web"]]["threads"][0]["cpu_ns"] == 1_001_000_000
    await agent.step()
    second = (await (await client.get("/observe")).json())["threads"]
    assert second["taken_at"] > taken_at and second["pods"][uids["web"]]["threads"][0]["cpu_ns"] == 99 * 10**9


async def test_metrics_cap_a_pod_of_1000_threads_at_k_plus_one_series(tmp_path: Path,
                                                                      aiohttp_client: AiohttpClient) -> None:
    _, agent, _ = await _agent(tmp_path, {"fat": 1000, "thin": 2})
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    samples = _samples(await (await client.get("/metrics")).text())
    assert samples['temper_pod_threads{namespace="default",pod="fat"}'] == 1000
    assert samples['temper_pod_threads{namespace="default",pod="thin"}'] == 2
    for family in ("temper_pod_thread_cpu_seconds_total", "temper_pod_thread_wait_seconds_total"):
        fat = [k for k in samples if k.startswith(f'{family}{{namespace="default",pod="fat",')]
        assert len(fat) == DEFAULT_TOP_K + 1, family
        thin = [k for k in samples if k.startswith(f'{family}{{namespace="default",pod="thin",')]
        assert len(thin) == 3, "two threads and an (empty) other"
    busiest = 'temper_pod_thread_cpu_seconds_total{namespace="default",pod="fat",thread="worker-1999"}'
    assert samples[busiest] == pytest.approx(1.999)
    shown = sum(v for k, v in samples.items()
                if k.startswith('temper_pod_thread_cpu_seconds_total{namespace="default",pod="fat",'))
    assert shown == pytest.approx(sum(range(1000, 2000)) / 1000), "top K + other == every thread's time"
    assert samples['temper_pod_thread_wait_seconds_total{namespace="default",pod="thin",thread="other"}'] == 0


async def test_thread_read_trouble_is_counted_in_metrics(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    node, agent, uids = await _agent(tmp_path, {"web": 2})
    cgroup = node.cgroup_root / agent.state.cgroups[uids["web"]].path / CONTAINER
    write_cgroup_threads(cgroup, [1000, 1001, 0, 55555])  # 55555: exited; 0: lost its PID while dying
    (node.sysfs_root / "proc" / "1001" / "stat").write_text("1001 (worker) R\n")  # malformed
    await agent.step()
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    samples = _samples(await (await client.get("/metrics")).text())
    assert samples["temper_agent_threads_vanished_total"] == 2
    assert samples["temper_agent_thread_read_errors"] == 1
    threads = (await (await client.get("/observe")).json())["threads"]
    assert "malformed stat" in threads["errors"][uids["web"]] and threads["vanished"] == 2
    assert threads["pods"][uids["web"]]["total"] == 1, "the readable thread is kept"


@pytest.mark.tools
async def test_thread_metrics_pass_promtool_check_metrics(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (apt-get install prometheus)"
    _, agent, _ = await _agent(tmp_path, {"web": 3, "db": 40})
    client: TestClient[Any, Any] = await aiohttp_client(create_app(agent, run_loop=False))
    body = await (await client.get("/metrics")).read()
    assert b"temper_pod_thread_cpu_seconds_total{" in body and b"temper_pod_threads{" in body
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout.decode() + result.stderr.decode()


async def test_no_threads_reads_no_thread_and_says_so_by_an_empty_snapshot(tmp_path: Path) -> None:
    """``--no-threads`` (the chart's ``agent.threadTelemetry=false``, no host PID namespace):
    the threads are on disk, yet the agent never reads them - no error per pod either."""
    node = make_node(tmp_path)
    node.add_pod("web")
    agent = make_agent(node, RecordingEnforcer(), read_threads=False)
    await agent.start()
    await agent.step()
    _give_threads(node, agent, "web", 3, 1000)
    await agent.step()
    assert agent.threads is None
    assert agent.state.threads.taken_at == 0.0 and not agent.state.threads.pods and not agent.state.threads.errors


async def test_threads_are_read_every_thread_scan_interval_not_every_scan(tmp_path: Path) -> None:
    """The default cadence (30 s, ``agent.threadScanIntervalSeconds``): ~15 us per thread makes
    a read at every 2 s scan too dear (benchmarks/agent_overhead.py); the first scan reads at once."""
    node = make_node(tmp_path)
    node.add_pod("web")
    agent = make_agent(node, RecordingEnforcer(), config=AgentConfig(scan_interval_s=0.1))
    await agent.start()
    await agent.step()
    first = agent.state.threads.taken_at
    _give_threads(node, agent, "web", 3, 1000)
    for _ in range(3):
        await agent.step()
    assert first > 0 and agent.state.threads.taken_at == first  # the same snapshot: nothing re-read
    assert all(pod.total == 0 for pod in agent.state.threads.pods.values())
    agent._threads_read_at -= 30.0  # the interval has passed
    await agent.step()
    assert agent.state.threads.taken_at > first and len(next(iter(agent.state.threads.pods.values())).threads) == 3
