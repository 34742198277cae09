"""Under a batch-saturated node, a Critical pod's requests are served far sooner with Temper
than with the fair class — measured in the same lab boot (Linux 7.2, QEMU TCG, 2 vCPUs).

The probe is a request loop in a Critical pod (every 1 ms: wake, 300 us of CPU work); eight
Background CPU-hog pods saturate the node. Emulation stretches absolute times and adds noise,
so the test asserts loosely, on the statistics that proved stable across repeated quiet-host
runs (p90 ratio 1.7-2.2x, p99 ratio 1.3-2.0x; batch kept 90-94% of its CPU; see
benchmarks/RESULTS.md): Temper's p90 at least 1.3x better, its p99 no worse, and batch still
gets most of the CPU it gets under the fair class.
"""

from __future__ import annotations

import pytest

from kernellab import fetch
from kernellab.ladder import run_ladder

pytestmark = pytest.mark.lab


def test_critical_p99_under_saturating_batch_beats_the_fair_class() -> None:
    fetch.fetch_all(["7.2"])
    ladder = run_ladder("7.2", rungs=(0, 8), seconds=8)
    fair, temper = ladder.arm(8, "fair"), ladder.arm(8, "temper")
    assert fair["p90_us"] >= 1.3 * temper["p90_us"], ladder.table()
    assert fair["p99_us"] >= temper["p99_us"], ladder.table()
    assert temper["batch_cpu_s"] >= 0.8 * fair["batch_cpu_s"], ladder.table()
    assert temper["cpu_util"] > 0.95, "the fillers keep the node saturated under Temper too"
