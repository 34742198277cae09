"""Watchdog scenario: the kernel ejects a scheduler that never dispatches.

A busy child is switched to SCHED_EXT (policy 7) under the ``labstall`` fixture
(partial switch, ``timeout_ms`` 1000, enqueue drops tasks).  Expected: state goes
``disabled`` within a few seconds, dmesg names the stall, and the child accumulates CPU
time again afterwards (it is back on the fair class).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kernellab.scenarios import _scx

if TYPE_CHECKING:
    from kernellab import fetch, image
    from kernellab.guest.runner import Context

SCHED_EXT = 7


def prepare(lab: fetch.Lab, kernel: fetch.Kernel, work: Path) -> image.Payload:
    from kernellab import bpfbuild, image

    obj = bpfbuild.compile_bpf(bpfbuild.FIXTURES / "labstall.bpf.c",
                               work / "labstall.bpf.o", kernel, lab.tools)
    return image.Payload(files={"/lab/inputs/labstall.bpf.o": obj})


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def guest_main(ctx: Context) -> int:
    pin = Path("/sys/fs/bpf/labstall")
    reg = _scx.register(ctx.inputs / "labstall.bpf.o", pin)
    waited = ctx.wait_for(lambda: _scx.state() == "enabled", 10)
    ctx.check("attach", waited is not None, rc=reg.returncode,
              stderr=reg.stderr.strip()[-400:], state=_scx.state())
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        os.sched_setscheduler(busy.pid, SCHED_EXT, os.sched_param(0))
        t0 = time.monotonic()
        ejected = ctx.wait_for(lambda: _scx.state() == "disabled", 30, 0.05)
        ctx.check("ejected", ejected is not None, state=_scx.state(),
                  seconds=None if ejected is None else round(time.monotonic() - t0, 3))
        lines = _scx.dmesg_lines("sched_ext")
        reason = [ln for ln in lines if "disabled" in ln or "stall" in ln]
        ctx.check("dmesg_reason", any("stall" in ln for ln in lines), lines=reason[-4:])
        before = _cpu_ticks(busy.pid)
        time.sleep(1.0)
        after = _cpu_ticks(busy.pid)
        ctx.check("busy_task_runs", after > before, ticks_before=before, ticks_after=after)
    finally:
        busy.kill()
        busy.wait()
        if pin.exists():
            _scx.unpin(pin)  # the dead link stays pinned after an ejection
    return 0
