"""Observation overhead in the guest: the real agent's CPU time with 110 pods.

110 pods (all five tiers, idle sleepers) are laid out by the kubelet emulator; the agent runs
with its default intervals (scan every 2 s) and enforcement on. After a warm-up it is
measured for ``seconds`` (60) while ``/metrics`` and ``/observe`` are each scraped every 15 s,
next to a baseline process measured over the same window: an idle aiohttp server (the floor
any Python service of this shape pays). Records CPU time as % of one core for both. Emulation
(TCG) makes every instruction far more expensive than on hardware: compare the agent with its
baseline here, and see benchmarks/agent_overhead.py for the native number.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from kernellab.guest import kubelet
from kernellab.scenarios import _pods, _scx
from kernellab.scenarios._agent import GuestAgent

if TYPE_CHECKING:
    from kernellab.guest.runner import Context

TIERS = ("critical", "high", "normal", "low", "background")
BASELINE = ("import asyncio\nfrom aiohttp import web\nasync def main():\n"
            "    runner = web.AppRunner(web.Application()); await runner.setup()\n"
            "    await web.TCPSite(runner, '127.0.0.1', 9479).start(); await asyncio.sleep(3600)\n"
            "asyncio.run(main())\n")


def guest_main(ctx: Context) -> int:
    seconds = float(ctx.args.get("seconds", 60))
    items = [_pods.pod(1000 + i, f"pod-{i}", TIERS[i % 5], "10m", _pods.SLEEP) for i in range(110)]
    laid = kubelet.apply(kubelet.plan(_pods.pod_list(items)), _pods.CGROUP_ROOT)
    agent = GuestAgent(_pods.pod_list(items), extra_config={"scanIntervalSeconds": 2.0, "safeModePollSeconds": 2.0,
                                                            "publish": {"maxAgeSeconds": 60}})
    agent.start()
    if not ctx.check("attached", ctx.wait_for(lambda: _scx.root_ops() == "temper", 240, 0.1) is not None,
                     log=agent.tail()):
        return 1
    baseline = subprocess.Popen([sys.executable, "-c", BASELINE])
    time.sleep(15)  # warm-up: first scans, first publish, baseline imports done
    tick = os.sysconf("SC_CLK_TCK")
    agent_0, base_0, t0 = _pods.cpu_ticks([agent.pid]), _pods.cpu_ticks([baseline.pid]), time.monotonic()
    scrapes = 0
    while time.monotonic() - t0 < seconds:
        if scrapes < int((time.monotonic() - t0) // 15) + 1:
            agent.get("/metrics")
            agent.get("/observe")
            scrapes += 1
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    agent_cpu = (_pods.cpu_ticks([agent.pid]) - agent_0) / tick
    base_cpu = (_pods.cpu_ticks([baseline.pid]) - base_0) / tick
    observe = agent.get("/observe")
    ctx.check("overhead", True, pods=len(items), seconds=round(elapsed, 1), scrapes_each=scrapes,
              agent_cpu_s=agent_cpu, agent_pct_of_core=round(100 * agent_cpu / elapsed, 3),
              baseline_cpu_s=base_cpu, baseline_pct_of_core=round(100 * base_cpu / elapsed, 3),
              scan_interval_s=2.0, observe_bytes=len(observe), kernel=os.uname().release)
    baseline.kill()
    assert agent.proc is not None
    agent.proc.terminate()
    agent.proc.wait(60)
    _pods.signal_all([p for x in laid for p in _pods.pids_of(x)], signal.SIGKILL)
    return 0
