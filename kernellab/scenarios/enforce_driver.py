"""Enforcement driver scenario: Temper's scheduler driven by ``nodeagent.bpf_enforcer``.

Pods are laid out by the kubelet emulator (systemd driver); the enforcer attaches the
scheduler, applies a plan by map updates, then: a new pod arrives (live update, no detach:
``enable_seq`` unchanged), counters are readable, safe-mode style stand-down detaches
(UNREG recorded), a holder process SIGKILLed with the scheduler attached makes the kernel
revert to the fair class on its own while every pod task keeps running, and a fresh
enforcer re-attaches over the dead one's pins.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernellab.guest import kubelet
from kernellab.scenarios import _pods, _scx

if TYPE_CHECKING:
    from kernellab.guest.runner import Context

OBJ = "/lab/bpf/build/temper.bpf.o"
PIN = "/sys/fs/bpf/temper"


FIRST = [_pods.pod(1, "crit", "critical", "500m", _pods.SLEEP),
         _pods.pod(2, "filler", "background", "100m", _pods.SLEEP)]
LATE = _pods.pod(3, "late", "normal", "200m", _pods.SLEEP)

HOLDER = """
import asyncio, json, sys
sys.path.insert(0, "/lab/src")
from kernellab.scenarios.enforce_driver import apply_pods
async def main():
    enforcer = await apply_pods(json.loads(sys.argv[1]))
    print("attached", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def plan_for(items: list[dict[str, Any]], config: Any = None) -> tuple[Any, dict[str, int]]:
    """The production plan for these pods on the guest's real topology (sysfs: cores, SMT
    siblings, LLCs, as the agent reads it) and their cgroup ids (the inodes BPF sees)."""
    from nodeagent.sysfs import read_topology
    from temper.cgroupnames import pod_cgroup_path
    from temper.plan import plan
    from temper.pods import decode_pod_list

    decoded = decode_pod_list(_pods.pod_list(items))
    ids = {p.uid: (_pods.CGROUP_ROOT / pod_cgroup_path(p.uid, p.qos)).stat().st_ino for p in decoded.pods}
    return plan(read_topology("/"), decoded.pods, config), ids


async def apply_pods(items: list[dict[str, Any]]) -> Any:
    from nodeagent.bpf_enforcer import BpfEnforcer

    enforcer = BpfEnforcer(OBJ, PIN)
    await enforcer.apply(*plan_for(items))
    return enforcer


def guest_main(ctx: Context) -> int:
    return asyncio.run(_main(ctx))


async def _main(ctx: Context) -> int:
    plans = kubelet.apply(kubelet.plan(_pods.pod_list([*FIRST, LATE])), _pods.CGROUP_ROOT)
    pids = [pid for p in plans for pid in _pods.pids_of(p)]
    ctx.emit("pods", pids=pids, cgroups=[p.cgroup for p in plans])

    seq0 = int(Path("/sys/kernel/sched_ext/enable_seq").read_text())
    t0 = time.monotonic()
    enforcer = await apply_pods(FIRST)
    ctx.check("attach", _scx.state() == "enabled" and _scx.root_ops() == "temper",
              state=_scx.state(), ops=_scx.root_ops(), seconds=round(time.monotonic() - t0, 3))
    seq1 = int(Path("/sys/kernel/sched_ext/enable_seq").read_text())
    ctx.check("pod_tasks_on_ext", bool(pids) and all(_scx.on_ext(p) for p in pids),
              sched=[ln for ln in Path(f"/proc/{pids[0]}/sched").read_text().splitlines() if "ext" in ln]
              if pids else [])
    from temper import bpfmaps
    dump = await enforcer.tool.dump(Path(PIN) / "maps" / bpfmaps.MapName.CGROUPS)
    ctx.check("membership_in_map", len(dump) == 2, entries=len(dump))

    # A new pod arrives: the same enforcer applies the new plan by map updates only.
    await enforcer.apply(*plan_for([*FIRST, LATE]))
    dump = await enforcer.tool.dump(Path(PIN) / "maps" / bpfmaps.MapName.CGROUPS)
    seq2 = int(Path("/sys/kernel/sched_ext/enable_seq").read_text())
    ctx.check("live_update_without_detach", len(dump) == 3 and seq2 == seq1 == seq0 + 1,
              entries=len(dump), enable_seq=[seq0, seq1, seq2])
    time.sleep(0.5)
    status = await enforcer.status()
    ctx.check("counters", status.attached and sum(sum(c.values()) for c in status.counters.values()) > 0,
              counters={t.label: dict(c) for t, c in status.counters.items()})

    await enforcer.stand_down("safe mode requested")
    ctx.check("stand_down", _scx.state() == "disabled", state=_scx.state(),
              last_exit=(await enforcer.status()).last_exit)

    # SIGKILL: the holder is the only owner of the link; the kernel must revert on its own.
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, json.dumps(FIRST)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = holder.stdout.readline() if holder.stdout else ""
    ctx.check("holder_attached", line.strip() == "attached" and _scx.state() == "enabled",
              line=line.strip(), stderr="" if line.strip() == "attached" else (holder.stderr.read()[-2000:]
                                                                            if holder.stderr else ""))
    os.kill(holder.pid, signal.SIGKILL)
    t_kill = time.monotonic()
    waited = ctx.wait_for(lambda: _scx.state() == "disabled", 10, 0.005)
    holder.wait()
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    ctx.check("sigkill_reverts_to_fair_class", waited is not None and alive == pids,
              seconds=None if waited is None else round(time.monotonic() - t_kill, 3),
              alive=len(alive), total=len(pids), on_ext=[_scx.on_ext(p) for p in pids],
              dmesg=_scx.dmesg_lines("sched_ext")[-3:])

    again = await apply_pods(FIRST)
    status = await again.status()
    ctx.check("reattach_after_kill", _scx.state() == "enabled" and status.attached,
              state=_scx.state(), previous_exit=status.last_exit)
    await again.stand_down("scenario end")
    return 0
