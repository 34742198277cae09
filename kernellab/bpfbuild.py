"""Compiles BPF C against a lab kernel's ``vmlinux.h`` with the host's clang.

Why it exists: one place that knows the compiler and flags that work for each lab kernel,
so the product's ``bpf/`` build, the lab fixtures and tests agree.

Invariants:
- the compiler is Debian 12's ``clang-16`` (the newest Debian 12 / bookworm-backports
  offers); it is installed by :func:`kernellab.fetch.install_host_tools`;
- ``-fms-extensions -Wno-microsoft-anon-tag`` is always passed: 7.x ``vmlinux.h`` embeds
  named structs anonymously and without the extension clang drops members silently;
- libbpf's BPF-side headers come from sid's ``libbpf-dev`` (unpacked, never installed).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from kernellab.fetch import CLANG, HostTools, Kernel

BASE_FLAGS: tuple[str, ...] = (
    "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86",
    "-fms-extensions", "-Wno-microsoft-anon-tag", "-Wall", "-Wno-unused-function",
)


def kernel_defines(kernel: Kernel) -> list[str]:
    """Per-kernel macros: ``LAB_KFUNCS_612`` where the pre-6.13 kfunc names apply."""
    return ["-DLAB_KFUNCS_612"] if kernel.name == "6.12" else []


def cflags(kernel: Kernel, tools: HostTools) -> list[str]:
    """Full flag list for compiling a BPF object for ``kernel``."""
    return [*BASE_FLAGS, *kernel_defines(kernel), f"-I{kernel.vmlinux_h.parent}",
            f"-I{tools.include_dir}"]


def compile_bpf(source: Path, out: Path, kernel: Kernel, tools: HostTools,
                extra: list[str] | None = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [CLANG, *cflags(kernel, tools), *(extra or []), "-c", str(source), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{proc.stderr}")
    return out


FIXTURES = Path(__file__).resolve().parent / "fixtures"
