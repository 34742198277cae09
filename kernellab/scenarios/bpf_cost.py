"""Scheduler cost per event from the kernel's own accounting (issue 10 §4).

With ``kernel.bpf_stats_enabled=1`` the kernel counts, per BPF program, how often it ran
(``run_cnt``) and for how long (``run_time_ns``). The scenario attaches Temper through the
agent's driver, runs a mixed load for a fixed time - busy Critical, Normal and Background pods
plus a Critical pod that wakes every millisecond - and reports ``run_time_ns / run_cnt`` for
every callback (select_cpu, enqueue, dispatch, running, stopping, tick ...). Run it with
different ``--cpus`` to see how the cost scales; ``benchmarks/lab_bpf_cost.py`` does that.
With ``objects`` it attaches each object in turn in the same boot (``--telemetry`` in the
benchmark: temper.bpf.o against temper_notelemetry.bpf.o, the runqueue-wait recording's cost).
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
from kernellab.scenarios.hardening import PIN, Node

if TYPE_CHECKING:
    from kernellab.guest.runner import Context

STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
BUILD = "/lab/bpf/build"
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


def _delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {name: {key: now[key] - before.get(name, {}).get(key, 0) for key in ("run_cnt", "run_time_ns")}
            for name, now in after.items()}


def _cost(totals: dict[str, dict[str, int]], seconds: float) -> dict[str, Any]:
    return {name: {"runs": t["run_cnt"], "ns_per_run": round(t["run_time_ns"] / t["run_cnt"]) if t["run_cnt"] else None,
                   "per_second": round(t["run_cnt"] / seconds), "ns_per_second": round(t["run_time_ns"] / seconds)}
            for name, t in sorted(totals.items())}


async def _main(ctx: Context) -> int:
    """One object (``bpf_cost``), or several in one boot (``objects``: file names under
    /lab/bpf/build, attached in turn for ``rounds`` rounds, alternating, so host drift hits
    each alike; ``bpf_cost_by_object``)."""
    from nodeagent.bpf_enforcer import BpfEnforcer

    seconds = float(ctx.args.get("seconds", 10))
    objects = [str(o) for o in ctx.args.get("objects", [])]
    rounds = int(ctx.args.get("rounds", 1))
    node = Node()
    node.add(_pods.pod(1, "crit", "critical", "500m", _pods.BUSY),
             _pods.pod(2, "waker", "critical", "100m", WAKER),
             _pods.pod(3, "normal", "normal", "500m", _pods.BUSY),
             *[_pods.pod(10 + i, f"bg-{i}", "background", "100m", _pods.BUSY) for i in range(2)])
    if not objects:
        await node.apply()
        STATS_SYSCTL.write_text("1")
        before = program_stats()
        time.sleep(seconds)
        after = program_stats()
        STATS_SYSCTL.write_text("0")
        cost = _cost(_delta(before, after), seconds)
        ctx.check("bpf_cost", bool(cost) and _scx.state() == "enabled", cpus=os.cpu_count(), seconds=seconds,
                  programs=cost)
    else:
        totals: dict[str, dict[str, dict[str, int]]] = {o: {} for o in objects}
        enabled = True
        for _ in range(rounds):
            for obj in objects:
                node.enforcer = BpfEnforcer(f"{BUILD}/{obj}", str(PIN))
                await node.apply()
                time.sleep(1)  # past the attach's own burst of re-enqueues
                STATS_SYSCTL.write_text("1")
                before = program_stats()
                time.sleep(seconds)
                after = program_stats()
                STATS_SYSCTL.write_text("0")
                enabled = enabled and _scx.state() == "enabled"
                for name, d in _delta(before, after).items():
                    acc = totals[obj].setdefault(name, {"run_cnt": 0, "run_time_ns": 0})
                    acc["run_cnt"] += d["run_cnt"]
                    acc["run_time_ns"] += d["run_time_ns"]
                await node.enforcer.stand_down("next object")
        ctx.check("bpf_cost_by_object", enabled and all(totals.values()), cpus=os.cpu_count(), seconds=seconds,
                  rounds=rounds, objects={o: _cost(t, seconds * rounds) for o, t in totals.items()})
    for plan in list(node.plans):
        node.remove(plan.uid)
    await node.enforcer.stand_down("scenario end")
    return 0
