"""Reading the scheduler's stats map: bpftool subprocess vs the bpf(2) syscall (``nodeagent.bpfsys``).

What is read: a PERCPU_ARRAY u32 -> u64 with 5 tiers x 9 stats = 45 entries, the exact shape
of ``temper_stats``, created through the syscall and pinned in a private bpffs mounted on a
temporary directory (needs root), filled with distinct per-CPU values. Every arm returns the
per-key totals summed over CPUs, and the arms' results are checked equal before timing.

Arms, all in this one process, one after another:
  bpftool dump        the agent's old path: ``Bpftool.dump`` (``bpftool -j map dump pinned``,
                      asyncio subprocess, JSON parse) + summing, as ``BpfEnforcer`` did;
  bpfsys open+batch   open the pin, one BPF_MAP_LOOKUP_BATCH, close (a cold read);
  bpfsys batch        the agent's new path: map open once, one batch lookup per read;
  bpfsys next-key     map open once, BPF_MAP_GET_NEXT_KEY + LOOKUP_ELEM per entry (the
                      fallback for kernels without batch ops).
When bpftool is not on PATH the first arm is left out and the output says so.
Run: ``python benchmarks/bpf_map_reads.py [--runs 2000] [--bpftool-runs 200]`` (as root).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodeagent import bpfsys
from nodeagent.bpfsys import BpfMap
from nodeagent.bpftool import Bpftool
from temper import bpfmaps

ENTRIES = 5 * bpfmaps.NR_STATS
Totals = dict[int, int]


def totals_of(entries: list[tuple[bytes, list[bytes]]]) -> Totals:
    return {bpfmaps.U32.unpack(key)[0]: bpfsys.sum_u64(values) for key, values in entries}


def measure(read: Callable[[], Totals], runs: int) -> tuple[float, float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        read()
        samples.append((time.perf_counter_ns() - start) / 1e3)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.mean(samples), statistics.median(samples), p99


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000, help="reads per bpfsys arm")
    parser.add_argument("--bpftool-runs", type=int, default=200, help="reads for the bpftool arm")
    args = parser.parse_args()
    bpftool = shutil.which("bpftool")
    with tempfile.TemporaryDirectory() as tmp:
        fs = Path(tmp)
        subprocess.run(["mount", "-t", "bpf", "bpf", str(fs)], check=True)
        try:
            with bpfsys.create_map(bpfsys.MAP_PERCPU_ARRAY, 4, 8, ENTRIES, "temper_stats") as created:
                for key in range(ENTRIES):
                    created.update_percpu(bpfmaps.U32.pack(key), [struct.pack("<Q", key * 1000 + cpu + 1)
                                                                  for cpu in range(created.nr_cpus)])
                bpfsys.pin(created, fs / "temper_stats")
                nr_cpus = created.nr_cpus
            path = fs / "temper_stats"
            rows = run_arms(path, bpftool, args.runs, args.bpftool_runs)
        finally:
            subprocess.run(["umount", str(fs)], check=False)
    kernel = platform.release()
    print(f"stats map: PERCPU_ARRAY, {ENTRIES} entries x {nr_cpus} possible CPUs; kernel {kernel}; "
          f"python {sys.version.split()[0]}")
    if bpftool is None:
        print("bpftool not found on PATH: the bpftool arm was not measured (bpfsys only)")
    reference = rows[0][3] if bpftool else None
    print(f"{'arm':<20}{'runs':>7}{'mean us':>11}{'median us':>11}{'p99 us':>10}{'vs bpftool':>12}")
    for name, runs, (mean, median, p99), _ in rows:
        ratio = f"{reference / mean:.0f}x" if reference else "-"
        print(f"{name:<20}{runs:>7}{mean:>11.1f}{median:>11.1f}{p99:>10.1f}{ratio:>12}")
    return 0


def run_arms(path: Path, bpftool: str | None, runs: int,
             bpftool_runs: int) -> list[tuple[str, int, tuple[float, float, float], float]]:
    loop = asyncio.new_event_loop()
    rows: list[tuple[str, int, tuple[float, float, float], float]] = []
    with BpfMap.open(path) as held:
        expected = totals_of(held.items_percpu())
        assert len(expected) == ENTRIES and held.batch_supported

        def cold() -> Totals:
            with BpfMap.open(path) as opened:
                return totals_of(opened.items_percpu())

        arms: list[tuple[str, Callable[[], Totals], int]] = []
        if bpftool is not None:
            tool = Bpftool(bpftool)
            arms.append(("bpftool dump", lambda: totals_of(loop.run_until_complete(tool.dump(path))), bpftool_runs))
        arms += [("bpfsys open+batch", cold, runs),
                 ("bpfsys batch", lambda: totals_of(held.items_percpu()), runs),
                 ("bpfsys next-key", lambda: totals_of(held.items_percpu(batch=False)), runs)]
        for name, read, count in arms:
            assert read() == expected, f"{name} read different totals"
            stats = measure(read, count)
            rows.append((name, count, stats, stats[0]))
    loop.close()
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
