"""temper/bpfmaps.py mirrors bpf/temper.h exactly: sizes, offsets, enum values.

The C header is parsed here (a deliberately small parser for the header's own fixed style:
one field per line, fixed-width types) and compared with the Python structs."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from temper import bpfmaps
from temper.tiers import Tier
from temper.waits import WAIT_BUCKETS

HEADER = (Path(__file__).resolve().parents[2] / "bpf" / "temper.h").read_text()
C_SIZES = {"__u32": ("I", 4), "__u64": ("Q", 8), "__s64": ("q", 8), "__s32": ("i", 4)}


def c_defines() -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"#define (\w+) (\d+)", HEADER)}


def c_enum(name: str) -> dict[str, int]:
    body = re.search(rf"enum {name} \{{(.*?)\}};", HEADER, re.S)
    assert body, name
    return {m[1]: int(m[2]) for m in re.finditer(r"(\w+) = (\d+),", body[1])}


def c_struct_format(name: str) -> str:
    body = re.search(rf"struct {name} \{{(.*?)\}};", HEADER, re.S)
    assert body, name
    defines = c_defines()
    fmt = "<"
    for line in body[1].splitlines():
        line = line.split("/*")[0].strip().rstrip(";")
        if not line:
            continue
        ctype, field = line.split()
        array = re.match(r"(\w+)\[(\w+)\]", field)
        if array:
            count = defines[array[2]]
            fmt += f"{count}s" if ctype == "char" else f"{count}{C_SIZES[ctype][0]}"
        else:
            fmt += C_SIZES[ctype][0]
    return fmt


@pytest.mark.parametrize(("c_name", "py_struct"), [
    ("temper_cgroup_entry", bpfmaps.CGROUP_ENTRY),
    ("temper_tier_config", bpfmaps.TIER_CONFIG),
    ("temper_global_config", bpfmaps.GLOBAL_CONFIG),
    ("temper_exit_record", bpfmaps.EXIT_RECORD),
    ("temper_bw_config", bpfmaps.BW_CONFIG),
    ("temper_bw_stats", bpfmaps.BW_STATS),
    ("temper_cpu_topology", bpfmaps.CPU_TOPOLOGY),
    ("temper_wait_hist", bpfmaps.WAIT_HIST),
])
def test_struct_layouts_match_the_c_header(c_name: str, py_struct: struct.Struct) -> None:
    c_format = c_struct_format(c_name)
    assert c_format == py_struct.format
    # C alignment: every struct here is naturally aligned without implicit padding.
    assert struct.calcsize(c_format) == struct.calcsize("@" + c_format[1:])


def test_constants_and_enums_match() -> None:
    defines = c_defines()
    assert defines["TEMPER_ABI_VERSION"] == bpfmaps.ABI_VERSION
    assert defines["TEMPER_MAX_CPUS"] == bpfmaps.MAX_CPUS
    assert defines["TEMPER_MAX_CGROUPS"] == bpfmaps.MAX_CGROUPS
    assert defines["TEMPER_MAX_BW_CGROUPS"] == bpfmaps.MAX_BW_CGROUPS
    assert defines["TEMPER_MAX_LLCS"] == bpfmaps.MAX_LLCS
    assert defines["TEMPER_WAIT_BUCKETS"] == WAIT_BUCKETS
    assert defines["TEMPER_MAX_WAIT_PODS"] == bpfmaps.MAX_WAIT_PODS
    tiers = c_enum("temper_tier")
    assert {k.removeprefix("TEMPER_TIER_"): v for k, v in tiers.items() if k != "TEMPER_NR_TIERS"} == {
        t.name: t.value for t in Tier}
    assert tiers["TEMPER_NR_TIERS"] == len(Tier)
    assert {k.removeprefix("TEMPER_TF_"): v for k, v in c_enum("temper_tier_flags").items()} == {
        f.name: f.value for f in bpfmaps.TierFlag}
    assert {k.removeprefix("TEMPER_CPU_"): v for k, v in c_enum("temper_cpu_role").items()} == {
        r.name: r.value for r in bpfmaps.CpuRole}
    stats = c_enum("temper_stat")
    assert stats.pop("TEMPER_NR_STATS") == bpfmaps.NR_STATS
    assert {k.removeprefix("TEMPER_STAT_"): v for k, v in stats.items()} == {s.name: s.value for s in bpfmaps.Stat}


def test_map_names_are_the_ones_the_scheduler_defines() -> None:
    bpf_dir = Path(__file__).resolve().parents[2] / "bpf"
    source = "".join(p.read_text() for p in sorted([*bpf_dir.glob("*.bpf.c"), *bpf_dir.glob("*.bpf.h")]))
    for name in bpfmaps.MapName:
        assert re.search(rf"\}} {name.value} SEC\(\"\.maps\"\);", source), name
        assert len(name.value) <= 15, "BPF object names are truncated at 15 characters"
