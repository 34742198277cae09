"""Renderers of a ``Plan``: a human table, plain JSON, and an scx_layered configuration.

The scx_layered rendering follows REFERENCE.md §2: five layers, Critical ``Confined`` with a
fixed ``cpus_range`` and ``protected``, High and Normal ``Grouped``, Low and Background
``Open``, and a catch-all last (``"matches": [[]]``) for every task not in a pod cgroup.
Pod membership is expressed with ``CgroupPrefix`` matches on the pods' cgroup paths relative
to the cgroup v2 root (no leading ``/``, trailing ``/``); scx_layered allows at most 32
OR-groups per layer, so for a tier with more pods than that the renderer raises
``RenderError`` instead of silently dropping pods (Temper's own scheduler has no such limit).
Pods whose cgroup is not known (not started yet) are left out of the layer config.
A layer's ``weight`` is ``temper.plan.aggregate_weight`` (the tier's base x its requested
cores), not ``TierPlan.weight``: scx_layered weighs a layer as one unit and ignores the
pods' ``cpu.weight``, so only the aggregate keeps a Normal layer full of pods from
outweighing a High layer; Temper's own scheduler multiplies the constant tier weight by each
pod's weight instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from temper.cpuset import format_cpulist
from temper.plan import LayerKind, Plan, aggregate_weight
from temper.profiles.select import Selection
from temper.tiers import Tier

SCX_LAYERED_MAX_OR_GROUPS = 32
SCX_LAYERED_MAX_LAYERS = 16


class RenderError(ValueError):
    """The plan cannot be expressed in the requested format."""


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "schema": plan.schema,
        "online": format_cpulist(plan.online),
        "fenced": format_cpulist(plan.fenced),
        "shared": format_cpulist(plan.shared),
        "critical_request_m": plan.critical_request_milli,
        "fence_wanted_cpus": plan.fence_wanted_cpus,
        "fence_capped": plan.fence_capped,
        "starvation_guard_us": plan.starvation_guard_us,
        "pinned_fenced": format_cpulist(plan.pinned_fenced),
        "pinned_unfenced": format_cpulist(plan.pinned_unfenced),
        "tiers": [
            {
                "tier": t.tier.label, "kind": t.kind.value, "cpus": format_cpulist(t.cpus),
                "weight": t.weight, "slice_us": t.slice_us, "preempt": t.preempt,
                "preemptible": t.preemptible, "may_borrow_fenced": t.may_borrow_fenced,
                "util_band": list(t.util_band), "pods": t.pods, "request_m": t.request_milli,
            }
            for t in plan.tiers
        ],
        "members": [
            {"uid": m.uid, "pod": f"{m.namespace}/{m.name}", "tier": m.tier.label,
             "request_m": m.cpu_request_milli, "weight": m.weight, "pinned": format_cpulist(m.pinned_cpus)}
            for m in plan.members
        ],
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2)


def render_table(plan: Plan) -> str:
    header = f"{'tier':<11}{'kind':<9}{'cpus':<14}{'pods':>5}{'request':>9}{'weight':>8}{'slice':>8}  flags"
    lines = [
        f"online {format_cpulist(plan.online)}  fenced {format_cpulist(plan.fenced) or '-'}"
        f"  shared {format_cpulist(plan.shared) or '-'}"
        + ("  (fence capped: Critical asked for "
           f"{plan.fence_wanted_cpus} CPUs)" if plan.fence_capped else ""),
    ]
    if plan.pinned_fenced or plan.pinned_unfenced:
        lines.append(f"pinned by kubelet: fenced for critical {format_cpulist(plan.pinned_fenced) or '-'}"
                     f"  kept unfenced {format_cpulist(plan.pinned_unfenced) or '-'}")
    lines += [header, "-" * len(header)]
    for t in plan.tiers:
        flags = ",".join(name for name, on in (
            ("preempt", t.preempt), ("preemptible", t.preemptible), ("borrow", t.may_borrow_fenced)) if on)
        lines.append(
            f"{t.tier.label:<11}{t.kind.value:<9}{format_cpulist(t.cpus) or '-':<14}{t.pods:>5}"
            f"{t.request_milli:>8}m{t.weight:>8}{t.slice_us / 1000:>6.1f}ms  {flags}"
        )
    return "\n".join(lines)


def render_profiles(selections: Mapping[str, Selection]) -> str:
    """The Workload Profile each pod gets, and why (``temper plan`` table output)."""
    if not selections:
        return ""
    width = max(len("pod"), *(len(key) for key in selections))
    lines = ["", f"{'pod':<{width}}  {'profile':<11}why"]
    for key, chosen in sorted(selections.items()):
        lines.append(f"{key:<{width}}  {chosen.profile or '-':<11}{chosen.reason}")
    return "\n".join(lines)


def render_scx_layered(plan: Plan, cgroup_paths: Mapping[str, str]) -> list[dict[str, Any]]:
    """scx_layered layer specs. ``cgroup_paths`` maps pod uid -> cgroup path (relative)."""
    layers: list[dict[str, Any]] = []
    nr_cpus = len(plan.online)
    for t in plan.tiers:
        paths = sorted(
            cgroup_paths[m.uid].strip("/") + "/" for m in plan.members
            if m.tier is t.tier and m.uid in cgroup_paths
        )
        if not paths:
            continue
        if len(paths) > SCX_LAYERED_MAX_OR_GROUPS:
            raise RenderError(
                f"tier {t.tier.label} has {len(paths)} pods; scx_layered allows "
                f"{SCX_LAYERED_MAX_OR_GROUPS} match groups per layer"
            )
        common: dict[str, Any] = {
            "slice_us": t.slice_us, "weight": aggregate_weight(t.tier, t.request_milli), "preempt": t.preempt,
            "exclusive": t.kind is LayerKind.CONFINED and bool(plan.fenced),
        }
        lo, hi = t.util_band
        if t.kind is LayerKind.CONFINED:
            size = max(1, len(t.cpus))
            kind: dict[str, Any] = {"Confined": {
                "util_range": [lo, hi], "cpus_range": [size, size], "protected": True, **common}}
        elif t.kind is LayerKind.GROUPED:
            size = max(1, len(plan.shared))
            kind = {"Grouped": {
                "util_range": [lo, hi], "cpus_range": [1, size], "protected": False,
                "util_includes_open_cputime": True, **common}}
        else:
            kind = {"Open": {**common, "preempt": False}}
        layers.append({
            "name": t.tier.label,
            "comment": f"Temper {t.tier.label}: {t.pods} pods, {t.request_milli}m requested",
            "matches": [[{"CgroupPrefix": path}] for path in paths],
            "kind": kind,
        })
    layers.append({
        "name": "host",
        "comment": "catch-all: tasks outside pod cgroups (treated like Normal)",
        "matches": [[]],
        "kind": {"Grouped": {
            "util_range": list(plan.tier(Tier.NORMAL).util_band),
            "cpus_range": [1, max(1, nr_cpus)], "protected": False,
            "util_includes_open_cputime": True, "slice_us": plan.tier(Tier.NORMAL).slice_us,
            "weight": aggregate_weight(Tier.NORMAL, plan.tier(Tier.NORMAL).request_milli),
            "preempt": False, "exclusive": False}},
    })
    if len(layers) > SCX_LAYERED_MAX_LAYERS:
        raise RenderError("too many layers for scx_layered")
    return layers
