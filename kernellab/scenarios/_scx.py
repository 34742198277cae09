"""sched_ext helpers shared by guest scenarios (stdlib only, runs in the guest).

Why it exists: reading ``/sys/kernel/sched_ext`` and attaching/detaching a scheduler
with bpftool are needed by several scenarios; keeping it here keeps them short.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCX = Path("/sys/kernel/sched_ext")


def state() -> str:
    try:
        return (SCX / "state").read_text().strip()
    except OSError:
        return "absent"


def root_ops() -> str:
    try:
        return (SCX / "root" / "ops").read_text().strip()
    except OSError:
        return ""


def register(obj: Path, pin_dir: Path) -> subprocess.CompletedProcess[str]:
    """``bpftool struct_ops register OBJ PIN_DIR`` after removing stale pins."""
    if pin_dir.exists():
        shutil.rmtree(pin_dir, ignore_errors=True)
    return subprocess.run(["bpftool", "struct_ops", "register", str(obj), str(pin_dir)],
                          capture_output=True, text=True, timeout=60, check=False)


def unpin(pin_dir: Path) -> None:
    """Remove the pinned link(s): detaches a ``.struct_ops.link`` scheduler."""
    for p in sorted(pin_dir.glob("*")):
        p.unlink()
    pin_dir.rmdir()


def dmesg_lines(contains: str) -> list[str]:
    out = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout
    return [ln for ln in out.splitlines() if contains in ln]


def on_ext(pid: int) -> bool:
    """Whether the task runs on the ext (sched_ext) class: ``ext.enabled`` in /proc/PID/sched."""
    try:
        text = Path(f"/proc/{pid}/sched").read_text()
    except OSError:
        return False
    return any(ln.strip().startswith("ext.enabled") and ln.split(":")[-1].strip() == "1"
               for ln in text.splitlines())
