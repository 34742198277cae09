"""Scheduler cost per event from the kernel's own accounting (issue 10 §4).

With ``kernel.bpf_stats_enabled=1`` the kernel counts, per BPF program, how often it ran
(``run_cnt``) and for how long (``run_time_ns``). The scenario attaches Temper through the
agent's driver, runs a mixed load for a fixed time - busy Critical, Normal and Background pods
plus a Critical pod that wakes every millisecond - and reports ``run_time_ns / run_cnt`` for
every callback (select_cpu, enqueue, dispatch, running, stopping, tick ...). Run it with
different ``--cpus`` to see how the cost scales; ``benchmarks/lab_bpf_cost.py`` does that.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernellab.scenarios import _pods, _scx
from kernellab.scenarios.hardening import Node

if TYPE_CHECKING:
    from kernellab.guest.runner import Context

STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
WAKER = ["sh", "-c", "while :; do usleep 1000 2>/dev/null || sleep 0.001; done"]


def program_stats() -> dict[str, dict[str, int]]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=False).stdout
    stats: dict[str, dict[str, int]] = {}
    for prog in json.loads(out or "[]"):
        name = str(prog.get("name", ""))
        if prog.get("type") == "struct_ops" and name.startswith("temper_"):
            stats[name] = {"run_cnt": int(prog.get("run_cnt", 0)), "run_time_ns": int(prog.get("run_time_ns", 0))}
    return stats


def guest_main(ctx: Context) -> int:
    return asyncio.run(_main(ctx))


async def _main(ctx: Context) -> int:
    seconds = float(ctx.args.get("seconds", 10))
    node = Node()
    node.add(_pods.pod(1, "crit", "critical", "500m", _pods.BUSY),
             _pods.pod(2, "waker", "critical", "100m", WAKER),
             _pods.pod(3, "normal", "normal", "500m", _pods.BUSY),
             *[_pods.pod(10 + i, f"bg-{i}", "background", "100m", _pods.BUSY) for i in range(2)])
    await node.apply()
    STATS_SYSCTL.write_text("1")
    before = program_stats()
    time.sleep(seconds)
    after = program_stats()
    STATS_SYSCTL.write_text("0")
    cost: dict[str, Any] = {}
    for name, now in sorted(after.items()):
        runs = now["run_cnt"] - before.get(name, {}).get("run_cnt", 0)
        spent = now["run_time_ns"] - before.get(name, {}).get("run_time_ns", 0)
        cost[name] = {"runs": runs, "ns_per_run": round(spent / runs) if runs else None,
                      "per_second": round(runs / seconds)}
    ctx.check("bpf_cost", bool(cost) and _scx.state() == "enabled", cpus=os.cpu_count(), seconds=seconds,
              programs=cost)
    for plan in list(node.plans):
        node.remove(plan.uid)
    await node.enforcer.stand_down("scenario end")
    return 0
