"""The latency ladder on the host side: run it in the lab and present it side by side.

Runs ``kernellab/scenarios/latency_ladder.py`` in one boot (fair class and Temper for every
rung, so both see the same emulated machine and host load) and turns its records into a
``Ladder``: a table for people, JSON for ``benchmarks/packing.py`` (schema below), and the
checks the demo and benchmarks report. Absolute times under TCG are stretched; the ratios
within one run are the result.

JSON (``Ladder.to_json``)::

    {"kernel": "...", "cpus": 2, "date": "...", "host_load": [1m, 5m, 15m], "seconds": 3,
     "rungs": [{"fillers": 0, "scheduler": "fair", "p50_us": .., "p90_us": .., "p99_us": ..,
                "p999_us": .., "max_us": .., "samples": .., "cpu_util": .., "batch_cpu_s": ..}]}
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernellab import vm

DEFAULT_RUNGS = (0, 1, 2, 4, 8)
WORKLOADS = {
    "probe": "Lateness of a request loop in a Critical pod (every 1 ms: wake, 300 us of CPU work; "
             "lateness = time kept off the CPU)",
    "memcached": "memcached get latency in a Critical pod at a fixed request rate from a load generator on "
                 "a CPU of its own (measured from scheduled send times)",
}


@dataclass
class Ladder:
    kernel: str
    cpus: int
    seconds: float
    host_load: tuple[float, float, float]
    rungs: list[dict[str, Any]] = field(default_factory=list)
    workload: str = "probe"
    rate: int = 0
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S %Z"))

    def arm(self, fillers: int, scheduler: str) -> dict[str, Any]:
        for rung in self.rungs:
            if rung["fillers"] == fillers and rung["scheduler"] == scheduler:
                return rung
        raise KeyError((fillers, scheduler))

    @property
    def filler_counts(self) -> list[int]:
        return sorted({int(r["fillers"]) for r in self.rungs})

    def to_json(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "cpus": self.cpus, "date": self.date, "seconds": self.seconds,
                "host_load": list(self.host_load), "workload": self.workload, "rate": self.rate,
                "rungs": self.rungs}

    def table(self) -> str:
        head = (f"{'fillers':>7} | {'fair p50':>9} {'p99':>8} {'p99.9':>8} | {'temper p50':>10} {'p99':>8} "
                f"{'p99.9':>8} | {'p99 fair/temper':>15} | {'batch cpu-s fair':>16} {'temper':>7} | {'util':>5}")
        lines = [head, "-" * len(head)]
        for n in self.filler_counts:
            fair, temper = self.arm(n, "fair"), self.arm(n, "temper")
            ratio = fair["p99_us"] / temper["p99_us"] if temper["p99_us"] else float("inf")
            lines.append(
                f"{n:>7} | {fair['p50_us']:>7.0f}us {fair['p99_us']:>6.0f}us {fair['p999_us']:>6.0f}us | "
                f"{temper['p50_us']:>8.0f}us {temper['p99_us']:>6.0f}us {temper['p999_us']:>6.0f}us | "
                f"{ratio:>14.1f}x | {fair['batch_cpu_s']:>16.2f} {temper['batch_cpu_s']:>7.2f} | "
                f"{temper['cpu_util']:>5.2f}")
        lines.append(f"kernel {self.kernel}, {self.cpus} vCPUs (QEMU TCG), {self.seconds:g}s per arm, "
                     f"host load {self.host_load[0]:.2f}. {WORKLOADS.get(self.workload, self.workload)}"
                     f"{f' ({self.rate}/s)' if self.rate else ''}; fillers are "
                     f"Background CPU hogs. Emulation stretches absolute times: compare the columns.")
        return "\n".join(lines)


def run_ladder(kernel: vm.KernelName = "7.2", rungs: tuple[int, ...] = DEFAULT_RUNGS, seconds: float = 3.0,
               cpus: int = 2, build_bpf: bool = True, workload: str = "probe", rate: int = 1000) -> Ladder:
    """Boot once and run the whole ladder; raises ``vm.LabError`` if the guest failed."""
    root = Path(__file__).resolve().parent.parent
    if build_bpf:
        subprocess.run(["bash", str(root / "scripts" / "build-bpf.sh")], check=True, cwd=root,
                       stdout=subprocess.DEVNULL)
    load = os.getloadavg()
    timeout = 120 + len(rungs) * (2 * seconds + 40)
    result = vm.run_scenario(kernel, "latency_ladder", cpus=cpus, timeout=timeout,
                             args={"rungs": list(rungs), "seconds": seconds, "workload": workload, "rate": rate})
    if not result.ok:
        raise vm.LabError(f"latency ladder failed: {result.to_json()}")
    setup = result.record("setup")
    ladder = Ladder(kernel=str(result.record("ladder_complete")["kernel"]), cpus=cpus, seconds=seconds,
                    host_load=(load[0], load[1], load[2]), workload=workload,
                    rate=int(setup.get("rate", rate)) if workload == "memcached" else 0)
    keep = ("fillers", "scheduler", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "samples", "requests",
            "errors", "cpu_util", "batch_cpu_s")
    ladder.rungs = [{k: r[k] for k in keep if k in r} for r in result.records if r.get("name") == "rung"]
    return ladder
