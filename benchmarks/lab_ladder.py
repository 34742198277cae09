"""Latency ladder in the kernel lab: the fair class vs Temper, side by side in one boot.

A Critical pod's periodic 1 ms sleeper (``kernellab/fixtures/latprobe.c``) measures its
wake-up lateness while 0, 1, 2, 4 and 8 Background CPU-hog pods run; every rung is measured
under the fair class and then with Temper attached, in the same guest boot (QEMU TCG, 2 vCPUs;
the plan fences one CPU for the Critical pod). Reports p50/p99/p99.9, guest CPU busy fraction
and the batch CPU time the fillers got (so "batch soaks up idle cycles" is measured).

Goals (issue 7): Temper's p99 at the top rung within 1.2x its rung-0 p99 and >= 4x better
than the fair class's; batch CPU under Temper >= 95% of the fair class's. TCG stretches
absolute times: the ratios within one run are the result. Take it on a quiet host.

    python benchmarks/lab_ladder.py [--seconds 5] [--kernel 7.2] [--out benchmarks/out]

Writes ``OUT/lab_ladder.json`` (schema in kernellab/ladder.py) and ``OUT/lab_ladder.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernellab.ladder import Ladder, run_ladder


def verdict(ladder: Ladder) -> list[str]:
    counts = ladder.filler_counts
    top, bottom = counts[-1], counts[0]
    temper_top, temper_zero = ladder.arm(top, "temper"), ladder.arm(bottom, "temper")
    fair_top = ladder.arm(top, "fair")
    flat = temper_top["p99_us"] / temper_zero["p99_us"] if temper_zero["p99_us"] else float("inf")
    better = fair_top["p99_us"] / temper_top["p99_us"] if temper_top["p99_us"] else float("inf")
    fair_batch = sum(ladder.arm(n, "fair")["batch_cpu_s"] for n in counts)
    temper_batch = sum(ladder.arm(n, "temper")["batch_cpu_s"] for n in counts)
    share = temper_batch / fair_batch if fair_batch else 1.0
    return [
        f"Temper p99 at {top} fillers / at {bottom}: {flat:.2f}x (goal <= 1.2x) {'MET' if flat <= 1.2 else 'MISSED'}",
        f"fair p99 / Temper p99 at {top} fillers: {better:.1f}x (goal >= 4x) {'MET' if better >= 4 else 'MISSED'}",
        f"batch CPU under Temper / fair (all rungs): {share:.1%} (goal >= 95%) {'MET' if share >= 0.95 else 'MISSED'}",
    ]


def plot(ladder: Ladder, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = ladder.filler_counts
    fig, ax = plt.subplots(figsize=(7, 4))
    for scheduler, style in (("fair", "o-"), ("temper", "s-")):
        ax.plot(counts, [ladder.arm(n, scheduler)["p99_us"] / 1000 for n in counts], style,
                label="fair class (EEVDF)" if scheduler == "fair" else "Temper (sched_ext)")
    ax.set_xlabel("Background CPU-hog pods")
    ax.set_ylabel("memcached get latency p99 (ms)" if ladder.workload == "memcached"
                  else "Critical request lateness p99 (ms)")
    ax.set_title(f"Critical p99 vs batch load\nLinux {ladder.kernel}, {ladder.cpus} vCPUs, QEMU TCG (ratios matter)",
                 fontsize=10)
    ax.set_xticks(counts)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", choices=["7.2", "6.12"], default="7.2")
    parser.add_argument("--seconds", type=float, default=5.0, help="probe time per arm")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--replot", metavar="JSON", help="no lab run: table and plot from a saved result")
    parser.add_argument("--workload", choices=["probe", "memcached"], default="probe",
                        help="probe: request loop (latprobe); memcached: memcached + fixed-rate load generator")
    parser.add_argument("--rate", type=int, default=400, help="memcached requests per second")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        doc = json.loads(Path(args.replot).read_text())
        ladder = Ladder(kernel=doc["kernel"], cpus=doc["cpus"], seconds=doc["seconds"],
                        host_load=tuple(doc["host_load"]), rungs=doc["rungs"], date=doc["date"],
                        workload=doc.get("workload", "probe"))
    else:
        ladder = run_ladder(args.kernel, seconds=args.seconds, workload=args.workload, rate=args.rate)
    print(ladder.table())
    for line in verdict(ladder):
        print(line)
    stem = "lab_ladder" if ladder.workload == "probe" else f"lab_ladder_{ladder.workload}"
    (out / f"{stem}.json").write_text(json.dumps(ladder.to_json(), indent=1))
    plot(ladder, out / f"{stem}.png")
    print(f"wrote {out / f'{stem}.json'} and {out / f'{stem}.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
