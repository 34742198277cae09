"""Temper's scheduler and node agent enforce the plan on real sched_ext kernels.

Each test boots a lab kernel under QEMU (7.2, Debian's newest; 6.12, the oldest supported,
with the pre-6.13 kfunc names) and runs a guest scenario from ``kernellab/scenarios``; the
guest reports one record per check and these tests assert them. The scheduler object is the
one ``scripts/build-bpf.sh`` builds for production (compiled once, loaded on both kernels).
They prepare the lab themselves and fail, never skip, when it cannot be prepared.
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


@pytest.mark.parametrize("kernel", KERNELS)
def test_driver_attaches_updates_maps_live_and_the_kernel_reverts_on_sigkill(
        lab: fetch.Lab, kernel: vm.KernelName) -> None:
    result = vm.run_scenario(kernel, "enforce_driver", lab=lab, timeout=600)
    assert result.ok and not failed_checks(result), failed_checks(result) or result.to_json()
    assert result.record("attach")["ops"] == "temper"
    live = result.record("live_update_without_detach")
    assert live["entries"] == 3 and live["enable_seq"][1] == live["enable_seq"][2]
    assert result.record("stand_down")["last_exit"].startswith("UNREG")
    killed = result.record("sigkill_reverts_to_fair_class")
    assert killed["alive"] == killed["total"] and killed["on_ext"] == [False] * killed["total"]
    assert result.record("reattach_after_kill")["state"] == "enabled"


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_node_agent_enforces_survives_kills_and_honours_safe_mode(
        lab: fetch.Lab, kernel: vm.KernelName) -> None:
    result = vm.run_scenario(kernel, "enforce_agent", lab=lab, timeout=900)
    assert result.ok and not failed_checks(result), failed_checks(result) or result.to_json()
    for check in ("agent_attaches", "annotation_enforcing", "pod_tasks_on_ext", "critical_only_on_fenced_cpus",
                  "batch_progresses_beside_critical", "new_pod_by_live_map_update", "metrics_served",
                  "agent_enforces_cpu_max", "hotplug_keeps_agent_enforcing",
                  "sigkill_reverts_to_fair_class", "restart_reattaches", "safe_mode_detaches_within_5s",
                  "safe_mode_reported", "safe_mode_removed_resumes", "sigterm_detaches_and_exits_0",
                  "broken_scheduler_ejected_by_watchdog"):
        assert result.record(check)["ok"], check
    fenced = result.record("critical_only_on_fenced_cpus")
    assert set(fenced["seen"]) <= set(fenced["fenced"])
