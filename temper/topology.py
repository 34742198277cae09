"""Node CPU topology as the planner sees it: online CPUs, their physical cores and LLCs.

The node agent fills this from sysfs (``nodeagent.sysfs``); ``temper plan --node`` builds a
flat one from a Node object (which carries only a CPU count). Invariants checked on
construction: CPU ids are unique, every CPU belongs to exactly one core and one LLC, and all
SMT siblings of a core share its LLC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from temper.quantity import QuantityError, parse_cpu_milli


class TopologyError(ValueError):
    """Inconsistent or unusable topology input."""


@dataclass(frozen=True, order=True)
class CpuInfo:
    cpu: int
    core: int
    """Opaque id unique per physical core on the node (SMT siblings share it)."""
    llc: int
    """Opaque id of the last-level cache domain."""


@dataclass(frozen=True)
class NodeTopology:
    cpus: tuple[CpuInfo, ...]

    def __post_init__(self) -> None:
        if not self.cpus:
            raise TopologyError("a node has at least one online CPU")
        ids = [c.cpu for c in self.cpus]
        if len(set(ids)) != len(ids):
            raise TopologyError("duplicate CPU ids in topology")
        if any(c.cpu < 0 for c in self.cpus):
            raise TopologyError("negative CPU id in topology")
        llc_of_core: dict[int, int] = {}
        for c in self.cpus:
            if llc_of_core.setdefault(c.core, c.llc) != c.llc:
                raise TopologyError(f"core {c.core} spans two LLCs")

    @property
    def online(self) -> frozenset[int]:
        return frozenset(c.cpu for c in self.cpus)

    def cores(self) -> dict[int, tuple[int, ...]]:
        """core id -> its online CPUs, sorted."""
        result: dict[int, list[int]] = {}
        for c in sorted(self.cpus):
            result.setdefault(c.core, []).append(c.cpu)
        return {core: tuple(cpus) for core, cpus in result.items()}

    def llc_of_core(self) -> dict[int, int]:
        return {c.core: c.llc for c in self.cpus}

    @classmethod
    def uniform(cls, nr_cpus: int, threads_per_core: int = 1, cores_per_llc: int | None = None) -> NodeTopology:
        """A regular topology: CPUs numbered core by core (siblings adjacent)."""
        if nr_cpus < 1 or threads_per_core < 1 or nr_cpus % threads_per_core:
            raise TopologyError(f"cannot lay out {nr_cpus} CPUs as {threads_per_core}-way SMT")
        per_llc = cores_per_llc or (nr_cpus // threads_per_core)
        return cls(tuple(
            CpuInfo(cpu=i, core=i // threads_per_core, llc=(i // threads_per_core) // per_llc)
            for i in range(nr_cpus)
        ))


def topology_from_node(node: Mapping[str, Any]) -> NodeTopology:
    """A flat topology from a Node object's ``status.capacity.cpu`` (whole CPUs)."""
    status = node.get("status") if isinstance(node, Mapping) else None
    capacity = status.get("capacity") if isinstance(status, Mapping) else None
    if not isinstance(capacity, Mapping) or "cpu" not in capacity:
        raise TopologyError("node has no status.capacity.cpu")
    try:
        milli = parse_cpu_milli(capacity["cpu"])
    except QuantityError as exc:
        raise TopologyError(f"node status.capacity.cpu: {exc}") from None
    if milli < 1000 or milli % 1000:
        raise TopologyError(f"node CPU capacity must be whole CPUs, got {capacity['cpu']!r}")
    return NodeTopology.uniform(milli // 1000)
