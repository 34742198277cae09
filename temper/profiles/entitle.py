"""What a pod's tier lets its groups have, and which cores its exclusive groups get.

Why it exists: a profile may ask for more than the pod is entitled to; the invariant "a pod's
groups never gain more than its tier allows" is enforced here, in one pure place, before any
map is written.

``resolve_treatments``: ``exclusive`` only for Critical and High pods, and only whole cores
within the CPU request (a core costs all its SMT siblings: ``cores_allowed =
request_m // (1000 x threads per core)``), granted in group order; a group that gets no core
falls back to ``normal`` (never to something stronger), with the reason.

``carve_exclusive``: cores for granted groups, deterministically: pods in uid order, groups in
profile order. Critical pods carve from the plan's fenced cores (their entitlement lives
there), High pods from shared cores, in the planner's canonical core order, never leaving
fewer than ``min_shared_cpus`` shared CPUs outside exclusive cores. What cannot be carved is
refused with a reason (the group then runs ``normal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temper.plan import Plan, canonical_core_order
from temper.profiles.model import Profile, Treatment
from temper.tiers import Tier
from temper.topology import NodeTopology


@dataclass(frozen=True)
class GroupGrant:
    group: str
    wanted: Treatment
    treatment: Treatment
    cores: int
    reason: str


def resolve_treatments(profile: Profile, tier: Tier, request_milli: int,
                       threads_per_core: int) -> tuple[GroupGrant, ...]:
    budget = request_milli // (1000 * max(1, threads_per_core))
    grants: list[GroupGrant] = []
    for group in profile.groups:
        if group.treatment is not Treatment.EXCLUSIVE:
            grants.append(GroupGrant(group.name, group.treatment, group.treatment, 0, ""))
        elif tier > Tier.HIGH:
            grants.append(GroupGrant(group.name, group.treatment, Treatment.NORMAL, 0,
                                     f"exclusive needs a critical or high pod; pod is {tier.label}"))
        elif budget < group.cores:
            grants.append(GroupGrant(group.name, group.treatment, Treatment.NORMAL, 0,
                                     f"wants {group.cores} whole cores; request {request_milli}m leaves {budget}"))
        else:
            budget -= group.cores
            grants.append(GroupGrant(group.name, group.treatment, Treatment.EXCLUSIVE, group.cores, ""))
    return tuple(grants)


@dataclass(frozen=True)
class ExclusiveRequest:
    uid: str
    tier: Tier
    group: str
    cores: int


@dataclass(frozen=True)
class Carving:
    cpus: dict[tuple[str, str], frozenset[int]]
    refused: dict[tuple[str, str], str]


def carve_exclusive(topology: NodeTopology, plan: Plan, requests: Sequence[ExclusiveRequest],
                    min_shared_cpus: int = 1) -> Carving:
    order = canonical_core_order(topology)
    fenced_free = [core for core in order if set(core) <= plan.fenced]
    shared_free = [core for core in order if set(core) <= plan.shared]
    shared_left = len(plan.shared)
    cpus: dict[tuple[str, str], frozenset[int]] = {}
    refused: dict[tuple[str, str], str] = {}
    for request in sorted(requests, key=lambda r: (r.uid,)):
        key = (request.uid, request.group)
        if request.tier > Tier.HIGH:
            refused[key] = f"{request.tier.label} pods get no exclusive cores"
            continue
        pool = fenced_free if request.tier is Tier.CRITICAL else shared_free
        taken = pool[:request.cores]
        size = sum(len(core) for core in taken)
        if len(taken) < request.cores:
            refused[key] = f"only {len(taken)} free whole cores for {request.tier.label}"
            continue
        if request.tier is Tier.HIGH and shared_left - size < min_shared_cpus:
            refused[key] = f"would leave fewer than {min_shared_cpus} shared CPUs"
            continue
        del pool[:request.cores]
        if request.tier is Tier.HIGH:
            shared_left -= size
        cpus[key] = frozenset(cpu for core in taken for cpu in core)
    return Carving(cpus, refused)
