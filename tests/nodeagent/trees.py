"""Builders of fake node filesystems for tests and benchmarks: a sysfs/procfs tree and a
cgroup v2 tree laid out exactly as kubelet lays it out (both drivers, all QoS classes)."""

from __future__ import annotations

from pathlib import Path

from temper.cgroupnames import CgroupDriver, pod_cgroup_path
from temper.pods import QosClass

PRESSURE = "some avg10={avg10:.2f} avg60=0.00 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"


def write_sysfs(root: Path, nr_cpus: int = 8, threads_per_core: int = 2, packages: int = 1,
                l3: bool = True, release: str = "6.12.0-1-cloud-amd64", sched_ext: bool = True,
                btf: bool = True, cap_eff: str = "000001ffffffffff") -> Path:
    """CPUs numbered core by core; one L3 per package (or none)."""
    cpu_root = root / "sys/devices/system/cpu"
    cpu_root.mkdir(parents=True, exist_ok=True)
    (cpu_root / "online").write_text(f"0-{nr_cpus - 1}\n")
    per_package = nr_cpus // packages
    for cpu in range(nr_cpus):
        package = cpu // per_package
        core_id = (cpu % per_package) // threads_per_core
        topo = cpu_root / f"cpu{cpu}/topology"
        topo.mkdir(parents=True, exist_ok=True)
        (topo / "core_id").write_text(f"{core_id}\n")
        (topo / "physical_package_id").write_text(f"{package}\n")
        for index, level in enumerate((1, 2, 3) if l3 else (1, 2)):
            cache = cpu_root / f"cpu{cpu}/cache/index{index}"
            cache.mkdir(parents=True, exist_ok=True)
            (cache / "level").write_text(f"{level}\n")
            if level == 3:
                lo = package * per_package
                shared = f"{lo}-{lo + per_package - 1}"
            else:
                first = cpu - cpu % threads_per_core
                shared = f"{first}-{first + threads_per_core - 1}" if threads_per_core > 1 else str(cpu)
            (cache / "shared_cpu_list").write_text(f"{shared}\n")
    (root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/osrelease").write_text(release + "\n")
    (root / "proc/self").mkdir(parents=True, exist_ok=True)
    (root / "proc/self/status").write_text(f"Name:\tpython3\nCapEff:\t{cap_eff}\n")
    if sched_ext:
        (root / "sys/kernel/sched_ext").mkdir(parents=True, exist_ok=True)
        (root / "sys/kernel/sched_ext/state").write_text("disabled\n")
    if btf:
        (root / "sys/kernel/btf").mkdir(parents=True, exist_ok=True)
        (root / "sys/kernel/btf/vmlinux").write_bytes(b"\x9f\xeb")
    return root


def write_pod_cgroup(root: Path, uid: str, qos: QosClass, driver: CgroupDriver = CgroupDriver.SYSTEMD,
                     usage_usec: int = 0, avg10: float = 0.0) -> Path:
    directory = root / pod_cgroup_path(uid, qos, driver)
    directory.mkdir(parents=True, exist_ok=True)
    write_usage(directory, usage_usec)
    (directory / "cpu.pressure").write_text(PRESSURE.format(avg10=avg10))
    # A container below the pod, as kubelet creates: the scanner must not descend into it.
    (directory / "cri-containerd-0123abcd.scope").mkdir(exist_ok=True)
    for cgroup in (directory, directory / "cri-containerd-0123abcd.scope"):  # every cgroup has the file
        if not (cgroup / "cgroup.threads").exists():
            (cgroup / "cgroup.threads").write_text("")
    return directory


def write_usage(directory: Path, usage_usec: int) -> None:
    (directory / "cpu.stat").write_text(
        f"usage_usec {usage_usec}\nuser_usec {usage_usec // 2}\nsystem_usec {usage_usec // 2}\n"
        "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")


def write_cgroup_limit(directory: Path, cpu_max: str = "max 100000\n", cpu_max_burst: str | None = "0\n") -> None:
    """``cpu.max`` ("$QUOTA $PERIOD" or "max $PERIOD") and ``cpu.max.burst`` as the kernel
    prints them; ``cpu_max_burst=None``: a kernel without the file (before 5.14)."""
    (directory / "cpu.max").write_text(cpu_max)
    burst = directory / "cpu.max.burst"
    if cpu_max_burst is None:
        burst.unlink(missing_ok=True)
    else:
        burst.write_text(cpu_max_burst)


def write_container_cgroup(pod_dir: Path, name: str = "cri-containerd-4567cdef.scope", *,
                           cpu_max: str | None = "max 100000\n", cpu_max_burst: str | None = "0\n",
                           cpuset: str | None = None) -> Path:
    """A container cgroup below a pod cgroup (kubelet/containerd name it
    ``cri-containerd-<id>.scope``), with the files kubelet sets: ``cpu.max`` (+ burst) and, when
    the cpuset controller is on, ``cpuset.cpus.effective`` (a cpulist such as "2-3,6")."""
    directory = pod_dir / name
    directory.mkdir(exist_ok=True)
    if cpu_max is not None:
        write_cgroup_limit(directory, cpu_max, cpu_max_burst)
    if cpuset is not None:
        (directory / "cpuset.cpus.effective").write_text(cpuset + "\n")
    return directory


def write_cgroup_threads(directory: Path, tids: list[int]) -> None:
    """``cgroup.threads`` as the kernel prints it: one tid per line."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cgroup.threads").write_text("".join(f"{tid}\n" for tid in tids))


def write_proc_thread(proc_root: Path, tid: int, comm: str = "worker", state: str = "S", cpu_ns: int = 0,
                      wait_ns: int = 0, timeslices: int = 0, last_cpu: int = 0) -> None:
    """``/proc/<tid>/stat`` (52 fields, field 39 = last CPU) and ``/proc/<tid>/schedstat``."""
    directory = proc_root / str(tid)
    directory.mkdir(parents=True, exist_ok=True)
    after = [state, *["0"] * 35, str(last_cpu), *["0"] * 13]  # fields 3..52
    (directory / "stat").write_text(f"{tid} ({comm}) {' '.join(after)}\n")
    (directory / "schedstat").write_text(f"{cpu_ns} {wait_ns} {timeslices}\n")
