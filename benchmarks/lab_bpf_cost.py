"""Temper's scheduler cost per event, from the kernel's own BPF accounting (issue 10 §4).

Boots the lab kernel with 2 and with 4 vCPUs (4 = 2 sockets x 2 cores), runs the
``bpf_cost`` scenario in each (same mixed load: busy Critical, Normal, Background pods and a
Critical pod waking every millisecond; ``kernel.bpf_stats_enabled=1``) and prints, per
callback, runs per second and ns per run side by side. Nothing else may run meanwhile: it
measures time under emulation.

    python benchmarks/lab_bpf_cost.py [--kernel 7.2] [--seconds 10]
    python benchmarks/lab_bpf_cost.py --telemetry [--rounds 3]   # runqueue-wait telemetry's cost
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
    parser.add_argument("--telemetry", action="store_true",
                        help="one 2-vCPU boot: temper.bpf.o against temper_notelemetry.bpf.o, alternating")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.telemetry:
        return telemetry_cost(args.kernel, args.seconds, args.rounds)
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


OBJECTS = ("temper.bpf.o", "temper_notelemetry.bpf.o")


def telemetry_cost(kernel: vm.KernelName, seconds: float, rounds: int) -> int:
    """Runqueue-wait telemetry's own cost: both objects in one boot, ``rounds`` alternations."""
    result = vm.run_scenario(kernel, "bpf_cost", cpus=2, mem="2G", timeout=120 + rounds * 2 * (seconds + 20),
                             args={"seconds": seconds, "objects": list(OBJECTS), "rounds": rounds})
    record = result.record("bpf_cost_by_object")
    if not record.get("ok"):
        raise SystemExit(result.to_json())
    with_t, without = (record["objects"][o] for o in OBJECTS)
    print(f"Telemetry cost, Linux {kernel}, 2 vCPUs, {rounds} x {seconds:.0f} s per object, alternating, one boot")
    print("| callback | runs/s with | ns/run with | runs/s without | ns/run without | ns/run added |")
    print("|---|---:|---:|---:|---:|---:|")
    total = {"with": 0, "without": 0}
    for name in sorted(set(with_t) | set(without)):
        a, b = with_t.get(name, {}), without.get(name, {})
        total["with"] += a.get("ns_per_second", 0)
        total["without"] += b.get("ns_per_second", 0)
        added = (a["ns_per_run"] - b["ns_per_run"]) if a.get("ns_per_run") and b.get("ns_per_run") else None
        print(f"| {name.removeprefix('temper_')} | {a.get('per_second', '-')} | {a.get('ns_per_run', '-')} | "
              f"{b.get('per_second', '-')} | {b.get('ns_per_run', '-')} | {'-' if added is None else added} |")
    print(f"| all callbacks, CPU ns per second | {total['with']} | | {total['without']} | | "
          f"{total['with'] - total['without']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
