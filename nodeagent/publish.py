"""Publish the node's tier load and enforcement state as Node annotations.

Why it exists: the scheduler extender scores nodes from ``infera.io/tier-load`` and operators
read ``infera.io/enforcement``; both are written by the agent and nobody else. The wire
formats live in ``temper.annotations``; this module computes the values and talks to the API.

Design:
- ``node_load`` is pure: plan + per-pod usage + per-pod pressure -> ``NodeLoad``.
  free protected capacity = fenced CPUs x 1000 - Critical requests, floor 0.
  A tier's pressure is the worst (max) ``some avg10`` of its pods: the extender cares whether
  *any* protected pod is waiting for CPU, and an average would hide one starving pod.
- ``Publisher.publish`` patches ``metadata.annotations`` with a JSON merge patch on
  ``PATCH /api/v1/nodes/NAME``: the load only when ``temper.annotations.should_publish`` says
  so, the enforcement annotation whenever its content (ignoring ``since``) changes. Both go in
  one patch when both are due.

Errors: an API failure is logged (message only, never headers or tokens), counted in
``Publisher.errors`` and the same values are retried next period (the "last published" state
only advances on success). Nothing is raised to the control loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import aiohttp

from temper.annotations import (
    ENFORCEMENT_KEY,
    TIER_LOAD_KEY,
    EnforcementStatus,
    NodeLoad,
    PublishPolicy,
    TierLoad,
    encode_enforcement,
    encode_node_load,
    should_publish,
)
from temper.plan import Plan
from temper.tiers import Tier

if TYPE_CHECKING:
    from temper.kube.client import ApiClient

log = logging.getLogger(__name__)


def node_load(plan: Plan, used_milli: Mapping[str, int], pressure_pct: Mapping[str, float],
              timestamp: int) -> NodeLoad:
    """Pure: the ``infera.io/tier-load`` value for this plan and these measurements."""
    used = dict.fromkeys(Tier, 0)
    pressure = dict.fromkeys(Tier, 0.0)
    for member in plan.members:
        used[member.tier] += max(0, used_milli.get(member.uid, 0))
        pressure[member.tier] = max(pressure[member.tier], pressure_pct.get(member.uid, 0.0))
    return NodeLoad(
        timestamp=timestamp,
        cpus=len(plan.online),
        fenced=plan.fenced,
        free_protected_milli=max(0, len(plan.fenced) * 1000 - plan.critical_request_milli),
        tiers={tier: TierLoad(plan.tier(tier).request_milli, used[tier], pressure[tier]) for tier in Tier},
    )


def node_patch_path(node_name: str) -> str:
    if not node_name or "/" in node_name or len(node_name) > 253:
        raise ValueError(f"invalid node name {node_name!r}")
    return f"/api/v1/nodes/{node_name}"


def annotation_patch(annotations: Mapping[str, str]) -> dict[str, object]:
    """JSON merge patch setting exactly these annotations (others untouched)."""
    return {"metadata": {"annotations": dict(annotations)}}


class Publisher:
    """Writes the two annotations on this agent's Node, only when due."""

    def __init__(self, client: ApiClient, node_name: str, policy: PublishPolicy) -> None:
        self.client = client
        self.path = node_patch_path(node_name)
        self.policy = policy
        self.last_load: NodeLoad | None = None
        self.last_enforcement: EnforcementStatus | None = None
        self.errors = 0
        self.patches = 0

    def _enforcement_changed(self, status: EnforcementStatus) -> bool:
        last = self.last_enforcement
        return last is None or replace(last, since=status.since) != status

    async def publish(self, load: NodeLoad, enforcement: EnforcementStatus) -> bool:
        """Patch what is due; True if a patch was sent successfully."""
        annotations: dict[str, str] = {}
        if should_publish(self.last_load, load, self.policy):
            annotations[TIER_LOAD_KEY] = encode_node_load(load)
        if self._enforcement_changed(enforcement):
            annotations[ENFORCEMENT_KEY] = encode_enforcement(enforcement)
        if not annotations:
            return False
        from temper.kube.client import ApiError

        try:
            await self.client.patch(self.path, annotation_patch(annotations))
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            self.errors += 1
            log.warning("patching node annotations failed (retrying next period): %s: %s",
                        type(exc).__name__, exc)
            return False
        self.patches += 1
        if TIER_LOAD_KEY in annotations:
            self.last_load = load
        if ENFORCEMENT_KEY in annotations:
            self.last_enforcement = enforcement
        return True
