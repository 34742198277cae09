"""What this node is: CPU topology from sysfs, and whether it can run a sched_ext scheduler.

Why it exists: the planner needs the node's real cores and LLCs (SMT siblings are fenced
whole, LLCs are kept together), and the agent must decide *before* touching the kernel
whether enforcement is possible at all, with a reason precise enough for the enforcement
annotation ("kernel 6.1.0 is older than 6.12", not "unsupported").

Design: every reader takes a ``root`` directory (``/`` in production, a generated tree in
tests), so nothing here needs a real kernel. The support decision is a pure function
(``decide_support``) over ``KernelFacts``; ``gather_kernel_facts`` is the thin I/O part.

Topology rules:
- online CPUs from ``sys/devices/system/cpu/online`` (kernel cpulist format);
- core key = ``physical_package_id * 65536 + core_id`` (core ids repeat across packages);
- LLC = the ``cache/index*/`` entry with ``level`` 3, keyed by the lowest CPU of its
  ``shared_cpu_list``; a CPU without a level-3 cache falls back to its package.
  If SMT siblings would disagree on the LLC (broken firmware tables) the core's lowest CPU
  decides, so ``NodeTopology``'s invariant holds.

Errors: ``SysfsError`` (a ``ValueError``) when the online list or a CPU's topology files
are missing or malformed — the agent cannot plan without a topology and says which file.
The kernel probe never raises: a missing fact is a reason in the returned ``Probe``.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nodeagent.enforcement import Probe
from temper.cpuset import parse_cpulist
from temper.topology import CpuInfo, NodeTopology, TopologyError

MIN_KERNEL = (6, 12)
"""sched_ext is upstream since Linux 6.12 (REFERENCE.md §1)."""
CAP_SYS_ADMIN = 21
CAP_BPF = 39
CORE_KEY_STRIDE = 65536
"""core key = package * 65536 + core_id: core ids are per package and below 65536."""


class SysfsError(ValueError):
    """The node's sysfs does not describe a usable CPU topology; the message names the file."""


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SysfsError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_int(path: Path) -> int:
    text = _read(path)
    try:
        return int(text)
    except ValueError:
        raise SysfsError(f"{path}: expected an integer, got {text[:40]!r}") from None


def _cpulist(path: Path) -> frozenset[int]:
    try:
        return parse_cpulist(_read(path))
    except ValueError as exc:
        raise SysfsError(f"{path}: {exc}") from None


def _llc_of(cpu_dir: Path) -> frozenset[int] | None:
    """The CPUs sharing this CPU's level-3 cache, or None when it reports no L3."""
    cache = cpu_dir / "cache"
    try:
        indexes = sorted(p for p in cache.iterdir() if p.name.startswith("index"))
    except OSError:
        return None
    for index in indexes:
        try:
            if (index / "level").read_text().strip() != "3":
                continue
        except OSError:
            continue
        return _cpulist(index / "shared_cpu_list")
    return None


def kernel_forwards_cgroup_bandwidth(root: str | Path = "/") -> bool:
    """Whether the running kernel's sched_ext has ``ops.cgroup_set_bandwidth`` (6.17+): its
    name is in the kernel's BTF string table. False when the BTF cannot be read."""
    try:
        btf = (Path(root) / "sys/kernel/btf/vmlinux").read_bytes()
    except OSError:
        return False
    return b"\0cgroup_set_bandwidth\0" in btf


def read_online(root: str | Path = "/") -> frozenset[int]:
    """The online CPU ids (one small read: the agent checks it every scan for hotplug)."""
    return _cpulist(Path(root) / "sys/devices/system/cpu/online")


