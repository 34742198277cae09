"""The rightsizer reads the real agent's ``/observe`` documents: the wire contract between
``nodeagent`` (writer of ``temper.threads/v1``) and ``temper.rightsize`` (its reader), checked
on documents the agent itself produced from a fake procfs/cgroup tree (no kubelet here)."""

from __future__ import annotations

import json
from pathlib import Path

from nodeagent.server import observe_document
from temper.rightsize import Document
from temper.rightsize.observed import observe
from tests.nodeagent.fakes import RecordingEnforcer
from tests.nodeagent.harness import make_agent, make_node
from tests.nodeagent.test_thread_endpoints import _give_threads


async def test_the_agents_thread_snapshots_become_the_rightsizers_thread_series(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    agent = make_agent(node, RecordingEnforcer())
    await agent.start()
    await agent.step()
    uid = _give_threads(node, agent, "web", 12, 1000)
    documents = []
    for i in range(2):
        await agent.step()
        body = json.loads(json.dumps(observe_document(agent.state)))  # exactly what /observe sends
        documents.append(Document(taken_at=float(i), source="node-a", body=body))
    series = observe(documents).pods[uid]
    assert series.name == "web" and len(series.samples) == 2
    first, second = series.threads  # one per scan, at the agent's own read times
    assert 0 < first.t < second.t
    for snapshot in (first, second):
        assert len(snapshot.threads) == 10 and snapshot.threads[0].tid == 1011  # top 10 by cpu_ns
        assert snapshot.rest_cpu_ns == (1000 + 1001) * 1_000_000  # the two smallest, aggregated
