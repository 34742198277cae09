"""Boots one QEMU guest, runs a scenario in it, and always tears it down.

Why it exists: the single place that knows how to start QEMU for the lab (TCG,
multi-threaded, no network device, results on a second serial port) and how to read the
outcome back.  Tests, the CLI and benchmarks all go through :func:`run_scenario`.

Invariants:
- QEMU is always ``-accel tcg,thread=multi -cpu max``, ``-no-reboot``, ``-nic none``;
  the guest ends with a reboot request, which ``-no-reboot`` turns into QEMU exiting;
- at most one guest runs at a time on the host (a lock in the cache root), and the
  QEMU process is killed on timeout or any error (``finally``);
- the console log of every run is kept under ``cache_root()/runs/<stamp>/``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kernellab import fetch, image
from kernellab.cache import locked
from kernellab.protocol import parse_lines

KernelName = Literal["7.2", "6.12"]
REPO_ROOT = Path(__file__).resolve().parent.parent


class LabError(RuntimeError):
    """The lab could not boot or the guest did not report."""


@dataclass(frozen=True)
class ScenarioResult:
    """The outcome of one guest run."""

    kernel: str
    scenario: str
    exit_status: int | None          # None: the guest never reported one (timeout/crash)
    timed_out: bool
    boot_s: float | None             # guest uptime when /init started
    wall_s: float                    # QEMU start to exit
    records: list[dict[str, Any]] = field(default_factory=list)
    console_log: Path = Path()
    results_log: Path = Path()

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out

    def record(self, name: str) -> dict[str, Any]:
        for r in self.records:
            if r.get("name") == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "scenario": self.scenario, "ok": self.ok,
                "exit_status": self.exit_status, "timed_out": self.timed_out,
                "boot_s": self.boot_s, "wall_s": round(self.wall_s, 3),
                "records": self.records, "console_log": str(self.console_log)}


def default_payload(extra: image.Payload | None = None) -> image.Payload:
    """The repository's Python packages that exist, plus ``extra``."""
    pkgs = {name: REPO_ROOT / name for name in ("kernellab", "temper", "nodeagent")
            if (REPO_ROOT / name / "__init__.py").exists()}
    files: dict[str, Path] = {}
    for obj in sorted((REPO_ROOT / "bpf").glob("**/*.o")) if (REPO_ROOT / "bpf").is_dir() \
            else []:
        files[f"/lab/bpf/{obj.relative_to(REPO_ROOT / 'bpf')}"] = obj
    if extra is not None:
        pkgs.update(extra.packages)
        files.update(extra.files)
        return image.Payload(pkgs, files, dict(extra.data))
    return image.Payload(pkgs, files, {})


def qemu_argv(lab: fetch.Lab, kernel: fetch.Kernel, initrd: Path, *, cpus: int, mem: str,
              console: Path | None, results: Path, mode: str,
              append: str = "", topology: str = "") -> list[str]:
    """``topology``: extra ``-smp`` properties, e.g. ``sockets=2,cores=2`` (2 LLCs, 2 nodes'
    worth of sockets) for a 4-vCPU guest; empty for QEMU's default (one socket)."""
    argv = [str(lab.qemu.binary)]
    for d in lab.qemu.data_dirs:
        argv += ["-L", str(d)]
    cmdline = f"console=ttyS0 quiet panic=-1 temper.mode={mode} {append}".strip()
    smp = f"{cpus},{topology}" if topology else str(cpus)
    argv += ["-accel", "tcg,thread=multi", "-cpu", "max", "-smp", smp, "-m", mem,
             "-nographic", "-no-reboot", "-nic", "none", "-nodefaults",
             "-kernel", str(kernel.image), "-initrd", str(initrd), "-append", cmdline]
    if console is None:
        argv += ["-serial", "mon:stdio"]
    else:
        argv += ["-monitor", "none", "-serial", f"file:{console}"]
    argv += ["-serial", f"file:{results}"]
    return argv


def build_initrd(lab: fetch.Lab, payload: image.Payload, run_dir: Path,
                 *, workloads: bool) -> Path:
    images = lab.root / "images"
    layers = [image.base_layer(lab.guest.base, images)]
    if workloads:
        layers.append(image.tree_layer(lab.guest.workloads, images, "workloads"))
    layers.append(image.write_payload(payload, run_dir / "payload.cpio.gz"))
    return image.concat(layers, run_dir / "initrd.img")


def _run_dir(lab: fetch.Lab, kernel: str, scenario: str) -> Path:
    runs = lab.root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{stamp}-{kernel}-{scenario}-", dir=runs))


def prepare_scenario(scenario: str, lab: fetch.Lab, kernel: fetch.Kernel,
                     work: Path) -> image.Payload:
    """Call the scenario's host-side ``prepare`` (if any) for its inputs."""
    mod = importlib.import_module(f"kernellab.scenarios.{scenario}")
    prep = getattr(mod, "prepare", None)
    if prep is None:
        return image.Payload()
    result: image.Payload = prep(lab, kernel, work)
    return result


TIMER_THREAD_FIFO_PRIORITY = 10