def read_topology(root: str | Path = "/") -> NodeTopology:
    """The online CPUs of the node under ``root`` with their cores and LLCs."""
    cpu_root = Path(root) / "sys/devices/system/cpu"
    online = _cpulist(cpu_root / "online")
    if not online:
        raise SysfsError(f"{cpu_root / 'online'}: no online CPU")
    core_of: dict[int, int] = {}
    package_of: dict[int, int] = {}
    llc_cpus: dict[int, frozenset[int] | None] = {}
    for cpu in sorted(online):
        cpu_dir = cpu_root / f"cpu{cpu}"
        package = _read_int(cpu_dir / "topology/physical_package_id")
        core_id = _read_int(cpu_dir / "topology/core_id")
        if package < 0 or not 0 <= core_id < CORE_KEY_STRIDE:
            raise SysfsError(f"{cpu_dir}/topology: package {package} / core {core_id} out of range")
        package_of[cpu] = package
        core_of[cpu] = package * CORE_KEY_STRIDE + core_id
        llc_cpus[cpu] = _llc_of(cpu_dir)
    # LLC key: lowest CPU sharing the L3 (offset past any package key), else the package.
    llc_key: dict[int, int] = {}
    for cpu in online:
        shared = llc_cpus[cpu]
        llc_key[cpu] = (1 << 20) + min(shared) if shared else package_of[cpu]
    core_llc: dict[int, int] = {}
    for cpu in sorted(online):
        core_llc.setdefault(core_of[cpu], llc_key[cpu])
    try:
        return NodeTopology(tuple(CpuInfo(cpu, core_of[cpu], core_llc[core_of[cpu]]) for cpu in sorted(online)))
    except TopologyError as exc:
        raise SysfsError(f"{cpu_root}: {exc}") from None


_RELEASE = re.compile(r"^\s*(\d+)\.(\d+)")


def parse_kernel_release(release: str) -> tuple[int, int] | None:
    """(major, minor) of a ``uname -r`` string ("6.12.0-1-cloud-amd64", "7.2.3+deb13"), or None."""
    match = _RELEASE.match(release)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def _capabilities(status_text: str) -> int | None:
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            try:
                return int(line.split(":", 1)[1].strip(), 16)
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class KernelFacts:
    release: str
    sched_ext_state: str | None
    """Contents of ``/sys/kernel/sched_ext/state``; None when absent."""
    btf_vmlinux: bool
    bpftool: str | None
    """Resolved bpftool path; None when not found."""
    euid: int
    cap_eff: int | None
    """CapEff bitmask from ``/proc/self/status``; None when unreadable."""


def decide_support(facts: KernelFacts) -> Probe:
    """Pure: can this node enforce? The first missing requirement is the reason."""
    kernel = facts.release
    version = parse_kernel_release(facts.release)
    if version is None:
        return Probe(False, f"cannot parse kernel release {facts.release[:64]!r}", kernel)
    if version < MIN_KERNEL:
        return Probe(False, f"kernel {kernel} is older than {MIN_KERNEL[0]}.{MIN_KERNEL[1]} (no sched_ext)", kernel)
    if facts.sched_ext_state is None:
        return Probe(False, "/sys/kernel/sched_ext/state missing: kernel built without CONFIG_SCHED_CLASS_EXT",
                     kernel)
    if not facts.btf_vmlinux:
        return Probe(False, "/sys/kernel/btf/vmlinux missing: kernel built without CONFIG_DEBUG_INFO_BTF", kernel)
    if facts.bpftool is None:
        return Probe(False, "bpftool not found", kernel)
    needed = (1 << CAP_SYS_ADMIN) | (1 << CAP_BPF)
    if facts.euid != 0 and (facts.cap_eff is None or facts.cap_eff & needed != needed):
        return Probe(False, "insufficient privileges: need uid 0 or CAP_SYS_ADMIN and CAP_BPF", kernel)
    return Probe(True, "", kernel)


def gather_kernel_facts(root: str | Path = "/", bpftool: str = "bpftool", euid: int | None = None) -> KernelFacts:
    """Read the facts ``decide_support`` needs from the node under ``root``."""
    base = Path(root)
    try:
        release = (base / "proc/sys/kernel/osrelease").read_text().strip()
    except OSError:
        release = os.uname().release if base == Path("/") else ""
    try:
        state: str | None = (base / "sys/kernel/sched_ext/state").read_text().strip()
    except OSError:
        state = None
    try:
        status = (base / "proc/self/status").read_text()
    except OSError:
        status = ""
    resolved = shutil.which(bpftool)  # also checks an explicit path is executable
    return KernelFacts(
        release=release,
        sched_ext_state=state,
        btf_vmlinux=(base / "sys/kernel/btf/vmlinux").exists(),
        bpftool=resolved,
        euid=os.geteuid() if euid is None else euid,
        cap_eff=_capabilities(status),
    )


def probe_kernel(root: str | Path = "/", bpftool: str = "bpftool", euid: int | None = None) -> Probe:
    return decide_support(gather_kernel_facts(root, bpftool, euid))
