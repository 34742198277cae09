"""Topology and kernel support are read from generated sysfs/procfs trees (tmp dirs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeagent.sysfs import (
    KernelFacts,
    SysfsError,
    decide_support,
    gather_kernel_facts,
    parse_kernel_release,
    probe_kernel,
    read_topology,
)
from temper.plan import plan
from tests.nodeagent.trees import write_sysfs


def test_smt_siblings_share_a_core_and_the_package_l3_is_the_llc(tmp_path: Path) -> None:
    topology = read_topology(write_sysfs(tmp_path, nr_cpus=8, threads_per_core=2))
    cores = topology.cores()
    assert sorted(cores.values()) == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert len(set(topology.llc_of_core().values())) == 1


def test_core_ids_repeating_across_packages_stay_distinct_cores(tmp_path: Path) -> None:
    topology = read_topology(write_sysfs(tmp_path, nr_cpus=8, threads_per_core=2, packages=2))
    assert len(topology.cores()) == 4
    assert len(set(topology.llc_of_core().values())) == 2


def test_a_cpu_without_an_l3_falls_back_to_its_package_as_llc(tmp_path: Path) -> None:
    topology = read_topology(write_sysfs(tmp_path, nr_cpus=4, threads_per_core=1, packages=2, l3=False))
    assert sorted(topology.llc_of_core().values()).count(0) == 2


def test_only_online_cpus_are_in_the_topology(tmp_path: Path) -> None:
    write_sysfs(tmp_path, nr_cpus=8, threads_per_core=1)
    (tmp_path / "sys/devices/system/cpu/online").write_text("0-5\n")
    assert read_topology(tmp_path).online == frozenset(range(6))


def test_the_planner_fences_whole_cores_from_a_sysfs_topology(tmp_path: Path) -> None:
    from temper.pods import PodInfo, QosClass
    from temper.tiers import Tier

    topology = read_topology(write_sysfs(tmp_path, nr_cpus=8, threads_per_core=2))
    critical = PodInfo("u1", "ns", "db", Tier.CRITICAL, 1500, None, QosClass.GUARANTEED)
    assert plan(topology, [critical]).fenced == frozenset({6, 7})


def test_a_missing_topology_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    write_sysfs(tmp_path, nr_cpus=2, threads_per_core=1)
    (tmp_path / "sys/devices/system/cpu/cpu1/topology/core_id").unlink()
    with pytest.raises(SysfsError, match="cpu1/topology/core_id"):
        read_topology(tmp_path)


def test_a_malformed_online_list_is_an_error(tmp_path: Path) -> None:
    write_sysfs(tmp_path, nr_cpus=2, threads_per_core=1)
    (tmp_path / "sys/devices/system/cpu/online").write_text("3-1\n")
    with pytest.raises(SysfsError, match="online"):
        read_topology(tmp_path)


@pytest.mark.parametrize(("release", "expected"), [
    ("6.12.0-1-cloud-amd64", (6, 12)),
    ("7.2.3+deb13", (7, 2)),
    ("6.1.0-28-amd64", (6, 1)),
    ("6.12", (6, 12)),
    ("garbage", None),
    ("", None),
])
def test_kernel_releases_parse_to_major_minor(release: str, expected: tuple[int, int] | None) -> None:
    assert parse_kernel_release(release) == expected


@given(st.text(max_size=40))
def test_release_parsing_never_raises(text: str) -> None:
    parse_kernel_release(text)


def _facts(**overrides: object) -> KernelFacts:
    base: dict[str, object] = {"release": "6.12.8", "sched_ext_state": "disabled", "btf_vmlinux": True,
                               "bpftool": "/usr/sbin/bpftool", "euid": 0, "cap_eff": 0}
    base.update(overrides)
    return KernelFacts(**base)  # type: ignore[arg-type]  # test builder over a known field set


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"release": "6.1.0-28-amd64"}, "older than 6.12"),
    ({"release": "nonsense"}, "cannot parse kernel release"),
    ({"sched_ext_state": None}, "sched_ext/state missing"),
    ({"btf_vmlinux": False}, "btf/vmlinux missing"),
    ({"bpftool": None}, "bpftool not found"),
    ({"euid": 1000, "cap_eff": 1 << 21}, "insufficient privileges"),
    ({"euid": 1000, "cap_eff": None}, "insufficient privileges"),
])
def test_each_missing_requirement_is_named_as_the_reason(overrides: dict[str, object], reason: str) -> None:
    probe = decide_support(_facts(**overrides))
    assert not probe.supported
    assert reason in probe.reason


def test_cap_sys_admin_plus_cap_bpf_suffices_without_root() -> None:
    assert decide_support(_facts(euid=1000, cap_eff=(1 << 21) | (1 << 39))).supported


def test_a_7x_kernel_with_everything_is_supported() -> None:
    probe = decide_support(_facts(release="7.2.3+deb13"))
    assert probe.supported and probe.kernel == "7.2.3+deb13"


def test_probe_reads_release_state_btf_and_caps_from_the_tree(tmp_path: Path) -> None:
    fake_bpftool = tmp_path / "bin/bpftool"
    fake_bpftool.parent.mkdir()
    fake_bpftool.write_text("#!/bin/sh\n")
    fake_bpftool.chmod(0o755)
    write_sysfs(tmp_path, release="7.2.3+deb13", cap_eff="0000008000200000")
    facts = gather_kernel_facts(tmp_path, str(fake_bpftool), euid=1000)
    assert facts.release == "7.2.3+deb13" and facts.sched_ext_state == "disabled"
    assert facts.cap_eff == (1 << 39) | (1 << 21)
    assert probe_kernel(tmp_path, str(fake_bpftool), euid=1000).supported


def test_probe_without_sched_ext_in_the_tree_is_unsupported(tmp_path: Path) -> None:
    write_sysfs(tmp_path, sched_ext=False)
    probe = probe_kernel(tmp_path, "/bin/sh", euid=0)
    assert not probe.supported and "CONFIG_SCHED_CLASS_EXT" in probe.reason


def test_the_cgroup_bandwidth_object_is_picked_only_where_the_kernel_forwards_limits(tmp_path: Path) -> None:
    """/sys/kernel/btf/vmlinux is written here with the bytes that matter: BTF names are
    NUL-separated in its string table."""
    from nodeagent.main import pick_scheduler_object
    from nodeagent.sysfs import kernel_forwards_cgroup_bandwidth

    btf = tmp_path / "sys/kernel/btf/vmlinux"
    btf.parent.mkdir(parents=True)
    btf.write_bytes(b"\0sched_ext_ops\0cgroup_set_weight\0")
    assert not kernel_forwards_cgroup_bandwidth(tmp_path)
    btf.write_bytes(b"\0sched_ext_ops\0cgroup_set_bandwidth\0")
    assert kernel_forwards_cgroup_bandwidth(tmp_path)
    assert not kernel_forwards_cgroup_bandwidth(tmp_path / "missing")
    build = tmp_path / "build"
    build.mkdir()
    stock = build / "temper.bpf.o"
    stock.write_bytes(b"elf")
    assert pick_scheduler_object(str(stock), True) == str(stock), "no sibling built: keep the stock one"
    (build / "temper_kbw.bpf.o").write_bytes(b"elf")
    assert pick_scheduler_object(str(stock), True) == str(build / "temper_kbw.bpf.o")
    assert pick_scheduler_object(str(stock), False) == str(stock)
    assert pick_scheduler_object(str(build / "custom.bpf.o"), True) == str(build / "custom.bpf.o")
