"""Temper's scheduler under the routine events of a real node (issue 10), on real kernels.

One boot per kernel (7.2, and 6.12 with the pre-6.13 kfunc names) runs
``kernellab/scenarios/hardening.py``: CPU limits (cpu.max) measured against the fair class in
the same boot, High over Normal at equal requests, a live limit change, burst, the throttle
counters, 200 throttled tasks in one pod, a new pod moving from Normal to Critical on a node
saturated for 20 s, CPU hotplug, 1,000 pod arrivals/departures - and the scheduler is
never ejected. A 4-vCPU boot as 2 sockets with SMT runs it again for ejections.
A separate SMT boot checks that batch is kept off the sibling of a core
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


@pytest.mark.parametrize("kernel", ["7.2", "6.12"])
def test_limits_hold_and_routine_events_never_eject_the_scheduler(lab: fetch.Lab, kernel: vm.KernelName) -> None:
    result = vm.run_scenario(kernel, "hardening", lab=lab, timeout=1200, cpus=2, mem="1G")
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


EJECTION_CHECKS = ("tier_move_after_saturation", "hotplug_keeps_scheduler", "pod_churn", "never_ejected")


def test_nothing_ejects_the_scheduler_on_two_sockets_with_smt(lab: fetch.Lab) -> None:
    """The same scenario on 4 vCPUs as 2 sockets x 1 core x 2 threads (2 LLCs, SMT): the topology
    whose 200-throttled-threads step ejected the scheduler in 4 of 4 runs before three fixes
    (benchmarks/RESULTS.md, "The 200-thread ejection, explained"). Pod churn is cut to 200 pods:
    4 emulated vCPUs on 2 host cores make it slow, and the 2-vCPU boots run the full 1,000.

    Strict: the scheduler is never ejected, every thread runs, churn and hotplug pass. Soft (an
    xfail naming the checks): limit accuracy and weights, which on 4 emulated vCPUs depend on
    how long a tick lasts - 10-20 ms turns make 200 threads at 500m rotate slower than the
    bandwidth guard (8 s), and the guard's extra turns put the pod over its limit.
    """
    result = vm.run_scenario("7.2", "hardening", lab=lab, timeout=1200, cpus=4, topology="sockets=2,cores=1,threads=2",
                             mem="2G", args={"churn_pods": 200})
    # Exit 1 only says that some check failed; which ones may (strict) or may not (soft) is below.
    assert not result.timed_out and result.exit_status in (0, 1), result.to_json()
    crowd = result.record("many_throttled_threads")
    assert crowd["state"] == "enabled" and crowd["tasks"] >= 201 and crowd["never_ran"] <= 1, crowd
    strict = [r for r in failed_checks(result) if r["name"] in EJECTION_CHECKS]
    assert not strict, strict
    assert result.record("never_ejected")["enable_seq"] == result.record("cpu_max_temper")["enable_seq"]
    assert result.record("pod_churn")["arrivals"] == 200
    soft = [r for r in failed_checks(result) if r["name"] not in EJECTION_CHECKS]
    if soft:
        pytest.xfail(f"issue 10, accuracy on 4 emulated vCPUs: {soft}")


def test_batch_is_kept_off_the_smt_sibling_of_running_critical(lab: fetch.Lab) -> None:
    """An SMT guest (one socket, 2 cores x 2 threads): ``kernellab/scenarios/smt.py``."""
    result = vm.run_scenario("7.2", "smt", lab=lab, timeout=600, cpus=4, topology="sockets=1,cores=2,threads=2",
                             mem="2G")
    failed = failed_checks(result)
    brief = [{k: r.get(k) for k in ("name", "used", "error")} for r in failed]
    assert result.ok and not failed, brief or result.to_json()
    smt = result.record("smt_isolation")
    used = smt["used"]
    assert smt["available"] and used["shared"]["batch"] >= used["isolated"]["batch"] + 0.6, used
    assert used["isolated"]["critical"] >= 0.85, used  # a busy Critical task keeps its fenced CPU
