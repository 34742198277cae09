"""Failover under load: SIGKILL the real agent while a Critical pod measures its wake-up
lateness beside 8 Background CPU hogs, pause, restart the agent; p99 per 1-second window.

Records: ``window`` lines (index, p99, phase: before / during / after), the time from SIGKILL
until the kernel reported ``disabled`` (the node on the fair class), and from restart until
the scheduler was attached again. Args: ``before_s`` (8), ``pause_s`` (5), ``after_s`` (8).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from kernellab.guest import kubelet
from kernellab.scenarios import _pods, _scx
from kernellab.scenarios._agent import GuestAgent
from kernellab.scenarios.latency_ladder import prepare

if TYPE_CHECKING:
    from kernellab.guest.runner import Context

__all__ = ["guest_main", "prepare"]


def guest_main(ctx: Context) -> int:
    before_s = float(ctx.args.get("before_s", 8))
    pause_s = float(ctx.args.get("pause_s", 5))
    after_s = float(ctx.args.get("after_s", 8))
    items = [_pods.pod(1, "memcached", "critical", "500m", _pods.SLEEP)]
    items += [_pods.pod(100 + i, f"filler-{i}", "background", "100m", _pods.BUSY) for i in range(8)]
    laid = kubelet.apply(kubelet.plan(_pods.pod_list(items)), _pods.CGROUP_ROOT)
    agent = GuestAgent(_pods.pod_list(items))
    agent.start()
    if not ctx.check("attached", ctx.wait_for(lambda: _scx.root_ops() == "temper", 240, 0.05) is not None,
                     log=agent.tail()):
        return 1

    scope = laid[0].containers[0].cgroup
    probe = subprocess.Popen(_pods.in_cgroup(scope, [str(ctx.inputs / "latprobe"), "1000", "600", "1000"]),
                             stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    windows: list[dict[str, Any]] = []

    def read() -> None:
        assert probe.stdout is not None
        for line in probe.stdout:
            if line.startswith('{"window"'):
                windows.append({**json.loads(line), "t_end_s": round(time.monotonic() - t0, 3)})

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(before_s)
    kill_at = time.monotonic() - t0
    os.kill(agent.pid, signal.SIGKILL)
    disabled = ctx.wait_for(lambda: _scx.state() == "disabled", 10, 0.002)
    assert agent.proc is not None
    agent.proc.wait()
    time.sleep(pause_s)
    restart_at = time.monotonic() - t0
    agent.start()
    reattached = ctx.wait_for(lambda: _scx.root_ops() == "temper", 240, 0.02)
    back_at = time.monotonic() - t0
    time.sleep(after_s)
    probe.send_signal(signal.SIGKILL)
    probe.wait()
    reader.join(5)
    for w in windows:
        start = w["t_end_s"] - 1.0
        w["phase"] = "before" if w["t_end_s"] <= kill_at else ("during" if start < back_at else "after")
        ctx.emit("window", **w)
    ctx.check("failover", disabled is not None and reattached is not None,
              kill_at_s=round(kill_at, 3), disabled_after_s=None if disabled is None else round(disabled, 4),
              restart_at_s=round(restart_at, 3),
              reattached_after_s=None if reattached is None else round(reattached, 2),
              windows=len(windows))
    agent.proc.send_signal(signal.SIGTERM)
    agent.proc.wait(60)
    _pods.signal_all([p for x in laid for p in _pods.pids_of(x)], signal.SIGKILL)
    return 0
