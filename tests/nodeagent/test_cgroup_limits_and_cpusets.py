"""CPU limits and pinned cpusets read from a kubelet cgroup tree (``nodeagent.cgroupfacts``).

The trees are built in ``tmp_path`` with the real interface-file formats the kernel prints:
``cpu.max`` is "$QUOTA $PERIOD" or "max $PERIOD", ``cpu.max.burst`` one integer (absent
before Linux 5.14), ``cpuset.cpus.effective`` a cpulist ("2-3,6"); container cgroups are the
child directories of the pod cgroup (``cri-containerd-<id>.scope`` under containerd)."""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

import pytest

from nodeagent.agent import ALL_SKIP_REASONS
from nodeagent.cgroupfacts import (
    SKIP_CPUSET_MALFORMED,
    SKIP_LIMIT_MALFORMED,
    CgroupFacts,
    ContainerCgroup,
    FactsReader,
    scan_containers,
)
from nodeagent.cgroups import SKIP_VANISHED, PodCgroup, scan_pods
from temper.bandwidth import Bandwidth
from temper.cgroupnames import pod_cgroup_path
from temper.pods import QosClass
from tests.core.factories import container, pod
from tests.nodeagent.fakes import RecordingEnforcer
from tests.nodeagent.harness import make_agent, make_node, refresh
from tests.nodeagent.trees import write_cgroup_limit, write_container_cgroup, write_pod_cgroup

ONLINE = frozenset(range(8))


def _uid() -> str:
    return str(uuid.uuid4())


def _read(root: Path, reader: FactsReader | None = None) -> tuple[
        dict[str, PodCgroup], dict[str, tuple[ContainerCgroup, ...]], CgroupFacts]:
    pods = scan_pods(root).pods
    containers = scan_containers(root, pods).containers
    reader = FactsReader(root) if reader is None else reader
    return pods, containers, reader.read(pods, containers, ONLINE)


def test_limits_of_limited_pod_and_container_cgroups_are_keyed_by_their_inode(tmp_path: Path) -> None:
    uid = _uid()
    pod_dir = write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE)
    write_cgroup_limit(pod_dir, "200000 100000\n", "0\n")
    app = write_container_cgroup(pod_dir, "cri-containerd-aaaa.scope", cpu_max="50000 100000\n",
                                 cpu_max_burst="10000\n")
    unlimited = write_container_cgroup(pod_dir, "cri-containerd-bbbb.scope", cpu_max="max 100000\n")
    _, containers, facts = _read(tmp_path)
    assert {c.cgroup_id for c in containers[uid]} >= {app.stat().st_ino, unlimited.stat().st_ino}
    assert facts.limits == {pod_dir.stat().st_ino: Bandwidth(200_000, 100_000, 0),
                            app.stat().st_ino: Bandwidth(50_000, 100_000, 10_000)}
    assert not facts.skipped and not facts.malformed


def test_a_kernel_without_cpu_max_burst_means_no_burst(tmp_path: Path) -> None:
    pod_dir = write_pod_cgroup(tmp_path, _uid(), QosClass.GUARANTEED)
    write_cgroup_limit(pod_dir, "150000 100000\n", None)
    assert _read(tmp_path)[2].limits == {pod_dir.stat().st_ino: Bandwidth(150_000, 100_000, 0)}


@pytest.mark.parametrize(("cpu_max", "burst"), [
    ("", "0\n"),
    ("50000\n", "0\n"),
    ("lots 100000\n", "0\n"),
    ("50000 100000 7\n", "0\n"),
    ("-5 100000\n", "0\n"),
    ("500 100000\n", "0\n"),           # quota below the kernel's 1 ms minimum
    ("50000 100\n", "0\n"),            # period below 1 ms
    ("max 5000000\n", "0\n"),          # period above 1 s
    ("50000 100000\n", "x\n"),
    ("50000 100000\n", "60000\n"),     # burst above quota
    ("50000 100000\n", "1 2\n"),
    ("５0000 100000\n", "0\n"),         # not ASCII digits
])
def test_a_malformed_limit_is_left_out_counted_and_described(tmp_path: Path, cpu_max: str, burst: str) -> None:
    uid = _uid()
    pod_dir = write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE)
    write_cgroup_limit(pod_dir, cpu_max, burst)
    good = write_container_cgroup(pod_dir, "cri-containerd-good.scope", cpu_max="20000 100000\n")
    facts = _read(tmp_path)[2]
    assert facts.limits == {good.stat().st_ino: Bandwidth(20_000, 100_000)}, "no made-up limit, others unaffected"
    assert facts.skipped[SKIP_LIMIT_MALFORMED] == 1
    assert str(pod_dir.relative_to(tmp_path)) in facts.malformed[pod_dir.stat().st_ino]


