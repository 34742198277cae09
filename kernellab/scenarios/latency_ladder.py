"""Latency ladder: a Critical pod's wake-up lateness under a ladder of Background fillers,
the fair class and Temper side by side in one boot.

One Critical pod (500m: the plan fences one CPU for it) and up to N Background filler pods
(CPU-bound shell loops) are laid out by the kubelet emulator. For each rung (number of
running fillers; the others are SIGSTOPped, so they are not runnable) the probe
(``latprobe``, a periodic 1 ms sleeper inside the Critical pod's container cgroup) runs once
under the fair class and once with Temper attached through ``nodeagent.bpf_enforcer`` (the
production plan -> maps path). The probe behaves like a request loop: every
``interval_us`` it
wakes and does ``work_us`` of CPU work (a request's service time); its lateness is everything
that kept the request off the CPU (wake-up delay plus preemption while it ran).
Each record: lateness percentiles, guest CPU busy fraction,
and the fillers' CPU time (batch work done). Absolute times are stretched by emulation (TCG):
the ratios between the two schedulers in the same boot are the result.

With ``workload`` = ``memcached`` the Critical pod runs memcached (one worker thread, UNIX
socket) instead, and the measurement is ``mcload``: ``rate`` gets per second, latency from each
request's scheduled send time to its reply, generated from CPU 0 at SCHED_FIFO.

Args: ``rungs`` (list, default [0, 1, 2, 4, 8]), ``seconds`` per arm (3), ``interval_us``
(1000), ``work_us`` (300), ``workload`` (probe | memcached), ``rate`` (1000).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernellab.guest import kubelet
from kernellab.scenarios import _pods, _scx

if TYPE_CHECKING:
    from kernellab import fetch, image
    from kernellab.guest.runner import Context

OBJ = "/lab/bpf/build/temper.bpf.o"
PIN = "/sys/fs/bpf/temper"


MEMCACHED_LIBS = ("libevent-2.1.so.7", "libsasl2.so.2")
SOCKET = "/run/memcached.sock"


def prepare(lab: fetch.Lab, kernel: fetch.Kernel, work: Path) -> image.Payload:
    """Static probe and load generator, plus memcached and the two libraries the base image
    lacks, taken from the lab's unpacked workloads tree (not the whole, large layer)."""
    from kernellab import image

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    files: dict[str, Path] = {}
    for name in ("latprobe", "mcload"):
        out = work / name
        subprocess.run(["gcc", "-O2", "-static", "-o", str(out), str(fixtures / f"{name}.c")], check=True,
                       stderr=subprocess.DEVNULL)
        files[f"/lab/inputs/{name}"] = out
    tree = lab.guest.workloads
    files["/lab/inputs/memcached"] = (tree / "usr/bin/memcached").resolve()
    for lib in MEMCACHED_LIBS:
        files[f"/lab/inputs/lib/{lib}"] = (tree / "usr/lib/x86_64-linux-gnu" / lib).resolve()
    return image.Payload(files=files)


def guest_main(ctx: Context) -> int:
    return asyncio.run(_main(ctx))


async def _main(ctx: Context) -> int:
    from nodeagent.bpf_enforcer import BpfEnforcer
    from temper.plan import plan
    from temper.pods import decode_pod_list
    from temper.topology import NodeTopology

    rungs = [int(r) for r in ctx.args.get("rungs", [0, 1, 2, 4, 8])]
    seconds = float(ctx.args.get("seconds", 3))
    interval = int(ctx.args.get("interval_us", 1000))
    work = int(ctx.args.get("work_us", 300))
    workload = str(ctx.args.get("workload", "probe"))
    rate = int(ctx.args.get("rate", 1000))
    server = ["sh", "-c", f"LD_LIBRARY_PATH={ctx.inputs}/lib exec {ctx.inputs}/memcached -u root -s {SOCKET} "
              "-a 0666 -t 1 -m 64"]
    items = [_pods.pod(1, "memcached", "critical", "500m", server if workload == "memcached" else _pods.SLEEP)]
    items += [_pods.pod(100 + i, f"filler-{i}", "background", "100m", _pods.BUSY) for i in range(max(rungs))]
    plans = kubelet.apply(kubelet.plan(_pods.pod_list(items)), _pods.CGROUP_ROOT)
    fillers = [_pods.pids_of(p) for p in plans[1:]]
    _pods.signal_all([pid for group in fillers for pid in group], signal.SIGSTOP)
    scope = plans[0].containers[0].cgroup
    if workload == "memcached":
        # The load generator pins itself to CPU 0 at SCHED_FIFO: a CPU of its own, out of reach
        # of the guest scheduler under test. Latency is measured from scheduled send times.
        probe_argv = [str(ctx.inputs / "mcload"), SOCKET, str(rate), str(seconds), "0"]
        if ctx.wait_for(lambda: Path(SOCKET).exists(), 30) is None:
            ctx.check("memcached_started", False)
            return 1
    else:
        probe_argv = _pods.in_cgroup(scope, [str(ctx.inputs / "latprobe"), str(interval), str(seconds), "0",
                                             str(work)])

    decoded = decode_pod_list(_pods.pod_list(items))
    ids = {p.uid: (_pods.CGROUP_ROOT / laid.cgroup).stat().st_ino
           for p, laid in zip(decoded.pods, plans, strict=True)}
    layer_plan = plan(NodeTopology.uniform(os.cpu_count() or 1), decoded.pods)
    ctx.emit("setup", cpus=os.cpu_count(), fenced=sorted(layer_plan.fenced), pods=len(items), work_us=work,
             interval_us=interval, workload=workload, rate=rate)
    enforcer = BpfEnforcer(OBJ, PIN)
    busy = _pods.busy_fraction_sampler()

    for rung in rungs:
        running = [pid for group in fillers[:rung] for pid in group]
        stopped = [pid for group in fillers[rung:] for pid in group]
        _pods.signal_all(stopped, signal.SIGSTOP)
        _pods.signal_all(running, signal.SIGCONT)
        for scheduler in ("fair", "temper"):
            if scheduler == "temper":
                t0 = time.monotonic()
                await enforcer.apply(layer_plan, ids)
                attach_s = time.monotonic() - t0
                if _scx.root_ops() != "temper":
                    ctx.check("attached", False, state=_scx.state())
                    return 1
            else:
                attach_s = 0.0
            time.sleep(0.3)
            ticks0, _ = _pods.cpu_ticks(running), busy()
            proc = subprocess.run(probe_argv, capture_output=True, text=True, timeout=seconds * 10 + 30)
            ticks1, util = _pods.cpu_ticks(running), busy()
            try:
                result: dict[str, Any] = json.loads(proc.stdout)
            except json.JSONDecodeError:
                ctx.check("probe", False, stdout=proc.stdout[-500:], stderr=proc.stderr[-500:])
                return 1
            ctx.emit("rung", fillers=rung, scheduler=scheduler, cpu_util=round(util, 3),
                     batch_cpu_s=round((ticks1 - ticks0) / os.sysconf("SC_CLK_TCK"), 3),
                     attach_s=round(attach_s, 3), **result)
            if scheduler == "temper":
                status = await enforcer.status()
                ctx.emit("counters", fillers=rung, counters={t.label: dict(c) for t, c in status.counters.items()})
                await enforcer.stand_down("ladder: next arm")
    _pods.signal_all([pid for group in fillers for pid in group], signal.SIGKILL)
    ctx.check("ladder_complete", True, rungs=rungs, kernel=os.uname().release)
    return 0
