"""Node scores for one pod, from the per-tier load its node agent publishes — pure math, no I/O.

Why it exists: kube-scheduler packs by declared requests, which are padded because nobody
trusts CFS on a tight node. Where Temper enforces, the capacity that matters is the
*protection* capacity that actually exists: fenceable CPUs for Critical, idle cycles for
batch. This module turns a node's ``infera.io/tier-load`` and ``infera.io/enforcement``
annotations (``temper.annotations``) into a 0..10 score per pod tier. The HTTP service
(``extender.app``) only decodes, calls this, and encodes.

The formula (all capacities in millicores; ``clamp01(x) = min(1, max(0, x))``; ``⌊⌋`` floor)::

    C      = 1000 · cpus                                  node capacity
    F      = 1000 · |fenced|                              fenced capacity
    U      = Σ_tiers used_m                               measured usage
    Rs     = request_m(high) + request_m(normal)          requests living on the shared CPUs
    H      = free_m + max(0, C − F − 1000·MIN_SHARED_CPUS − Rs)
             fenceable headroom: free fenced capacity plus shared capacity the agent could
             still fence (it always leaves MIN_SHARED_CPUS unfenced, temper.plan)
    idle   = clamp01((C − U) / C)                          idle-cycle fraction
    shared = clamp01((C − F − Rs) / C)                     unrequested shared capacity fraction
    p(t)   = clamp01(pressure_pct(t) / 100)                CPU pressure "some avg10" of tier t
    on     = enforcement state is "enforcing" and safe mode is not requested on the node
    r      = the pod's effective CPU request (temper.pods)

    Critical:       ¬on          -> 0     nothing fences it there (observe-only, safe mode,
                                          unsupported): the lowest score
                    on ∧ H < r   -> 1     enforced, but the fence cannot grow to hold it
                    on ∧ H ≥ r   -> 6 + ⌊4 · clamp01((H − r) / C) · (1 − p(critical))⌋
    High, Normal:   ⌊10 · (shared + idle) / 2 · (1 − p(tier)) · (1 if on else 0.7)⌋
    Low, Background: ⌊10 · idle · (1 if on else 0.5)⌋

Critical spreads toward fenceable headroom; Low/Background go where idle cycles exist (they
soak them up and are preempted on enforcing nodes — on a CFS node they compete fairly, so the
score halves); High/Normal balance requested headroom on the shared CPUs against idle cycles.

Neutral: a node whose annotations are missing, malformed (``AnnotationError``) or stale (its
``ts`` more than ``stale_after_s`` from now, either way — a clock far in the future is as
untrustworthy as an old one), or a node name the service does not know, scores
``NEUTRAL_SCORE`` with a ``NeutralReason`` (counted by the caller as a metric) — never an error.

Filter (optional): only for Critical pods, a node with fresh annotations fails when ¬on or
H < r, with a human-readable reason. Neutral nodes pass (no evidence they cannot protect).

Properties (tests/extender/test_scoring_properties.py): scores are always in 0..10; the
function is total over any decoded annotations; more ``free_m`` never lowers a Critical
pod's score; every node in a request gets exactly one score.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass

from temper.annotations import (
    ENFORCEMENT_KEY,
    TIER_LOAD_KEY,
    AnnotationError,
    EnforcementState,
    EnforcementStatus,
    NodeLoad,
    decode_enforcement,
    decode_node_load,
    safe_mode_requested,
)
from temper.pods import effective_cpu_request_milli
from temper.tiers import Tier, tier_of_pod

MAX_SCORE = 10
"""MaxExtenderPriority in k8s.io/kube-scheduler/extender/v1."""
MIN_SCORE = 0
NEUTRAL_SCORE = 5
"""Half of MAX_SCORE: no preference, so the scheduler's own plugins decide."""
MIN_SHARED_CPUS = 1
"""The agent never fences the last shared CPU (``PlanConfig.min_shared_cpus`` default)."""
CRITICAL_UNPROTECTED = 0
CRITICAL_NO_ROOM = 1
CRITICAL_FITS_BASE = 6
CRITICAL_FITS_SPAN = 4
UNENFORCED_SHARED_FACTOR = 0.7
"""High/Normal on a CFS node: batch competes fairly with them there, so prefer enforcing nodes."""
UNENFORCED_BATCH_FACTOR = 0.5
"""Batch on a CFS node is not preempted by protected wake-ups: it harms its neighbours."""
DEFAULT_STALE_AFTER_S = 120
"""Twice the agent's default publish max age (``PublishPolicy.max_age_s`` = 60 s)."""


class NeutralReason(enum.StrEnum):
    """Why a node got NEUTRAL_SCORE (metric label values; the set is closed).

    A ``StrEnum`` so that hashing a member is ``str``'s C hash, not ``Enum.__hash__`` in
    Python: the hot path counts neutral nodes with a C-level ``Counter.update``."""

    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    UNKNOWN_NODE = "unknown_node"


@dataclass(frozen=True, slots=True)
class PodDemand:
    """What scoring needs to know about the pod being scheduled."""

    tier: Tier
    cpu_request_milli: int


