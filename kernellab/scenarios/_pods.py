"""Pods for Temper's lab scenarios, in ``kubectl get pods -o json`` form (stdlib only).

The lab-only annotation ``lab.temper.io/command`` tells the kubelet emulator what each
container runs. ``BUSY`` is a CPU-bound filler that needs nothing but the guest's shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from kernellab.guest import kubelet

BUSY = ["sh", "-c", "while :; do :; done"]
SLEEP = ["sleep", "100000"]
CGROUP_ROOT = Path("/sys/fs/cgroup")


def pod(index: int, name: str, tier: str, cpu: str, command: list[str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"uid": f"{index:08x}-0000-4000-8000-000000000000", "name": name, "namespace": "lab",
                         "annotations": {kubelet.COMMAND_ANNOTATION: json.dumps(command)}},
            "spec": {"priorityClassName": f"infera-{tier}", "nodeName": "lab",
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": "Running"}}


def pod_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": items}


def pids_of(plan: Any) -> list[int]:
    return [pid for container in plan.containers for pid in container.pids]


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of the given processes, in clock ticks (gone processes count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def last_cpu(pid: int) -> int:
    """The CPU the task last ran on (/proc/PID/stat field 39)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[36])


def busy_fraction_sampler() -> Any:
    """Returns a function giving the guest's CPU busy fraction since the previous call."""
    def read() -> tuple[int, int]:
        values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values), idle
    last = [read()]

    def sample() -> float:
        total, idle = read()
        prev_total, prev_idle = last[0]
        last[0] = (total, idle)
        span = total - prev_total
        return 1.0 - (idle - prev_idle) / span if span else 0.0
    return sample


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def in_cgroup(scope: str, argv: list[str]) -> list[str]:
    """argv that first moves itself into the container cgroup ``scope``, then execs."""
    quoted = " ".join(f"'{a}'" for a in argv)
    return ["sh", "-c", f"echo $$ > {CGROUP_ROOT / scope}/cgroup.procs && exec {quoted}"]