def test_a_changed_limit_is_seen_at_the_next_read_through_the_open_file(tmp_path: Path) -> None:
    pod_dir = write_pod_cgroup(tmp_path, _uid(), QosClass.BURSTABLE)
    write_cgroup_limit(pod_dir, "50000 100000\n")
    reader = FactsReader(tmp_path)
    pods, containers, first = _read(tmp_path, reader)
    opened = len(reader)
    write_cgroup_limit(pod_dir, "150000 100000\n")  # kubectl resize: kubelet rewrites cpu.max in place
    second = reader.read(pods, containers, ONLINE)
    assert first.limits[pod_dir.stat().st_ino].quota_us == 50_000
    assert second.limits[pod_dir.stat().st_ino].quota_us == 150_000
    assert len(reader) == opened, "no file is reopened between scans"
    write_cgroup_limit(pod_dir, "max 100000\n")
    assert reader.read(pods, containers, ONLINE).limits == {}, "a removed limit is gone at once"
    reader.close()
    assert len(reader) == 0


def test_a_container_removed_before_its_files_are_read_counts_as_vanished(tmp_path: Path) -> None:
    uid = _uid()
    pod_dir = write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE)
    gone = write_container_cgroup(pod_dir, "cri-containerd-gone.scope", cpu_max="50000 100000\n")
    pods = scan_pods(tmp_path).pods
    containers = scan_containers(tmp_path, pods).containers
    shutil.rmtree(gone)
    facts = FactsReader(tmp_path).read(pods, containers, ONLINE)
    assert facts.skipped[SKIP_VANISHED] >= 1 and facts.limits == {}


def test_a_pod_whose_cgroup_vanished_before_listing_is_skipped(tmp_path: Path) -> None:
    uid = _uid()
    pod_dir = write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE)
    pods = scan_pods(tmp_path).pods
    shutil.rmtree(pod_dir)
    scan = scan_containers(tmp_path, pods)
    assert uid not in scan.containers and scan.skipped[SKIP_VANISHED] == 1


def test_containers_are_the_child_directories_only(tmp_path: Path) -> None:
    uid = _uid()
    pod_dir = write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE)
    write_container_cgroup(pod_dir, "cri-containerd-aaaa.scope")
    (pod_dir / "cgroup.procs").write_text("")
    names = [c.path.rsplit("/", 1)[1] for c in scan_containers(tmp_path, scan_pods(tmp_path).pods).containers[uid]]
    assert names == ["cri-containerd-0123abcd.scope", "cri-containerd-aaaa.scope"]


def test_a_pinned_pods_cpuset_is_the_union_of_its_constrained_containers(tmp_path: Path) -> None:
    pinned, shared, plain = _uid(), _uid(), _uid()
    pinned_dir = write_pod_cgroup(tmp_path, pinned, QosClass.GUARANTEED)
    write_container_cgroup(pinned_dir, "cri-containerd-0123abcd.scope", cpuset="0-7")  # the sandbox: unconstrained
    write_container_cgroup(pinned_dir, "cri-containerd-app.scope", cpuset="2-3")
    write_container_cgroup(pinned_dir, "cri-containerd-side.scope", cpuset="6")
    shared_dir = write_pod_cgroup(tmp_path, shared, QosClass.BURSTABLE)
    write_container_cgroup(shared_dir, "cri-containerd-app.scope", cpuset="0-7")
    write_pod_cgroup(tmp_path, plain, QosClass.BEST_EFFORT)  # no cpuset controller: no file
    facts = _read(tmp_path)[2]
    assert facts.cpusets == {pinned: frozenset({2, 3, 6})}


@pytest.mark.parametrize("text", ["3-2", "abc", "0-99999", "1,,x"])
def test_a_malformed_cpuset_drops_that_pods_cpuset_and_is_counted(tmp_path: Path, text: str) -> None:
    uid = _uid()
    pod_dir = write_pod_cgroup(tmp_path, uid, QosClass.GUARANTEED)
    write_container_cgroup(pod_dir, "cri-containerd-app.scope", cpuset="2-3")
    bad = write_container_cgroup(pod_dir, "cri-containerd-bad.scope", cpuset=text)
    facts = _read(tmp_path)[2]
    assert facts.cpusets == {}, "a partial union could look like a pin"
    assert facts.cpuset_skipped[SKIP_CPUSET_MALFORMED] == 1 and bad.stat().st_ino in facts.cpuset_malformed


def test_steady_state_reads_hold_one_descriptor_per_cgroup_and_burst_only_when_limited(tmp_path: Path) -> None:
    uid = _uid()
    pod_dir = write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE)
    write_cgroup_limit(pod_dir, "max 100000\n")
    write_container_cgroup(pod_dir, "cri-containerd-app.scope", cpu_max="50000 100000\n", cpuset="2-3")
    reader = FactsReader(tmp_path)
    pods = scan_pods(tmp_path).pods
    containers = scan_containers(tmp_path, pods).containers
    facts = reader.read(pods, containers, ONLINE, cpusets=False)
    assert facts.cpusets is None and len(facts.limits) == 1
    # pod cpu.max, app cpu.max + cpu.max.burst; the sandbox has no cpu.max (absent, no descriptor)
    assert len(reader) == 3
    assert reader.read(pods, containers, ONLINE).cpusets == {uid: {2, 3}}, "observed; the plan decides pins"
    assert len(reader) == 3, "cpusets are read without keeping a descriptor"
    reader.close()