def demand_of_pod(pod: Mapping[str, object]) -> PodDemand:
    """The pod's tier and effective CPU request; raises ``temper.pods.PodError`` if malformed."""
    spec = pod.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    return PodDemand(tier_of_pod(pod), effective_cpu_request_milli(spec))


def _clamp01(value: float) -> float:
    return 1.0 if value > 1.0 else (0.0 if not value > 0.0 else value)


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """A node's decoded annotations reduced to the quantities of the formula."""

    timestamp: int
    state: EnforcementState
    enforcing: bool
    capacity_milli: int
    headroom_milli: int
    idle: float
    shared: float
    pressure: tuple[float, ...]
    """Per tier (indexed by ``Tier`` value), 0..1."""

    def score(self, demand: PodDemand) -> int:
        """The formula of the module docstring for a fresh node (always within 0..10)."""
        tier = demand.tier
        if tier is Tier.CRITICAL:
            if not self.enforcing:
                return CRITICAL_UNPROTECTED
            if self.headroom_milli < demand.cpu_request_milli:
                return CRITICAL_NO_ROOM
            spare = _clamp01((self.headroom_milli - demand.cpu_request_milli) / self.capacity_milli)
            return CRITICAL_FITS_BASE + math.floor(CRITICAL_FITS_SPAN * spare * (1.0 - self.pressure[tier]))
        if tier.is_protected:
            factor = 1.0 if self.enforcing else UNENFORCED_SHARED_FACTOR
            value = MAX_SCORE * (self.shared + self.idle) / 2 * (1.0 - self.pressure[tier]) * factor
        else:
            value = MAX_SCORE * self.idle * (1.0 if self.enforcing else UNENFORCED_BATCH_FACTOR)
        return min(MAX_SCORE, max(MIN_SCORE, math.floor(value)))

    def refusal(self, demand: PodDemand) -> str | None:
        """Why this node cannot protect the pod (Critical only), or None."""
        if demand.tier is not Tier.CRITICAL:
            return None
        if not self.enforcing:
            return (f"Temper enforcement is {self.state.value} on this node: "
                    "nothing fences CPUs for a Critical pod")
        if self.headroom_milli < demand.cpu_request_milli:
            return (f"fenceable capacity {self.headroom_milli}m is less than the "
                    f"Critical pod's CPU request {demand.cpu_request_milli}m")
        return None


def facts_of(load: NodeLoad, enforcement: EnforcementStatus, safe_mode: bool = False) -> NodeFacts:
    """Reduce decoded annotations to ``NodeFacts`` (total over any decoded values)."""
    capacity = 1000 * load.cpus
    fenced = 1000 * len(load.fenced)
    used = sum(load.tier(t).used_milli for t in Tier)
    shared_requests = load.tier(Tier.HIGH).request_milli + load.tier(Tier.NORMAL).request_milli
    fenceable = max(0, capacity - fenced - 1000 * MIN_SHARED_CPUS - shared_requests)
    return NodeFacts(
        timestamp=load.timestamp,
        state=enforcement.state,
        enforcing=enforcement.state is EnforcementState.ENFORCING and not safe_mode,
        capacity_milli=capacity,
        headroom_milli=load.free_protected_milli + fenceable,
        idle=_clamp01((capacity - used) / capacity),
        shared=_clamp01((capacity - fenced - shared_requests) / capacity),
        pressure=tuple(_clamp01(load.tier(t).pressure_pct / 100.0) for t in Tier),
    )


Assessment = NodeFacts | NeutralReason


def assess(annotations: Mapping[str, object] | None) -> Assessment:
    """A node's annotations -> its facts, or why it must be scored neutral (total)."""
    if not annotations:
        return NeutralReason.MISSING
    load_text = annotations.get(TIER_LOAD_KEY)
    enforcement_text = annotations.get(ENFORCEMENT_KEY)
    if load_text is None or enforcement_text is None:
        return NeutralReason.MISSING
    try:
        load = decode_node_load(load_text)
        enforcement = decode_enforcement(enforcement_text)
    except AnnotationError:
        return NeutralReason.MALFORMED
    return facts_of(load, enforcement, safe_mode_requested(annotations))


def is_fresh(facts: NodeFacts, now: float, stale_after_s: float) -> bool:
    return abs(now - facts.timestamp) <= stale_after_s


@dataclass(frozen=True, slots=True)
class Score:
    value: int
    neutral: NeutralReason | None = None


def score(demand: PodDemand, assessment: Assessment, now: float,
          stale_after_s: float = DEFAULT_STALE_AFTER_S) -> Score:
    """The score of one node for one pod (the reference the fast paths are tested against)."""
    if isinstance(assessment, NeutralReason):
        return Score(NEUTRAL_SCORE, assessment)
    if not is_fresh(assessment, now, stale_after_s):
        return Score(NEUTRAL_SCORE, NeutralReason.STALE)
    return Score(assessment.score(demand))


def refusal(demand: PodDemand, assessment: Assessment, now: float,
            stale_after_s: float = DEFAULT_STALE_AFTER_S) -> str | None:
    """Filter verdict for one node: a reason it cannot protect the pod, or None (keep it)."""
    if isinstance(assessment, NeutralReason) or not is_fresh(assessment, now, stale_after_s):
        return None
    return assessment.refusal(demand)
