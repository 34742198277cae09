"""Failover in the kernel lab: SIGKILL the node agent under load, restart it, watch p99.

Steady load at the top rung (8 Background CPU hogs beside a Critical pod's 1 ms periodic
sleeper); the real agent (``temper agent``) enforces; at ~8 s it is SIGKILLed, restarted after
a pause, and the probe keeps measuring. Prints p99 per 1-second window with its phase
(before: Temper enforcing; during: fair class after the kill, until the new agent has
re-attached; after: Temper again), the time until the kernel reported ``disabled``, and until
re-attached. TCG stretches absolute times; the phases within one run are the comparison.

    python benchmarks/lab_failover.py [--kernel 7.2] [--out benchmarks/out]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernellab import vm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", choices=["7.2", "6.12"], default="7.2")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    args = parser.parse_args()
    load = os.getloadavg()
    result = vm.run_scenario(args.kernel, "lab_failover", timeout=900)
    if not result.ok:
        print(json.dumps(result.to_json(), indent=1), file=sys.stderr)
        return 1
    windows = [r for r in result.records if r["name"] == "window"]
    summary = result.record("failover")
    print(f"{'window':>6} {'phase':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for w in windows:
        print(f"{w['window']:>6} {w['phase']:>7} {w['p50_us'] / 1000:>8.2f} {w['p99_us'] / 1000:>8.2f} "
              f"{w['max_us'] / 1000:>8.2f}")
    print(f"\n{'phase':>7} {'windows':>8} {'median p99 ms':>14} {'worst p99 ms':>13}")
    for phase in ("before", "during", "after"):
        values = [w["p99_us"] / 1000 for w in windows if w["phase"] == phase]
        if values:
            print(f"{phase:>7} {len(values):>8} {statistics.median(values):>14.2f} {max(values):>13.2f}")
    print(f"\nSIGKILL at {summary['kill_at_s']}s -> kernel 'disabled' after {summary['disabled_after_s']}s; "
          f"restart at {summary['restart_at_s']}s -> re-attached after {summary['reattached_after_s']}s "
          f"(agent start-up under emulation). Host load {load[0]:.2f}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "lab_failover.json").write_text(json.dumps({"host_load": load, "summary": summary,
                                                        "windows": windows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
