"""Builders of what kube-scheduler sends the extender: Node objects with Temper's annotations,
ExtenderArgs in both modes (capitalised keys, exactly as kube-scheduler marshals them)."""

from __future__ import annotations

from typing import Any

from temper.annotations import (
    ENFORCEMENT_KEY,
    TIER_LOAD_KEY,
    EnforcementState,
    EnforcementStatus,
    NodeLoad,
    TierLoad,
    encode_enforcement,
    encode_node_load,
)
from temper.tiers import Tier
from tests.core.factories import container, pod

NOW = 1_764_316_800
"""A fixed clock: every test app is built with ``clock=lambda: NOW``."""

__all__ = ["NOW", "args_full", "args_names", "container", "critical_pod", "load_annotations", "node", "pod"]


def load_annotations(*, cpus: int = 8, fenced: frozenset[int] = frozenset({6, 7}), free_m: int = 500,
                     used: dict[Tier, int] | None = None, requests: dict[Tier, int] | None = None,
                     pressure: dict[Tier, float] | None = None, state: EnforcementState = EnforcementState.ENFORCING,
                     ts: int = NOW) -> dict[str, str]:
    used = used or {}
    requests = requests or {}
    pressure = pressure or {}
    load = NodeLoad(timestamp=ts, cpus=cpus, fenced=fenced, free_protected_milli=free_m,
                    tiers={t: TierLoad(requests.get(t, 0), used.get(t, 0), pressure.get(t, 0.0)) for t in Tier})
    return {TIER_LOAD_KEY: encode_node_load(load),
            ENFORCEMENT_KEY: encode_enforcement(EnforcementStatus(state, since=NOW - 3600))}


def node(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A v1.Node as the API returns it (with the bulky status kube-scheduler also sends)."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", **(annotations or {})}},
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "7910m", "memory": "30Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "images": [{"names": [f"registry.example/img-{i}@sha256:{i:064x}"], "sizeBytes": 1000 * i}
                       for i in range(10)],
        },
    }


def critical_pod(cpu: str = "500m", name: str = "api") -> dict[str, Any]:
    return pod(name, priority_class="infera-critical", containers=[container(cpu_request=cpu)], node="")


def args_names(the_pod: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """ExtenderArgs for a nodeCacheCapable extender (Nodes is null)."""
    return {"Pod": the_pod, "Nodes": None, "NodeNames": names}


def args_full(the_pod: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """ExtenderArgs for nodeCacheCapable=false (NodeNames is null)."""
    return {"Pod": the_pod, "Nodes": {"metadata": {}, "items": nodes}, "NodeNames": None}