def test_retain_forgets_the_files_of_cgroups_that_left(tmp_path: Path) -> None:
    kept, left = _uid(), _uid()
    for uid in (kept, left):
        write_cgroup_limit(write_pod_cgroup(tmp_path, uid, QosClass.BURSTABLE), "50000 100000\n")
    reader = FactsReader(tmp_path)
    pods, containers, _ = _read(tmp_path, reader)
    before = len(reader)
    reader.retain({kept: pods[kept]}, {kept: containers[kept]})
    assert 0 < len(reader) < before
    reader.close()


# -- through the agent ---------------------------------------------------------------------

def _pod_dir(node_root: Path, uid: str, qos: QosClass = QosClass.BURSTABLE) -> Path:
    return node_root / pod_cgroup_path(uid, qos)


async def test_the_agent_passes_limits_and_reapplies_when_one_is_resized(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    web = node.add_pod("web")
    pod_dir = _pod_dir(node.cgroup_root, web["metadata"]["uid"])
    write_cgroup_limit(pod_dir, "50000 100000\n")
    app = write_container_cgroup(pod_dir, "cri-containerd-app.scope", cpu_max="50000 100000\n")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    await agent.step()
    assert enforcer.names().count("apply") == 1
    assert enforcer.bandwidths[-1] == {pod_dir.stat().st_ino: Bandwidth(50_000, 100_000),
                                       app.stat().st_ino: Bandwidth(50_000, 100_000)}
    write_cgroup_limit(app, "120000 100000\n", "20000\n")  # kubectl resize of the container's limit
    await agent.step()
    assert enforcer.names().count("apply") == 2
    assert enforcer.bandwidths[-1][app.stat().st_ino] == Bandwidth(120_000, 100_000, 20_000)


async def test_a_malformed_limit_is_logged_once_counted_and_never_enforced(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    node = make_node(tmp_path)
    web = node.add_pod("web")
    pod_dir = _pod_dir(node.cgroup_root, web["metadata"]["uid"])
    write_cgroup_limit(pod_dir, "fifty 100000\n")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    with caplog.at_level(logging.WARNING, logger="nodeagent.agent"):
        for _ in range(3):
            await agent.step()
    assert sum("cpu.max" in r.getMessage() or "fifty" in r.getMessage() for r in caplog.records) == 1
    assert agent.state.skipped[SKIP_LIMIT_MALFORMED] == 1 and SKIP_LIMIT_MALFORMED in ALL_SKIP_REASONS
    assert enforcer.bandwidths[-1] == {}
    write_cgroup_limit(pod_dir, "50000 100000\n")
    await agent.step()
    assert agent.state.skipped[SKIP_LIMIT_MALFORMED] == 0
    assert enforcer.bandwidths[-1] == {pod_dir.stat().st_ino: Bandwidth(50_000, 100_000)}


async def test_a_pinned_high_pod_moves_the_fence_off_its_cpus(tmp_path: Path) -> None:
    node = make_node(tmp_path)  # 8 CPUs, 2-way SMT: cores {0,1} .. {6,7}
    node.add_pod("db", "critical", "1500m")
    high = pod("cache", uid=_uid(), priority_class="infera-high",
               containers=[container(cpu_request="2", cpu_limit="2", memory="1Gi")])
    high["status"]["qosClass"] = "Guaranteed"
    node.pods.append(high)
    node.write_pods()
    pod_dir = write_pod_cgroup(node.cgroup_root, high["metadata"]["uid"], QosClass.GUARANTEED)
    app = write_container_cgroup(pod_dir, "cri-containerd-app.scope", cpuset="0-7")
    enforcer = RecordingEnforcer()
    agent = make_agent(node, enforcer)
    await agent.start()
    await agent.step()
    assert enforcer.calls[-1][1][0].fenced == {6, 7}
    # The static CPU manager pins the container as kubelet (re)creates it; the pod's status
    # changes with it, which moves the pod source's generation and so rescans.
    (app / "cpuset.cpus.effective").write_text("6-7\n")
    await agent.step()
    assert enforcer.calls[-1][1][0].fenced == {6, 7}, "cpusets are read at rescans only"
    node.write_pods()
    refresh(agent)
    await agent.step()
    applied = enforcer.calls[-1][1][0]
    assert applied.fenced == {4, 5} and applied.pinned_unfenced == {6, 7}
    assert enforcer.names().count("apply") == 2
