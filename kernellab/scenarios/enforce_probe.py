"""Scratch probe: Temper's scheduler object loads, attaches and detaches (development aid)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kernellab.scenarios import _scx

if TYPE_CHECKING:
    from kernellab.guest.runner import Context


def guest_main(ctx: Context) -> int:
    for name in ("temper.bpf.o", "temper_broken.bpf.o"):
        obj = Path("/lab/bpf/build") / name
        pin = Path("/sys/fs/bpf/probe")
        reg = _scx.register(obj, pin)
        waited = ctx.wait_for(lambda: _scx.state() == "enabled", 10)
        ctx.check(f"attach_{name}", waited is not None, rc=reg.returncode,
                  stderr=reg.stderr[-3000:], stdout=reg.stdout[-500:], ops=_scx.root_ops())
        maps = subprocess.run(["bpftool", "map", "show"], capture_output=True, text=True).stdout
        ctx.emit("maps", text=maps[-1500:])
        time.sleep(2.5 if "broken" in name else 0.5)
        ctx.emit("state_after", state=_scx.state(), dmesg=_scx.dmesg_lines("sched_ext")[-4:])
        if pin.exists():
            _scx.unpin(pin)
        ctx.wait_for(lambda: _scx.state() == "disabled", 10)
    return 0
