"""How long the node agent's planning takes: decode + ``temper.plan.plan`` for 110 pods
(kubelet's default max pods per node) and 1,000 pods, on a 64-CPU 2-way-SMT topology.

Baseline, measured in the same run: planning an empty node (the fixed cost of building a
plan). Prints median and p99 of N runs per row. Run: ``python benchmarks/plan_speed.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temper.plan import plan
from temper.pods import decode_pod
from temper.topology import NodeTopology
from tests.core.factories import container, pod

TIERS = ("critical", "high", "normal", "low", "background")


def pods(count: int) -> list[dict[str, object]]:
    return [pod(f"p{i}", uid=str(uuid.UUID(int=i + 1)), priority_class=f"infera-{TIERS[i % 5]}",
                containers=[container(cpu_request=f"{50 + i % 7 * 25}m")]) for i in range(count)]


def measure(fn: object, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()  # type: ignore[operator]  # any zero-argument callable
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    topology = NodeTopology.uniform(64, 2, cores_per_llc=16)
    rows = []
    median, p99 = measure(lambda: plan(topology, []), args.runs)
    rows.append(("baseline: plan, 0 pods", median, p99))
    for count in (110, 1000):
        raw = pods(count)
        decoded = [decode_pod(p) for p in raw]
        median, p99 = measure(lambda decoded=decoded: plan(topology, decoded), args.runs)
        rows.append((f"plan, {count} pods", median, p99))
        median, p99 = measure(lambda raw=raw: plan(topology, [decode_pod(p) for p in raw]), args.runs)
        rows.append((f"decode + plan, {count} pods", median, p99))
    print(f"topology: 64 CPUs, 2-way SMT, 2 LLCs; {args.runs} runs per row; python {sys.version.split()[0]}")
    print(f"{'case':<28}{'median ms':>12}{'p99 ms':>10}")
    for name, median, p99 in rows:
        print(f"{name:<28}{median:>12.3f}{p99:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
