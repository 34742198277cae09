"""Temper's scheduler cost per event, from the kernel's own BPF accounting (issue 10 §4).

Boots the lab kernel with 2 and with 4 vCPUs (4 = 2 sockets x 2 cores), runs the
``bpf_cost`` scenario in each (same mixed load: busy Critical, Normal, Background pods and a
Critical pod waking every millisecond; ``kernel.bpf_stats_enabled=1``) and prints, per
callback, runs per second and ns per run side by side. Nothing else may run meanwhile: it
measures time under emulation.

    python benchmarks/lab_bpf_cost.py [--kernel 7.2] [--seconds 10]
"""

from __future__ import annotations

import argparse
from typing import Any

from kernellab import vm

SHAPES = ((2, ""), (4, "sockets=2,cores=2"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default="7.2", choices=["7.2", "6.12"])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    runs: dict[int, dict[str, Any]] = {}
    for cpus, topology in SHAPES:
        result = vm.run_scenario(args.kernel, "bpf_cost", cpus=cpus, topology=topology, mem="2G",
                                 timeout=600, args={"seconds": args.seconds})
        record = result.record("bpf_cost")
        if not record.get("ok"):
            raise SystemExit(f"{cpus} vCPUs: {result.to_json()}")
        runs[cpus] = record["programs"]
    names = sorted(set().union(*(r.keys() for r in runs.values())))
    print(f"Temper scheduler cost per callback, Linux {args.kernel}, {args.seconds:.0f} s of mixed load")
    print(f"| callback | {' | '.join(f'{c} vCPU runs/s | {c} vCPU ns/run' for c in runs)} |")
    print("|---|" + "---:|" * (2 * len(runs)))
    for name in names:
        cells = []
        for cpus in runs:
            entry = runs[cpus].get(name, {})
            cells += [str(entry.get("per_second", "-")), str(entry.get("ns_per_run", "-"))]
        print(f"| {name.removeprefix('temper_')} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
