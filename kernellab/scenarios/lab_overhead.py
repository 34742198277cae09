"""Observation overhead in the guest: the real agent's CPU time with 110 pods.

110 pods (all five tiers, idle sleepers) are laid out by the kubelet emulator; the agent runs
with its default intervals (scan every 2 s) and enforcement on. After a warm-up it is
measured for ``seconds`` (60) while ``/metrics`` and ``/observe`` are each scraped every 15 s,
next to a baseline process measured over the same window: an idle aiohttp server (the floor
any Python service of this shape pays). Records CPU time as % of one core for both. Emulation
(TCG) makes every instruction far more expensive than on hardware: compare the agent with its
baseline here, and see benchmarks/agent_overhead.py for the native number.

Then, in the same boot, a second window of the same length measures the agent's old counter
path (issue 10 §5): the agent as it is, plus ``bpftool -j map dump`` of ``temper_stats`` every
10 s - what the agent ran before it read its maps through bpf(2) - with bpftool's CPU counted
(the scenario's children). Rows: after (bpf(2) every scan), before (+ bpftool every 10 s).
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


STATS_PIN = "/sys/fs/bpf/temper/maps/temper_stats"


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def window(agent: GuestAgent, seconds: float, t0: float, bpftool_every: float | None) -> int:
    """Scrape /metrics and /observe every 15 s for ``seconds``; with ``bpftool_every``, also
    dump the stats map with bpftool that often (the agent's pre-bpf(2) counter read)."""
    scrapes = dumps = 0
    while time.monotonic() - t0 < seconds:
        if scrapes < int((time.monotonic() - t0) // 15) + 1:
            agent.get("/metrics")
            agent.get("/observe")
            scrapes += 1
        if bpftool_every and dumps < int((time.monotonic() - t0) // bpftool_every) + 1:
            subprocess.run(["bpftool", "-j", "map", "dump", "pinned", STATS_PIN], capture_output=True, check=False)
            dumps += 1
        time.sleep(0.5)
    return scrapes


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
    scrapes = window(agent, seconds, t0, bpftool_every=None)
    elapsed = time.monotonic() - t0
    agent_cpu = (_pods.cpu_ticks([agent.pid]) - agent_0) / tick
    base_cpu = (_pods.cpu_ticks([baseline.pid]) - base_0) / tick
    observe = agent.get("/observe")
    # The old counter path, same boot, same length: bpftool's CPU is the scenario's children's.
    agent_1, children_1, t1 = _pods.cpu_ticks([agent.pid]), _children_cpu(), time.monotonic()
    window(agent, seconds, t1, bpftool_every=10.0)
    elapsed_old = time.monotonic() - t1
    old_cpu = (_pods.cpu_ticks([agent.pid]) - agent_1) / tick + (_children_cpu() - children_1)
    ctx.check("overhead", True, pods=len(items), seconds=round(elapsed, 1), scrapes_each=scrapes,
              agent_cpu_s=agent_cpu, agent_pct_of_core=round(100 * agent_cpu / elapsed, 3),
              baseline_cpu_s=base_cpu, baseline_pct_of_core=round(100 * base_cpu / elapsed, 3),
              old_path_cpu_s=round(old_cpu, 3), old_path_pct_of_core=round(100 * old_cpu / elapsed_old, 3),
              scan_interval_s=2.0, observe_bytes=len(observe), kernel=os.uname().release)
    baseline.kill()
    assert agent.proc is not None
    agent.proc.terminate()
    agent.proc.wait(60)
    _pods.signal_all([p for x in laid for p in _pods.pids_of(x)], signal.SIGKILL)
    return 0
