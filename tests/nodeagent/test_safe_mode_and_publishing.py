"""Safe mode and node annotations, against a fake API server spoken to over real HTTP (an
aiohttp application serving Node and ConfigMap JSON, ``tests/nodeagent/fakes.py``) with a
recording fake Enforcer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from nodeagent.publish import Publisher, node_load
from nodeagent.safemode import SafeModePoller, SafeModeSources, decide, parse_configmap_ref
from temper.annotations import (
    ENFORCEMENT_KEY,
    SAFE_MODE_KEY,
    TIER_LOAD_KEY,
    EnforcementState,
    EnforcementStatus,
    PublishPolicy,
    decode_enforcement,
    decode_node_load,
)
from temper.kube.client import ApiClient, ApiConfig
from temper.plan import Plan, plan
from temper.pods import PodInfo, QosClass
from temper.tiers import Tier
from temper.topology import NodeTopology
from tests.nodeagent.fakes import FakeApiState, RecordingEnforcer, fake_api
from tests.nodeagent.harness import make_agent, make_node


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeApiState, ApiClient]]:
    state = FakeApiState()
    state.nodes["node-a"] = {"kind": "Node", "metadata": {"name": "node-a", "annotations": {}}}
    state.configmaps[("temper", "agent")] = {"kind": "ConfigMap", "metadata": {"name": "agent"}}
    server = TestServer(fake_api(state))
    await server.start_server()
    async with ApiClient(ApiConfig(base_url=str(server.make_url("")).rstrip("/"))) as client:
        yield state, client
    await server.close()


def test_either_source_requests_safe_mode_and_unknown_is_not_a_request() -> None:
    assert decide(SafeModeSources(True, False))[0]
    assert decide(SafeModeSources(False, True))[0]
    assert "ConfigMap" in decide(SafeModeSources(None, True))[1]
    assert not decide(SafeModeSources(None, None))[0]


@pytest.mark.parametrize("text", ["temper", "temper/", "/agent", "Temper/agent", "a/b/c", "a b/c"])
def test_a_bad_configmap_reference_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_configmap_ref(text)


def test_a_configmap_reference_splits_into_namespace_and_name() -> None:
    assert parse_configmap_ref("temper-system/temper-agent") == ("temper-system", "temper-agent")


async def _running_agent(tmp_path: Path, api: tuple[FakeApiState, ApiClient],
                         ) -> tuple[RecordingEnforcer, SafeModePoller, asyncio.Task[None], asyncio.Task[None]]:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    poller = SafeModePoller(api[1], "node-a", ("temper", "agent"), 0.1, agent.on_safe_mode)
    return enforcer, poller, asyncio.create_task(agent.run()), asyncio.create_task(poller.run())


async def _until(predicate: object, timeout: float = 5.0) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():  # type: ignore[operator]  # any zero-argument callable
        assert loop.time() - start < timeout, "not within 5 s"
        await asyncio.sleep(0.02)
    return loop.time() - start


async def test_the_node_annotation_stands_down_within_5s_and_removal_resumes(
        tmp_path: Path, api: tuple[FakeApiState, ApiClient]) -> None:
    state, _ = api
    enforcer, _poller, agent_task, poll_task = await _running_agent(tmp_path, api)
    try:
        await _until(lambda: enforcer.attached)
        state.nodes["node-a"]["metadata"]["annotations"][SAFE_MODE_KEY] = "true"
        await _until(lambda: not enforcer.attached)
        assert enforcer.calls[-1][0] == "stand_down" and "set on the node" in enforcer.calls[-1][1]
        applies = enforcer.names().count("apply")
        await asyncio.sleep(0.3)
        assert enforcer.names().count("apply") == applies, "no apply while in safe mode"
        del state.nodes["node-a"]["metadata"]["annotations"][SAFE_MODE_KEY]
        await _until(lambda: enforcer.attached)
        assert enforcer.names().count("apply") == applies + 1
    finally:
        for task in (agent_task, poll_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_fleet_configmap_annotation_requests_safe_mode_too(
        tmp_path: Path, api: tuple[FakeApiState, ApiClient]) -> None:
    state, _ = api
    enforcer, poller, agent_task, poll_task = await _running_agent(tmp_path, api)
    try:
        await _until(lambda: enforcer.attached)
        state.configmaps[("temper", "agent")]["metadata"]["annotations"] = {SAFE_MODE_KEY: "yes"}
        await _until(lambda: not enforcer.attached)
        assert poller.requested and "fleet" in poller.reason
        state.configmaps[("temper", "agent")]["metadata"]["annotations"] = {SAFE_MODE_KEY: "false"}
        await _until(lambda: enforcer.attached)
    finally:
        for task in (agent_task, poll_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_an_api_outage_keeps_the_last_safe_mode_answer(api: tuple[FakeApiState, ApiClient]) -> None:
    state, client = api
    changes: list[bool] = []

    async def record(requested: bool, reason: str) -> None:
        changes.append(requested)

    state.nodes["node-a"]["metadata"]["annotations"][SAFE_MODE_KEY] = "true"
    poller = SafeModePoller(client, "node-a", None, 0.1, record)
    assert await poller.poll_once()
    state.get_failures = 5
    assert await poller.poll_once()
    assert changes == [True] and poller.errors == 1


def _plan_with_critical() -> Plan:
    pods = [PodInfo("u1", "ns", "db", Tier.CRITICAL, 1500, None, QosClass.GUARANTEED),
            PodInfo("u2", "ns", "web", Tier.NORMAL, 500, None, QosClass.BURSTABLE)]
    return plan(NodeTopology.uniform(8, 2), pods)


def test_node_load_reports_free_protected_capacity_usage_and_worst_pressure() -> None:
    planned = _plan_with_critical()
    load = node_load(planned, {"u1": 800, "u2": 300}, {"u1": 2.5, "u2": 9.0}, 1000)
    assert load.free_protected_milli == 2 * 1000 - 1500
    assert load.tier(Tier.CRITICAL).used_milli == 800 and load.tier(Tier.NORMAL).pressure_pct == 9.0
    assert load.cpus == 8 and load.fenced == frozenset({6, 7})


async def test_annotations_are_patched_only_when_due_and_retried_after_errors(
        api: tuple[FakeApiState, ApiClient]) -> None:
    state, client = api
    planned = _plan_with_critical()
    publisher = Publisher(client, "node-a", PublishPolicy())
    enforcing = EnforcementStatus(EnforcementState.ENFORCING, kernel="6.12.8", since=1)
    load = node_load(planned, {}, {}, 1000)
    state.patch_failures = 1
    assert not await publisher.publish(load, enforcing)
    assert publisher.errors == 1 and state.patches == []
    assert await publisher.publish(load, enforcing)
    annotations = state.nodes["node-a"]["metadata"]["annotations"]
    assert decode_node_load(annotations[TIER_LOAD_KEY]).free_protected_milli == 500
    assert decode_enforcement(annotations[ENFORCEMENT_KEY]).state is EnforcementState.ENFORCING
    assert not await publisher.publish(node_load(planned, {"u2": 10}, {}, 1005), enforcing)
    safe = EnforcementStatus(EnforcementState.SAFE_MODE, reason="operator", since=2)
    assert await publisher.publish(node_load(planned, {}, {}, 1006), safe)
    assert set(state.patches[-1][1]["metadata"]["annotations"]) == {ENFORCEMENT_KEY}
    assert decode_enforcement(annotations[ENFORCEMENT_KEY]).state is EnforcementState.SAFE_MODE


async def test_a_missing_node_is_an_api_error_not_a_crash(api: tuple[FakeApiState, ApiClient]) -> None:
    _, client = api
    publisher = Publisher(client, "node-zz", PublishPolicy())
    planned = _plan_with_critical()
    status = EnforcementStatus(EnforcementState.OBSERVE_ONLY)
    assert not await publisher.publish(node_load(planned, {}, {}, 1), status)
    assert publisher.errors == 1
