"""Temper's scheduler under the routine events of a real node (issue 10), on real kernels.

One boot per kernel (7.2, and 6.12 with the pre-6.13 kfunc names) runs
``kernellab/scenarios/hardening.py``: CPU limits (cpu.max) measured against the fair class in
the same boot, High over Normal at equal requests, a live limit change, burst, the throttle
counters, 200 throttled tasks in one pod, a new pod moving from Normal to Critical on a node
saturated for 20 s, CPU hotplug, 1,000 pod arrivals/departures - and the scheduler is
never ejected. A separate SMT boot checks that batch is kept off the sibling of a core
running Critical. On failure the kernel's
exit dump (every runnable task and its queue) is in the scenario's records.
"""

from __future__ import annotations

import pytest

from kernellab import fetch, vm
from tests.lab.conftest import BOTH_KERNELS, failed_checks

pytestmark = pytest.mark.lab
KERNELS = BOTH_KERNELS


@pytest.fixture(scope="module")
def lab(built_lab: fetch.Lab) -> fetch.Lab:
    return built_lab


@pytest.mark.parametrize(("kernel", "cpus", "topology"), [
    ("7.2", 2, ""), ("6.12", 2, ""),
    # 2 sockets, 2 LLCs: correctness beyond two vCPUs, not latency. Known open bug (issue 10,
    # benchmarks/RESULTS.md "Open: an ejection"): on 2-socket guests the 200-throttled-threads
    # step sometimes ejects the scheduler (parked tasks not released); kept running, not hidden.
    pytest.param("7.2", 4, "sockets=2,cores=2", marks=pytest.mark.xfail(
        reason="issue 10: intermittent ejection with 200 throttled threads on 2-socket guests", strict=False)),
])
def test_limits_hold_and_routine_events_never_eject_the_scheduler(
        lab: fetch.Lab, kernel: vm.KernelName, cpus: int, topology: str) -> None:
    result = vm.run_scenario(kernel, "hardening", lab=lab, timeout=1200, cpus=cpus, topology=topology,
                             mem="2G" if cpus > 2 else "1G")
    failed = failed_checks(result)
    assert result.ok and not failed, failed or result.to_json()
    temper, fair = result.record("cpu_max_temper")["cpus"], result.record("cpu_max_fair_class")["cpus"]
    assert abs(temper - 0.5) <= 0.075 and abs(fair - 0.5) <= 0.075
    assert abs(result.record("cpu_max_live_change")["cpus"] - 1.0) <= 0.15
    shares = result.record("high_over_normal")
    assert shares["high"] >= 1.3 * shares["normal"]  # weights say 4x; measured 1.7x (2 vCPU) - 3x (4 vCPU)
    bursts = result.record("cpu_max_burst")["bursts"]
    assert bursts["40000"]["ran_ns"] >= bursts["0"]["ran_ns"] + 25_000_000
    crowd = result.record("many_throttled_threads")
    assert crowd["tasks"] >= 201 and crowd["never_ran"] <= 1
    assert result.record("tier_move_after_saturation")["seconds"] <= 1.0
    assert result.record("hotplug_keeps_scheduler")["states"] == ["enabled", "enabled"]
    assert result.record("pod_churn")["arrivals"] == 1000
    assert result.record("never_ejected")["enable_seq"] == result.record("cpu_max_temper")["enable_seq"]
    # 7.2 forwards cpu.max to sched_ext (6.17+): the temper_kbw object enforces it without the map.
    assert result.record("kernel_forwarded_limits")["available"] is (kernel == "7.2")


def test_batch_is_kept_off_the_smt_sibling_of_running_critical(lab: fetch.Lab) -> None:
    """An SMT guest (one socket, 2 cores x 2 threads): ``kernellab/scenarios/smt.py``."""
    result = vm.run_scenario("7.2", "smt", lab=lab, timeout=600, cpus=4, topology="sockets=1,cores=2,threads=2",
                             mem="2G")
    failed = failed_checks(result)
    assert result.ok and not failed, failed or result.to_json()
    smt = result.record("smt_isolation")
    assert smt["available"] and smt["used"]["shared"]["batch"] >= smt["used"]["isolated"]["batch"] + 0.5
