"""Kubelet emulation lays out cgroups exactly as kubelet's systemd driver does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kernellab.guest import kubelet

UID = "0b9f6e1c-1d2e-4f3a-8b7c-6d5e4f3a2b1c"


def pod(uid: str, containers: list[dict[str, Any]], **ann: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "name": "p", "namespace": "ns", "annotations": ann},
            "spec": {"containers": containers}}


def ctr(name: str = "c", req: dict[str, str] | None = None,
        lim: dict[str, str] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if req is not None:
        res["requests"] = req
    if lim is not None:
        res["limits"] = lim
    return {"name": name, "resources": res}


@pytest.mark.parametrize(("containers", "qos"), [
    ([ctr(req={"cpu": "1", "memory": "1Gi"}, lim={"cpu": "1000m", "memory": "1024Mi"})],
     "Guaranteed"),
    ([ctr(lim={"cpu": "2", "memory": "1Gi"})], "Guaranteed"),  # requests default to limits
    ([ctr(req={"cpu": "500m"}, lim={"cpu": "1"})], "Burstable"),
    ([ctr(req={"cpu": "1", "memory": "1Gi"}, lim={"cpu": "1", "memory": "1Gi"}), ctr("b")],
     "Burstable"),
    ([ctr(), ctr("b")], "BestEffort"),
    ([ctr(req={"ephemeral-storage": "1Gi"})], "BestEffort"),
])
def test_qos_class_follows_kubernetes(containers: list[dict[str, Any]], qos: str) -> None:
    assert kubelet.qos_class(pod(UID, containers)) == qos


def test_pod_cgroup_paths_per_qos_class() -> None:
    u = UID.replace("-", "_")
    assert kubelet.pod_cgroup(UID, "Guaranteed") == f"kubepods.slice/kubepods-pod{u}.slice"
    assert kubelet.pod_cgroup(UID, "Burstable") == (
        f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice")
    assert kubelet.pod_cgroup(UID, "BestEffort") == (
        f"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice")


@pytest.mark.parametrize(("millis", "shares", "weight"), [
    (0, 2, 1), (1, 2, 1), (100, 102, 4), (250, 256, 10), (1000, 1024, 39), (4000, 4096, 157),
])
def test_weight_from_cpu_request(millis: int, shares: int, weight: int) -> None:
    assert kubelet.shares_from_millis(millis) == shares
    assert kubelet.weight_from_shares(shares) == weight


def test_cpu_max_from_limits() -> None:
    assert kubelet.cpu_max(None) == "max 100000"
    assert kubelet.cpu_max(500) == "50000 100000"
    assert kubelet.cpu_max(2000) == "200000 100000"


def test_container_scope_uses_status_id_or_a_stable_hash() -> None:
    cid = "a" * 64
    assert kubelet.container_id(UID, "c", f"containerd://{cid}") == cid
    derived = kubelet.container_id(UID, "c")
    assert len(derived) == 64 and derived == kubelet.container_id(UID, "c")
    assert kubelet.container_scope(cid) == f"cri-containerd-{cid}.scope"


def test_apply_writes_under_the_given_root(tmp_path: Path) -> None:
    p = pod(UID, [ctr(req={"cpu": "250m"}, lim={"cpu": "500m"})],
            **{kubelet.COMMAND_ANNOTATION: json.dumps(["true"])})
    plans = kubelet.apply(kubelet.plan({"apiVersion": "v1", "kind": "List", "items": [p]}),
                          tmp_path, start=False)
    pod_dir = tmp_path / plans[0].cgroup
    assert (pod_dir / "cpu.weight").read_text() == "10"
    assert (pod_dir / "cpu.max").read_text() == "50000 100000"
    assert (tmp_path / plans[0].containers[0].cgroup).is_dir()
    assert plans[0].containers[0].command == ["true"]
    st = kubelet.state(plans)
    assert st["pods"][UID]["qos"] == "Burstable"


def test_per_container_command_overrides_pod_command() -> None:
    p = pod(UID, [ctr("a"), ctr("b")], **{kubelet.COMMAND_ANNOTATION: '["x"]',
                                          f"{kubelet.COMMAND_ANNOTATION}.b": '["y", "1"]'})
    plan = kubelet.plan_pod(p)
    assert [c.command for c in plan.containers] == [["x"], ["y", "1"]]