def prioritise_timer_thread(pid: int) -> bool:
    """Give QEMU's main-loop thread (it fires the guest's emulated timers and raises their
    interrupts) SCHED_FIFO, once the vCPU threads exist so they do not inherit it.

    Lab fidelity: on hardware a timer interrupt arrives on time however busy the CPUs are.
    Under TCG, when every vCPU thread is busy the main loop waits for a host CPU and every
    guest wake-up is late by the host's scheduling latency (milliseconds) — the same for any
    guest scheduler, which hides the differences the lab exists to show. The main loop does
    little work, so a real-time priority costs the host nothing measurable. Returns True once
    done (or once it is clear it cannot be done, e.g. without privileges).
    """
    task_dir = Path(f"/proc/{pid}/task")
    try:
        names = [(task_dir / tid / "comm").read_text() for tid in os.listdir(task_dir)]
    except OSError:
        return False
    if not any(name.startswith("CPU ") for name in names):
        return False
    with contextlib.suppress(OSError):
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(TIMER_THREAD_FIFO_PRIORITY))
    return True


def _boot(argv: list[str], run_dir: Path, results: Path, lab: fetch.Lab, timeout: float,
          boot_timeout: float) -> tuple[bool, float, bool]:
    """Run QEMU once; return (timed_out, wall seconds, reached /init).

    A guest that has not reached ``/init`` after ``boot_timeout`` is killed so the caller
    can retry: rare early-boot hangs under TCG should not cost a whole scenario timeout.
    """
    results.write_bytes(b"")
    with locked(lab.root, "qemu"):
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=(run_dir / "qemu.stderr").open("w"))
        booted = False
        timed_out = False
        timer_thread_prioritised = False
        try:
            while proc.poll() is None:
                elapsed = time.monotonic() - t0
                if not timer_thread_prioritised:
                    timer_thread_prioritised = prioritise_timer_thread(proc.pid)
                if not booted:
                    booted = b"TEMPER-BOOTED" in results.read_bytes()
                if elapsed > timeout or (not booted and elapsed > boot_timeout):
                    timed_out = True
                    break
                time.sleep(0.05)
            booted = booted or b"TEMPER-BOOTED" in results.read_bytes()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return timed_out, time.monotonic() - t0, booted


def run_scenario(kernel: KernelName, scenario: str, payload: image.Payload | None = None, *,
                 cpus: int = 2, mem: str = "1G", timeout: float = 120,
                 args: dict[str, Any] | None = None, workloads: bool = False,
                 lab: fetch.Lab | None = None, boot_timeout: float = 90,
                 boot_attempts: int = 2, topology: str = "") -> ScenarioResult:
    """Boot ``kernel``, run ``scenario`` (module name under ``kernellab.scenarios`` or a
    guest path ending in ``.py`` delivered by ``payload``), return what it reported."""
    lab = lab or fetch.fetch_all([kernel])
    k = lab.kernels[kernel]
    run_dir = _run_dir(lab, kernel, Path(scenario).stem)
    extra = image.Payload()
    if not scenario.endswith(".py"):
        extra = prepare_scenario(scenario, lab, k, run_dir)
    merged = default_payload(payload)
    spec = {"scenario": scenario, "args": args or {}, "kernel": kernel}
    pl = image.Payload({**merged.packages, **extra.packages},
                       {**merged.files, **extra.files},
                       {**merged.data, **extra.data,
                        "/lab/run.json": json.dumps(spec).encode()})
    initrd = build_initrd(lab, pl, run_dir, workloads=workloads)
    console, results = run_dir / "console.log", run_dir / "results.log"
    argv = qemu_argv(lab, k, initrd, cpus=cpus, mem=mem, console=console, results=results,
                     mode="run", topology=topology)
    (run_dir / "qemu.argv").write_text(json.dumps(argv))
    timed_out = False
    wall = 0.0
    for attempt in range(1, boot_attempts + 1):
        timed_out, wall, booted = _boot(argv, run_dir, results, lab, timeout, boot_timeout)
        if booted:
            break
        (run_dir / f"no-boot-{attempt}.log").write_bytes(
            console.read_bytes() if console.exists() else b"")
    parsed = parse_lines(results.read_text(errors="replace") if results.exists() else "")
    res = ScenarioResult(kernel=kernel, scenario=scenario, exit_status=parsed.exit_status,
                         timed_out=timed_out, boot_s=parsed.booted_uptime_s, wall_s=wall,
                         records=parsed.records, console_log=console, results_log=results)
    (run_dir / "result.json").write_text(json.dumps(res.to_json(), indent=1))
    return res


def shell(kernel: KernelName, *, cpus: int = 2, mem: str = "1G",
          payload: image.Payload | None = None, workloads: bool = True,
          lab: fetch.Lab | None = None) -> int:
    """Interactive guest on this terminal (Ctrl-A X quits QEMU)."""
    lab = lab or fetch.fetch_all([kernel])
    k = lab.kernels[kernel]
    run_dir = _run_dir(lab, kernel, "shell")
    pl = default_payload(payload)
    initrd = build_initrd(lab, pl, run_dir, workloads=workloads)
    argv = qemu_argv(lab, k, initrd, cpus=cpus, mem=mem, console=None,
                     results=run_dir / "results.log", mode="shell")
    with locked(lab.root, "qemu"):
        return subprocess.call(argv)


def env_cpus(default: int = 2) -> int:
    return int(os.environ.get("TEMPER_LAB_CPUS", default))


__all__: Sequence[str] = ("LabError", "ScenarioResult", "run_scenario", "shell")
