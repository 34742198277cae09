"""Smoke scenario: the guest is a usable sched_ext lab.

Checks, in order: kernel release; ``/sys/kernel/sched_ext/state`` present and
``disabled``; BTF at ``/sys/kernel/btf/vmlinux``; bpftool's version; the ``labfifo``
fixture attaches (state ``enabled``, ``root/ops`` names it, this process runs on ext);
removing its pinned link detaches it (state ``disabled``).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernellab.scenarios import _scx

if TYPE_CHECKING:
    from kernellab import fetch, image
    from kernellab.guest.runner import Context


def prepare(lab: fetch.Lab, kernel: fetch.Kernel, work: Path) -> image.Payload:
    from kernellab import bpfbuild, image

    obj = bpfbuild.compile_bpf(bpfbuild.FIXTURES / "labfifo.bpf.c", work / "labfifo.bpf.o",
                               kernel, lab.tools)
    return image.Payload(files={"/lab/inputs/labfifo.bpf.o": obj})


def guest_main(ctx: Context) -> int:
    ctx.emit("kernel", release=platform.release(), cpus=os.cpu_count())
    ctx.check("scx_state_file", _scx.state() == "disabled", state=_scx.state())
    btf = Path("/sys/kernel/btf/vmlinux")
    ctx.check("btf", btf.exists(), size=btf.stat().st_size if btf.exists() else 0)
    ver = subprocess.run(["bpftool", "version"], capture_output=True, text=True, check=False)
    first = ver.stdout.splitlines()[0] if ver.stdout else ver.stderr
    ctx.check("bpftool", ver.returncode == 0, version=first)

    pin = Path("/sys/fs/bpf/labfifo")
    obj = ctx.inputs / "labfifo.bpf.o"
    reg = _scx.register(obj, pin)
    waited = ctx.wait_for(lambda: _scx.state() == "enabled", 10)
    attach: dict[str, Any] = {"rc": reg.returncode, "stderr": reg.stderr.strip()[-400:],
                              "seconds": waited}
    ctx.check("attach", waited is not None, state=_scx.state(), **attach)
    ctx.check("root_ops", _scx.root_ops().startswith("labfifo"), ops=_scx.root_ops())
    sched = Path("/proc/self/sched").read_text() if Path("/proc/self/sched").exists() else ""
    policy = [ln.split(":")[1].strip() for ln in sched.splitlines()
              if ln.startswith("policy")]
    ext_line = [ln.strip() for ln in sched.splitlines() if "ext" in ln][:3]
    ctx.emit("self_sched", policy=policy, ext=ext_line)
    if pin.exists():
        _scx.unpin(pin)
    waited = ctx.wait_for(lambda: _scx.state() == "disabled", 10)
    ctx.check("detach", waited is not None, state=_scx.state(), seconds=waited,
              dmesg=_scx.dmesg_lines("sched_ext")[-3:])
    return 0
