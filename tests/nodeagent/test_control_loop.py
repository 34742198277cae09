"""The control loop plans from pods, applies only complete plans when something changed,
falls back to observe-only after repeated failures, and stands down on shutdown.
Runs over generated sysfs/cgroup trees with a recording fake Enforcer."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeagent.agent import MAX_CONSECUTIVE_FAILURES, SKIP_NO_CGROUP, apply_due, apply_key, enforcement_state
from nodeagent.enforcement import ObserveOnly, Probe
from nodeagent.main import choose_enforcer
from nodeagent.podsource import PodSnapshot, PodSource
from temper.annotations import EnforcementState
from temper.bandwidth import Bandwidth
from temper.config import AgentConfig
from temper.plan import plan
from temper.topology import NodeTopology
from tests.nodeagent.fakes import RecordingEnforcer
from tests.nodeagent.harness import make_agent, make_node, refresh
from tests.nodeagent.trees import write_pod_cgroup, write_usage


async def test_the_first_step_plans_and_applies_with_every_found_cgroup(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    db = node.add_pod("db", "critical", "1500m")
    node.add_pod("web", "normal")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    assert enforcer.names() == ["probe", "apply"]
    applied_plan, ids = enforcer.calls[1][1]
    assert applied_plan.fenced == frozenset({6, 7})
    assert len(ids) == 2 and agent.state.cgroups[db["metadata"]["uid"]].cgroup_id == ids[db["metadata"]["uid"]]
    assert agent.state.ready and agent.state.enforcement.state is EnforcementState.ENFORCING


async def test_an_unchanged_node_is_not_reapplied_every_scan(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    for _ in range(3):
        await agent.step()
    assert enforcer.names().count("apply") == 1


async def test_a_pod_without_a_cgroup_is_planned_and_applied_once_its_cgroup_appears(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    late = node.add_pod("late", "high", cgroup=False)
    uid = late["metadata"]["uid"]
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    first_plan, ids = enforcer.calls[-1][1]
    assert uid in {m.uid for m in first_plan.members} and uid not in ids
    assert agent.state.skipped[SKIP_NO_CGROUP] == 1
    from temper.pods import QosClass

    write_pod_cgroup(node.cgroup_root, uid, QosClass.BURSTABLE)
    await agent.step()
    assert enforcer.names().count("apply") == 2
    assert uid in enforcer.calls[-1][1][1]
    assert agent.state.skipped[SKIP_NO_CGROUP] == 0


async def test_a_changed_pods_file_changes_the_plan_and_reapplies(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    assert agent.state.plan is not None and not agent.state.plan.fenced
    node.add_pod("db", "critical", "2500m")
    refresh(agent)
    await agent.step()
    assert agent.state.plan.fenced == frozenset({4, 5, 6, 7})
    assert enforcer.names().count("apply") == 2


async def test_usage_is_measured_in_millicores_between_scans(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    web = node.add_pod("web", usage_usec=1_000_000)
    agent = make_agent(node, RecordingEnforcer())
    await agent.start()
    await agent.step()
    uid = web["metadata"]["uid"]
    cgroup_dir = node.cgroup_root / agent.state.cgroups[uid].path
    write_usage(cgroup_dir, 1_000_000 + 10_000_000)  # 10 CPU-seconds: far more than elapsed
    await agent.step()
    assert agent.state.used_milli[uid] > 1000


async def test_repeated_apply_failures_fall_back_to_observe_only_with_the_reason(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    enforcer.fail_applies = 100
    agent = make_agent(node, enforcer)
    agent.state.last_apply = 0.0
    await agent.start()
    for _ in range(MAX_CONSECUTIVE_FAILURES):
        agent.state.last_apply = -1e9  # make every step due for a retry
        await agent.step()
    assert agent.state.plan_failures == MAX_CONSECUTIVE_FAILURES
    assert agent.state.enforcement.state is EnforcementState.OBSERVE_ONLY
    assert "apply failed 3 times" in agent.state.enforcement.reason
    assert enforcer.names()[-1] == "stand_down"
    await agent.step()
    assert enforcer.names().count("apply") == MAX_CONSECUTIVE_FAILURES
    assert agent.state.ready


async def test_a_single_failure_is_retried_and_does_not_fall_back(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    enforcer.fail_applies = 1
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    assert not agent.state.ready
    agent.state.last_apply = -1e9
    await agent.step()
    assert agent.state.ready and agent.state.enforcement.state is EnforcementState.ENFORCING


async def test_a_scheduler_ejected_by_the_kernel_is_reattached_and_its_exit_reason_shown(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    enforcer.eject("runnable task stall (watchdog)")
    await agent.step()  # sees the detach in the status
    await agent.step()  # re-applies
    assert enforcer.names().count("apply") == 2
    assert agent.state.enforcement.exit == "runnable task stall (watchdog)"


async def test_observe_only_never_calls_apply(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer, observe_only=True)
    await agent.start()
    await agent.step()
    assert "apply" not in enforcer.names()
    assert agent.state.enforcement.state is EnforcementState.OBSERVE_ONLY and agent.state.ready


async def test_an_unsupported_kernel_is_reported_with_the_probe_reason(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    agent = make_agent(node, ObserveOnly("kernel 6.1.0 is older than 6.12 (no sched_ext)"))
    await agent.start()
    await agent.step()
    assert agent.state.enforcement.state is EnforcementState.UNSUPPORTED
    assert "older than 6.12" in agent.state.enforcement.reason


async def test_an_unsupported_or_observe_only_node_still_reports_the_kernel_it_probed(tmp_path: Path) -> None:
    """Issue 15 §4: /observe showed ``enforcement.kernel`` empty although the probe read it."""
    node = make_node(tmp_path)
    agent = make_agent(node, ObserveOnly("kernel 6.1.0 is older than 6.12 (no sched_ext)", "6.1.0-28-cloud-amd64"))
    await agent.start()
    await agent.step()
    assert agent.state.enforcement.kernel == "6.1.0-28-cloud-amd64"
    chosen = choose_enforcer(AgentConfig(), True, Probe(True, "", "7.2.1"), "bpftool")
    assert (await chosen.probe()).kernel == "7.2.1"


async def test_shutdown_stands_the_scheduler_down(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    await agent.shutdown()
    assert enforcer.calls[-1] == ("stand_down", "agent stopping")


async def test_a_malformed_pod_is_skipped_and_counted_while_the_rest_is_planned(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    node.add_pod("web")
    broken = node.add_pod("broken")
    broken["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "-1"
    node.write_pods()
    agent = make_agent(node, RecordingEnforcer())
    await agent.start()
    await agent.step()
    assert agent.state.plan is not None and [m.name for m in agent.state.plan.members] == ["web"]
    assert agent.state.skipped["malformed"] == 1


async def test_a_malformed_pods_file_is_logged_once_without_its_content(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 15 §4: a malformed pods file was never logged (only kept in /observe)."""
    node = make_node(tmp_path)
    node.add_pod("web")
    node.write_pods()
    agent = make_agent(node, RecordingEnforcer())
    await agent.start()
    await agent.step()
    node.pods_file.write_text('{"items": [ SECRET-TOKEN-abc')
    stat = node.pods_file.stat()
    os.utime(node.pods_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    with caplog.at_level("INFO", logger="nodeagent.agent"):
        for _ in range(3):
            refresh(agent)
            await agent.step()
        node.write_pods()
        refresh(agent)
        await agent.step()
    messages = [r.getMessage() for r in caplog.records]
    warnings = [m for m in messages if "malformed" in m]
    assert len(warnings) == 1 and "SECRET-TOKEN" not in warnings[0]
    assert "pod source recovered" in messages
    assert agent.state.plan is not None and [m.name for m in agent.state.plan.members] == ["web"]


class _FailingSnapshots:
    """A pod source whose first ``failures`` snapshots raise (an unexpected bug in one item)."""

    def __init__(self, inner: PodSource, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def snapshot(self) -> PodSnapshot:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("unexpected decode bug")
        return self.inner.snapshot()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_the_loop_survives_failing_iterations_and_recovers_by_itself(tmp_path: Path) -> None:
    """Issue 15 §1: an exception in one iteration used to end the control loop for good."""
    node = make_node(tmp_path)
    node.add_pod("web")
    node.write_pods()
    agent = make_agent(node, RecordingEnforcer())
    agent.source = _FailingSnapshots(agent.source, failures=3)  # type: ignore[assignment]  # duck-typed source
    task = asyncio.create_task(agent.run())
    try:
        for _ in range(100):
            if agent.state.plan is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert agent.state.loop_errors == 3
    assert agent.state.plan is not None and [m.name for m in agent.state.plan.members] == ["web"]
    assert agent.state.healthy(0.1)


@given(st.booleans(), st.booleans(), st.booleans(), st.text(max_size=10))
def test_safe_mode_always_wins_and_enforcing_needs_every_condition(observe_only: bool, supported: bool,
                                                                    safe_mode: bool, fallback: str) -> None:
    state, _ = enforcement_state(observe_only, Probe(supported, "r"), safe_mode, "", fallback)
    if safe_mode:
        assert state is EnforcementState.SAFE_MODE
    assert (state is EnforcementState.ENFORCING) == (not safe_mode and not observe_only and supported
                                                     and not fallback)


def test_apply_is_due_on_first_plan_on_change_and_on_reverify() -> None:
    topology = NodeTopology.uniform(4)
    key = apply_key(plan(topology, []), {"u": 1}, {})
    other = apply_key(plan(topology, []), {"u": 2}, {})
    limited = apply_key(plan(topology, []), {"u": 1}, {1: Bandwidth(50_000, 100_000)})
    resized = apply_key(plan(topology, []), {"u": 1}, {1: Bandwidth(150_000, 100_000)})
    assert apply_due(None, key, 0.0, 0.0)
    assert not apply_due(key, key, 10.0, 0.0)
    assert apply_due(key, other, 10.0, 0.0)
    assert apply_due(key, key, 61.0, 0.0)
    assert apply_due(key, limited, 10.0, 0.0) and apply_due(limited, resized, 10.0, 0.0)
    assert not apply_due(resized, apply_key(plan(topology, []), {"u": 1}, {1: Bandwidth(150_000, 100_000)}),
                         10.0, 0.0)


async def test_cpu_hotplug_re_plans_for_the_cpus_that_are_online(tmp_path: Path) -> None:
    """sysfs is a generated tree in the kernel's format (``/sys/devices/system/cpu/online``
    and per-CPU topology); the agent re-reads it when the online list changes."""
    node = make_node(tmp_path, nr_cpus=8)
    node.add_pod("crit", tier="critical", cpu="2")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    agent.sysfs_root = str(node.sysfs_root)
    await agent.step()
    assert agent.state.plan is not None and agent.state.plan.online == frozenset(range(8))
    (node.sysfs_root / "sys/devices/system/cpu/online").write_text("0-5\n")
    await agent.step()
    planned = agent.state.plan
    assert planned is not None and planned.online == frozenset(range(6))
    assert planned.fenced <= frozenset(range(6)) and agent.state.topology_changes == 1
    applied_plan = [arg for name, arg in enforcer.calls if name == "apply"][-1][0]
    assert applied_plan.online == frozenset(range(6)), "the new plan reached the scheduler"
    await agent.step()
    assert agent.state.topology_changes == 1, "an unchanged online list is not a change"
