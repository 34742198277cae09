"""Kubelet scenario: the emulator's cgroups and processes are real in the guest.

Lays out the pods from ``/lab/inputs/pods.json`` (or a built-in sample of one pod per QoS
class), then checks that each pod cgroup exists with the expected ``cpu.weight`` and
``cpu.max`` and that each started workload sits in its container scope.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernellab.guest import kubelet

if TYPE_CHECKING:
    from kernellab.guest.runner import Context

SAMPLE: dict[str, Any] = {"apiVersion": "v1", "kind": "List", "items": [
    {"metadata": {"uid": "11111111-2222-3333-4444-555555555555", "name": "guaranteed",
                  "annotations": {kubelet.COMMAND_ANNOTATION: '["sleep", "30"]'}},
     "spec": {"containers": [{"name": "c", "resources": {
         "limits": {"cpu": "500m", "memory": "64Mi"}}}]}},
    {"metadata": {"uid": "66666666-7777-8888-9999-000000000000", "name": "burstable",
                  "annotations": {kubelet.COMMAND_ANNOTATION: '["sleep", "30"]'}},
     "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]}},
    {"metadata": {"uid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "name": "besteffort",
                  "annotations": {kubelet.COMMAND_ANNOTATION: '["sleep", "30"]'}},
     "spec": {"containers": [{"name": "c"}]}},
]}


def guest_main(ctx: Context) -> int:
    src = ctx.inputs / "pods.json"
    pods = json.loads(src.read_text()) if src.exists() else SAMPLE
    root = Path("/sys/fs/cgroup")
    plans = kubelet.apply(kubelet.plan(pods), root)
    time.sleep(0.2)
    for p in plans:
        d = root / p.cgroup
        weight = (d / "cpu.weight").read_text().strip() if d.exists() else None
        cmax = (d / "cpu.max").read_text().strip() if d.exists() else None
        ctx.check(f"pod:{p.name}", weight == str(p.cpu_weight) and cmax == p.cpu_max,
                  qos=p.qos, cgroup=p.cgroup, weight=weight, cpu_max=cmax)
        for c in p.containers:
            procs = (root / c.cgroup / "cgroup.procs").read_text().split()
            ctx.check(f"container:{p.name}/{c.name}",
                      all(str(pid) in procs for pid in c.pids) and bool(c.pids),
                      pids=c.pids, procs=procs)
    ctx.emit("state", **kubelet.state(plans))
    return 0
