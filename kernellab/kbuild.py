"""Builds the oldest supported sched_ext kernel (Linux 6.12) from Debian's source package.

Why it exists: no Debian 6.12 kernel binary is built with ``CONFIG_SCHED_CLASS_EXT``, yet
6.12 is the oldest kernel Temper claims (it has the old kfunc names ``scx_bpf_dispatch``
and ``scx_bpf_consume``).  We build a deliberately tiny kernel: ``tinyconfig`` +
``kvm_guest.config`` + the fragment below, just enough for Python, bpftool, cgroup v2
and sched_ext in an initramfs guest.

Invariants:
- every option in :data:`REQUIRED` is ``=y`` in the final ``.config`` or the build fails
  before compiling (Kconfig silently drops options whose dependencies are missing);
- the build runs under ``nice -n 19`` with ``-j2``: the host is shared;
- the result (``bzImage``, ``vmlinux`` with BTF, ``config``) is cached under a key of
  the source package version and the fragment, written atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from kernellab.cache import atomic_dir, cache_key, is_done

# Options that must end up enabled.  Grouped by why they are needed.
REQUIRED: tuple[str, ...] = (
    # boot: 64-bit SMP guest, PVH entry for `-kernel`, initramfs, serial console
    "64BIT", "SMP", "PVH", "HYPERVISOR_GUEST", "PARAVIRT", "KVM_GUEST",
    "BLK_DEV_INITRD", "RD_GZIP", "BINFMT_ELF", "BINFMT_SCRIPT",
    "PRINTK", "TTY", "SERIAL_8250", "SERIAL_8250_CONSOLE", "VIRTIO_CONSOLE",
    "DEVTMPFS", "DEVTMPFS_MOUNT", "PROC_FS", "PROC_SYSCTL", "SYSFS", "TMPFS", "SHMEM",
    "MAGIC_SYSRQ",
    # SeaBIOS's MP table lists one CPU only: -smp N needs ACPI's MADT to see N CPUs
    "ACPI",
    # what glibc, Python, bpftool, stress-ng and memcached call
    "MULTIUSER", "FUTEX", "EPOLL", "SIGNALFD", "TIMERFD", "EVENTFD", "AIO",
    "FILE_LOCKING", "POSIX_TIMERS", "INOTIFY_USER", "SYSVIPC", "FHANDLE",
    "ADVISE_SYSCALLS", "MEMBARRIER", "HIGH_RES_TIMERS",
    "NET", "UNIX", "INET",
    # BPF and BTF
    "BPF", "BPF_SYSCALL", "BPF_JIT", "DEBUG_INFO", "DEBUG_INFO_BTF", "KALLSYMS", "DEBUG_FS",
    # tracing as every distribution kernel has it: without BPF_EVENTS libbpf's feature probe
    # (a tracepoint program) fails and it rewrites bpf_probe_read_kernel_str() to the legacy
    # helper, which struct_ops programs may not call
    "PERF_EVENTS", "FTRACE", "KPROBES", "KPROBE_EVENTS", "BPF_EVENTS",
    # sched_ext and the cgroup controllers kubelet uses
    "SCHED_CLASS_EXT", "EXT_GROUP_SCHED",
    "CGROUPS", "CGROUP_SCHED", "FAIR_GROUP_SCHED", "CFS_BANDWIDTH", "CPUSETS",
    "MEMCG", "CGROUP_PIDS", "CGROUP_BPF", "CGROUP_FREEZER", "PSI",
    "SCHED_DEBUG", "SCHEDSTATS",
)

# Options we set that Kconfig may legitimately satisfy differently (choices, values).
EXTRA_LINES: tuple[str, ...] = (
    "CONFIG_DEBUG_KERNEL=y",
    "CONFIG_EXPERT=y",
    "CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y",
    "CONFIG_DEBUG_INFO_REDUCED=n",
    "CONFIG_DEBUG_INFO_SPLIT=n",
    "CONFIG_NR_CPUS=8",
    "CONFIG_BPF_JIT_ALWAYS_ON=y",
    "CONFIG_MODULES=n",
    "CONFIG_KERNEL_GZIP=y",
)


def fragment() -> str:
    """The Kconfig fragment merged on top of tinyconfig + kvm_guest.config."""
    lines = [f"CONFIG_{opt}=y" for opt in dict.fromkeys(REQUIRED)]
    return "\n".join([*lines, *EXTRA_LINES, ""])


@dataclass(frozen=True)
class BuiltKernel:
    """A cached kernel build."""

    directory: Path

    @property
    def bzimage(self) -> Path:
        return self.directory / "bzImage"

    @property
    def vmlinux(self) -> Path:
        return self.directory / "vmlinux"

    @property
    def config(self) -> Path:
        return self.directory / "config"


def parse_config(text: str) -> dict[str, str]:
    """``.config`` text to ``{NAME: value}`` (``n`` for "is not set")."""
    res: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, _, v = line.partition("=")
            res[k[len("CONFIG_"):]] = v
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            res[line[len("# CONFIG_"):-len(" is not set")]] = "n"
    return res


def missing_options(config_text: str) -> list[str]:
    cfg = parse_config(config_text)
    return [o for o in dict.fromkeys(REQUIRED) if cfg.get(o) != "y"]


def _run(args: list[str], cwd: Path, log: Path) -> None:
    with log.open("a") as f:
        f.write(f"$ {' '.join(args)}\n")
        f.flush()
        proc = subprocess.run(args, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}); log {log}:\n{tail}")


def build_612(source_deb: Path, source_version: str, out_root: Path,
              *, jobs: int = 2) -> BuiltKernel:
    """Build (or return the cached) 6.12 kernel from a ``linux-source-6.12`` deb."""
    key = cache_key("kbuild-6.12", source_version, fragment())[:16]
    final = out_root / f"linux-6.12-{key}"
    if is_done(final):
        return BuiltKernel(final)
    work = out_root / f"work-{key}"
    src_root = work / "src"
    log = out_root / f"build-{key}.log"
    if work.exists():
        shutil.rmtree(work)  # a killed build restarts from scratch; the tree is cheap
    work.mkdir(parents=True)
    t0 = time.monotonic()
    print(f"kernellab: building Linux 6.12 ({source_version}); log: {log}", file=sys.stderr)
    subprocess.run(["dpkg-deb", "-x", str(source_deb), str(work / "deb")], check=True)
    tars = sorted((work / "deb" / "usr" / "src").glob("linux-source-6.12*.tar.*"))
    if not tars:
        raise RuntimeError("linux-source-6.12 package carries no tarball")
    src_root.mkdir()
    with tarfile.open(tars[0]) as tf:
        tf.extractall(src_root, filter="tar")
    shutil.rmtree(work / "deb")
    (tree,) = [p for p in src_root.iterdir() if p.is_dir()]
    nice = ["nice", "-n", "19"]
    env_make = [*nice, "make", "ARCH=x86_64"]
    _run([*env_make, "tinyconfig"], tree, log)
    _run([*env_make, "kvm_guest.config"], tree, log)
    (tree / "temper.config").write_text(fragment())
    _run(["scripts/kconfig/merge_config.sh", "-m", ".config", "temper.config"], tree, log)
    _run([*env_make, "olddefconfig"], tree, log)
    missing = missing_options((tree / ".config").read_text())
    if missing:
        raise RuntimeError(f"6.12 config lacks required options: {missing}")
    _run([*env_make, f"-j{jobs}", "bzImage"], tree, log)
    with atomic_dir(final) as tmp:
        shutil.copy2(tree / "arch" / "x86" / "boot" / "bzImage", tmp / "bzImage")
        shutil.copy2(tree / "vmlinux", tmp / "vmlinux")
        shutil.copy2(tree / ".config", tmp / "config")
        (tmp / "version").write_text(source_version + "\n")
        (tmp / "build-seconds").write_text(f"{time.monotonic() - t0:.0f}\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"kernellab: 6.12 built in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    return BuiltKernel(final)


if __name__ == "__main__":  # pragma: no cover - manual entry point
    b = build_612(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), jobs=os.cpu_count() or 2)
    print(b.directory)
