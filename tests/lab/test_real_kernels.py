"""Both lab kernels boot, attach a sched_ext scheduler, detach it, and eject a stall.

These tests boot QEMU (one guest at a time) and prepare the lab first: on a fresh
machine that includes building the 6.12 kernel (~10 minutes).  They fail, never skip,
when the lab cannot be prepared.
"""

from __future__ import annotations

import pytest

from kernellab import fetch, vm

pytestmark = pytest.mark.lab
KERNELS = ["7.2", "6.12"]


@pytest.fixture(scope="module")
def lab() -> fetch.Lab:
    return fetch.fetch_all(KERNELS)


@pytest.mark.parametrize("kernel", KERNELS)
def test_smoke_attach_and_detach(lab: fetch.Lab, kernel: vm.KernelName) -> None:
    res = vm.run_scenario(kernel, "smoke", lab=lab, timeout=150)
    assert res.ok, res.to_json()
    assert res.record("kernel")["release"].startswith(kernel)
    assert res.record("btf")["ok"]
    assert "v7.8" in res.record("bpftool")["version"]
    assert res.record("attach")["state"] == "enabled"
    assert res.record("root_ops")["ops"].startswith("labfifo")
    assert res.record("detach")["state"] == "disabled"


@pytest.mark.parametrize("kernel", KERNELS)
def test_watchdog_ejects_a_scheduler_that_never_dispatches(lab: fetch.Lab,
                                                           kernel: vm.KernelName) -> None:
    res = vm.run_scenario(kernel, "watchdog", lab=lab, timeout=150)
    assert res.ok, res.to_json()
    assert res.record("ejected")["state"] == "disabled"
    assert any("runnable task stall" in ln for ln in res.record("dmesg_reason")["lines"])
    busy = res.record("busy_task_runs")
    assert busy["ticks_after"] > busy["ticks_before"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_kubelet_emulation_places_pods_in_real_cgroups(lab: fetch.Lab,
                                                       kernel: vm.KernelName) -> None:
    res = vm.run_scenario(kernel, "kubelet", lab=lab, timeout=150)
    assert res.ok, res.to_json()
    assert res.record("pod:guaranteed")["weight"] == "20"
    assert res.record("pod:guaranteed")["cpu_max"] == "50000 100000"
