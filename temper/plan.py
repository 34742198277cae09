"""The layer plan: which CPUs and which scheduling treatment each tier gets on one node.

``plan(topology, pods, config) -> Plan`` is pure and total. It is the one decision both
backends enforce (Temper's own sched_ext scheduler via ``temper.bpfmaps``; scx_layered via
``temper.render``).

Fencing (Critical)
    wanted = ceil(sum(Critical requests) x (1 + critical_headroom) / 1000) CPUs, 0 when there
    is no Critical request. Cores (SMT sibling groups) are taken whole, in one fixed
    *canonical order*: LLC with the most cores first (ties: higher LLC id), and inside an LLC
    the highest-numbered core first (CPU 0, which carries most IRQ and housekeeping work, is
    fenced last). Cores are added in that order until the fence holds ``wanted`` CPUs, but
    never so far that fewer than ``min_shared_cpus`` CPUs stay unfenced; ``unfenceable_cpus``
    are skipped. Worked example: 8 CPUs, 2-way SMT (cores {0,1} {2,3} {4,5} {6,7}), Critical
    requests 1500m, headroom 10% -> wanted = ceil(1.65) = 2 -> core {6,7} is fenced; at 2500m
    -> ceil(2.75) = 3 -> cores {6,7} and {4,5} (4 CPUs, whole cores).

    Because the order is fixed, the fence depends only on ``wanted`` and the topology: equal
    input gives the equal fence, a pod arriving changes it only if ``wanted`` changes, and
    then only by adding or removing cores at the end of the order (no reshuffling), and more
    Critical requests never shrink it (monotone). If Critical pods exist but nothing can be
    fenced (tiny node), Critical runs on the shared CPUs with the highest priority there.

Pinned CPUs (kubelet's static CPU manager)
    A Guaranteed pod with whole-CPU requests may be pinned by kubelet to exclusive CPUs (its
    containers' ``cpuset.cpus.effective``). ``plan(..., cpusets=...)`` takes each pod's
    observed cpuset (``pod_cpuset``: the union over its constrained containers) and
    ``pinned_cpus`` decides whether it is a pin: Guaranteed, a proper subset of the online
    CPUs, and no more CPUs than the request, leaving out CPUs another pod's cpuset also holds
    (an exclusive CPU is in one pod's cpuset only; kubelet's shared pool is in every shared
    pod's, and usually larger than one pod's request, so it is not mistaken for a pin). Then:
    fence = Critical-pinned CPUs (minus ``unfenceable_cpus``) + whole cores chosen as above
    for the *unpinned* Critical requests, skipping every core that holds a pinned CPU. A CPU
    pinned by a non-Critical pod is never fenced (its threads may run nowhere else); at least
    ``min_shared_cpus`` stay unfenced (Critical-pinned CPUs are dropped highest first if they
    alone would break that). ``Plan.pinned_fenced`` / ``Plan.pinned_unfenced`` record why.
    Without pins the fence is exactly the one described above. Worked example: 8 CPUs, 2-way
    SMT, Critical 1500m unpinned, a High Guaranteed 2000m pod pinned to {6,7} -> core {6,7}
    is skipped and {4,5} fenced; a Critical Guaranteed 2000m pod pinned to {2,3} -> fence {2,3}.

Sharing (High, Normal)
    Both run on every unfenced CPU and may borrow an idle fenced CPU (preempted when Critical
    wakes there). They share one dispatch queue in the scheduler, where a task's weight is
    ``tier weight x pod weight x nice weight / 100`` (``effective_weight``), the pod weight
    being kubelet's ``cpu.weight`` for the pod's own request (``kubelet_cpu_weight``). Tier
    weights are therefore per-tier constants (``TIER_DEFAULTS``): a pod's share must not
    depend on how many *other* pods of its tier are on the node. Rule: a High pod never gets
    less than a Normal pod with an equal or smaller request, and at equal requests it gets
    ``HIGH_OVER_NORMAL`` (4) times Normal's weight, whatever else runs on the node.
    (``aggregate_weight`` scales a tier by its requested cores, for backends such as
    scx_layered that weigh a whole tier as one layer and ignore per-pod weights.)

Batch (Low, Background)
    Weights fixed at their base (10, 1). Open: any online CPU while it is otherwise idle,
    fenced CPUs included; preempted by every
    protected wake-up; Background yields to Low. ``starvation_guard_us`` bounds how long a
    runnable batch task can wait, far inside the kernel watchdog's timeout.

SMT isolation (``PlanConfig.smt_isolation``, on by default)
    While a Critical task runs on a fenced CPU, its SMT sibling is not lent to batch (the
    tiers with ``yields_smt_sibling``: Low, Background): two hardware threads share one
    core's execution units and L1/L2, so a batch thread there slows the Critical one as if
    it had half a core. Batch already running there is preempted when Critical starts.
    High/Normal may still borrow the sibling (they are protected work too). ``smt_siblings``
    pairs each online CPU with the lowest other online CPU of its core (none: no entry).
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from temper.pods import PodInfo, QosClass
from temper.tiers import Tier
from temper.topology import NodeTopology

PLAN_SCHEMA_VERSION = 1
MAX_WEIGHT = 10_000


class LayerKind(enum.Enum):
    CONFINED = "confined"
    GROUPED = "grouped"
    OPEN = "open"


@dataclass(frozen=True)
class TierDefaults:
    kind: LayerKind
    base_weight: int
    slice_us: int
    preempt: bool
    """Its wake-up preempts (kicks) lower tiers."""
    preemptible: bool
    """Kicked off a CPU when a protected task wakes there."""
    util_band: tuple[float, float]
    """scx_layered util_range: grow above the upper bound, shrink below the lower one."""


TIER_DEFAULTS: dict[Tier, TierDefaults] = {
    # Slices: protected tiers get short slices (they are woken and kicked in, and
    # latency-bound); batch gets long ones (throughput), since any protected wake-up preempts it.
    Tier.CRITICAL: TierDefaults(LayerKind.CONFINED, 1000, 5_000, True, False, (0.5, 0.8)),
    Tier.HIGH: TierDefaults(LayerKind.GROUPED, 400, 5_000, True, False, (0.6, 0.9)),
    Tier.NORMAL: TierDefaults(LayerKind.GROUPED, 100, 10_000, True, False, (0.6, 0.9)),
    Tier.LOW: TierDefaults(LayerKind.OPEN, 10, 20_000, False, True, (0.0, 1.0)),
    Tier.BACKGROUND: TierDefaults(LayerKind.OPEN, 1, 20_000, False, True, (0.0, 1.0)),
}

HIGH_OVER_NORMAL = TIER_DEFAULTS[Tier.HIGH].base_weight // TIER_DEFAULTS[Tier.NORMAL].base_weight
"""How many times a Normal pod's weight a High pod with the same request gets (4)."""
NICE_0_WEIGHT = 100
"""The kernel's task weight at nice 0 under sched_ext (``p->scx.weight``)."""


@dataclass(frozen=True)
class PlanConfig:
    critical_headroom: float = 0.10
    """Fraction added to the Critical requests before rounding up to whole CPUs."""
    min_shared_cpus: int = 1
    """The fence never leaves fewer unfenced CPUs than this."""
    unfenceable_cpus: frozenset[int] = frozenset()
    """CPUs never fenced (e.g. housekeeping CPUs); their cores are skipped whole."""
    starvation_guard_us: int = 200_000
    """A runnable batch task waits at most this long (kernel watchdog: seconds)."""
    slice_us: dict[Tier, int] = field(default_factory=dict)
    """Per-tier slice overrides."""
    smt_isolation: bool = True
    """Batch is not lent a fenced CPU whose SMT sibling runs Critical."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.critical_headroom <= 10.0) or math.isnan(self.critical_headroom):
            raise ValueError("critical_headroom must be within 0..10")
        if self.min_shared_cpus < 1:
            raise ValueError("min_shared_cpus must be at least 1: something must run host work")
        if not 1_000 <= self.starvation_guard_us <= 10_000_000:
            raise ValueError("starvation_guard_us must be within 1ms..10s")
        for tier, value in self.slice_us.items():
            if not 100 <= value <= 1_000_000:
                raise ValueError(f"slice_us for {tier.label} must be within 100us..1s")

    def slice_for(self, tier: Tier) -> int:
        return self.slice_us.get(tier, TIER_DEFAULTS[tier].slice_us)


@dataclass(frozen=True)
class TierPlan:
    tier: Tier
    kind: LayerKind
    cpus: frozenset[int]
    """CPUs the tier runs on by right. Open tiers: every online CPU (only while idle)."""
    weight: int
    slice_us: int
    preempt: bool
    preemptible: bool
    may_borrow_fenced: bool
    util_band: tuple[float, float]
    pods: int
    request_milli: int
    yields_smt_sibling: bool = False
    """Not lent a fenced CPU while its SMT sibling runs Critical (SMT isolation)."""


@dataclass(frozen=True)
class Member:
    """One pod's place in the plan."""

    uid: str
    namespace: str
    name: str
    tier: Tier
    cpu_request_milli: int
    weight: int
    """kubelet's cpu.weight for the pod's request: its share inside the tier."""
    pinned_cpus: frozenset[int] = frozenset()
    """CPUs kubelet's static CPU manager pinned the pod to (``pinned_cpus``); empty if none."""


@dataclass(frozen=True)
class Plan:
    schema: int
    online: frozenset[int]
    fenced: frozenset[int]
    shared: frozenset[int]
    tiers: tuple[TierPlan, ...]
    """Indexed by ``Tier`` value."""
    members: tuple[Member, ...]
    """Sorted by uid; every planned pod exactly once."""
    critical_request_milli: int
    fence_wanted_cpus: int
    starvation_guard_us: int
    pinned_fenced: frozenset[int] = frozenset()
    """Fenced because a Critical pod is pinned there (and not unfenceable)."""
    pinned_unfenced: frozenset[int] = frozenset()
    """Never fenced because a non-Critical pod is pinned there (whole cores skipped)."""
    smt_siblings: tuple[tuple[int, int], ...] = ()
    """(online CPU, the lowest other online CPU of its core), sorted; CPUs without one absent."""
    llc_index: tuple[tuple[int, int], ...] = ()
    """(online CPU, dense index of its LLC: 0.. in order of LLC id), sorted."""

    @property
    def fence_capped(self) -> bool:
        """The fence is smaller than the Critical requests asked for."""
        return len(self.fenced) < self.fence_wanted_cpus

    def tier(self, tier: Tier) -> TierPlan:
        return self.tiers[tier.value]

    def tier_of(self, uid: str) -> Tier | None:
        for member in self.members:
            if member.uid == uid:
                return member.tier
        return None


def kubelet_cpu_weight(request_milli: int) -> int:
    """cgroup v2 ``cpu.weight`` kubelet derives from a CPU request (shares -> weight)."""
    shares = max(2, request_milli * 1024 // 1000)
    shares = min(shares, 262_144)
    return 1 + ((shares - 2) * 9999) // 262_142


def smt_siblings(topology: NodeTopology) -> tuple[tuple[int, int], ...]:
    """(CPU, the lowest other online CPU of its core) for every online CPU that has one."""
    pairs = [(cpu, next(c for c in cpus if c != cpu))
             for cpus in topology.cores().values() if len(cpus) > 1 for cpu in cpus]
    return tuple(sorted(pairs))


def llc_index(topology: NodeTopology) -> tuple[tuple[int, int], ...]:
    """(CPU, dense LLC index) for every online CPU: LLCs numbered 0.. in order of their id."""
    rank = {llc: i for i, llc in enumerate(sorted({c.llc for c in topology.cpus}))}
    return tuple(sorted((c.cpu, rank[c.llc]) for c in topology.cpus))


def canonical_core_order(topology: NodeTopology, unfenceable: frozenset[int] = frozenset()) -> list[tuple[int, ...]]:
    """Cores in the fixed order the fence grows in (see module docstring)."""
    cores = {core: cpus for core, cpus in topology.cores().items() if not unfenceable.intersection(cpus)}
    llc_of = topology.llc_of_core()
    llc_sizes: dict[int, int] = {}
    for core in cores:
        llc_sizes[llc_of[core]] = llc_sizes.get(llc_of[core], 0) + 1
    return [
        cores[core]
        for core in sorted(cores, key=lambda c: (-llc_sizes[llc_of[c]], -llc_of[c], -max(cores[c])))
    ]


def fence_size_wanted(critical_request_milli: int, headroom: float) -> int:
    if critical_request_milli <= 0:
        return 0
    return math.ceil(critical_request_milli * (1.0 + headroom) / 1000.0 - 1e-9)


def choose_fenced(topology: NodeTopology, wanted: int, config: PlanConfig,
                  avoid: frozenset[int] = frozenset(), taken: int = 0) -> frozenset[int]:
    """Whole cores in canonical order until ``wanted`` CPUs, leaving ``min_shared_cpus``
    unfenced besides ``taken`` CPUs fenced otherwise; cores holding an ``avoid`` CPU are skipped."""
    limit = len(topology.online) - config.min_shared_cpus - taken
    fenced: list[int] = []
    for core in canonical_core_order(topology, config.unfenceable_cpus | avoid):
        if len(fenced) >= wanted or len(fenced) + len(core) > limit:
            break
        fenced.extend(core)
    return frozenset(fenced)


def effective_weight(tier_weight: int, pod_weight: int, nice_weight: int = NICE_0_WEIGHT) -> int:
    """A task's weight in its dispatch queue, as the scheduler computes it (``task_weight`` in
    ``bpf/temper.bpf.c``): tier weight x pod weight x nice weight / 100, at least 1."""
    return max(1, tier_weight * pod_weight * nice_weight // 100)


def aggregate_weight(tier: Tier, request_milli: int) -> int:
    """A whole tier's weight when a backend weighs the tier as one unit (scx_layered layers,
    which ignore per-pod weights): grouped tiers scale with their requested cores, capped at
    ``MAX_WEIGHT``; other tiers keep their base. Not used by Temper's own scheduler."""
    if TIER_DEFAULTS[tier].kind is not LayerKind.GROUPED:
        return TIER_DEFAULTS[tier].base_weight
    cores = max(1.0, request_milli / 1000.0)
    return max(1, min(MAX_WEIGHT, round(TIER_DEFAULTS[tier].base_weight * cores)))


def pod_cpuset(container_cpusets: Iterable[frozenset[int]], online: frozenset[int]) -> frozenset[int]:
    """A pod's observed cpuset: the union of its containers' ``cpuset.cpus.effective``, leaving
    out containers that may use every online CPU (unconstrained: the sandbox/pause container
    inherits the pod cgroup's cpuset, which kubelet never narrows). Empty: nothing constrained."""
    result: set[int] = set()
    for cpus in container_cpusets:
        if not online <= cpus:
            result.update(cpus)
    return frozenset(result)


def pinned_cpus(pod: PodInfo, cpuset: frozenset[int], online: frozenset[int],
                elsewhere: frozenset[int] = frozenset()) -> frozenset[int]:
    """The CPUs kubelet's static CPU manager gave ``pod`` exclusively, from its observed cpuset
    (union of its containers' ``cpuset.cpus.effective``); empty when it is not pinned.

    Only Guaranteed pods are pinned, to at most their requested whole CPUs; a cpuset that is
    every online CPU, or larger than the request (kubelet's shared pool), is no pin. An
    exclusive CPU is in no other pod's cpuset: CPUs in ``elsewhere`` (other pods' observed
    cpusets: the shared pool, or a pin kubelet has not yet taken out of it) are left out."""
    cpus = cpuset & online
    if pod.qos is not QosClass.GUARANTEED or not cpus or cpus == online:
        return frozenset()
    if len(cpus) * 1000 > pod.cpu_request_milli:
        return frozenset()
    return cpus - elsewhere


def plan(topology: NodeTopology, pods: Iterable[PodInfo], config: PlanConfig | None = None, *,
         cpusets: Mapping[str, frozenset[int]] | None = None) -> Plan:
    """The layer plan for a node. Total: any valid topology and pod list gives a plan.

    Terminal pods (Succeeded/Failed) hold no CPU and are left out. A uid seen twice is
    planned once (the first occurrence), so every member is in exactly one tier.
    ``cpusets`` maps pod uid -> its observed cpuset (see "Pinned CPUs" above).
    """
    config = config or PlanConfig()
    cpusets = cpusets or {}
    online = topology.online
    live: dict[str, PodInfo] = {}
    for pod in pods:
        if not pod.is_terminal:
            live.setdefault(pod.uid, pod)
    observed = {uid: cpusets.get(uid, frozenset()) & online for uid in live}
    holders = Counter(cpu for cpus in observed.values() for cpu in cpus)
    members = [
        Member(pod.uid, pod.namespace, pod.name, pod.tier, pod.cpu_request_milli,
               kubelet_cpu_weight(pod.cpu_request_milli),
               pinned_cpus(pod, observed[uid], online, frozenset(c for c in observed[uid] if holders[c] > 1)))
        for uid, pod in live.items()
    ]
    members.sort(key=lambda m: m.uid)

    request_by_tier = {tier: 0 for tier in Tier}
    count_by_tier = {tier: 0 for tier in Tier}
    for member in members:
        request_by_tier[member.tier] += member.cpu_request_milli
        count_by_tier[member.tier] += 1

    no_cpus: frozenset[int] = frozenset()
    others_pinned = no_cpus.union(*(m.pinned_cpus for m in members if m.tier is not Tier.CRITICAL))
    critical_pinned = no_cpus.union(*(m.pinned_cpus for m in members if m.tier is Tier.CRITICAL))
    critical_pinned -= others_pinned | config.unfenceable_cpus
    room = max(0, len(online) - config.min_shared_cpus)
    if len(critical_pinned) > room:  # only on a node kubelet could not have laid out: stay total
        critical_pinned = frozenset(sorted(critical_pinned)[:room])
    unpinned_request = sum(m.cpu_request_milli for m in members if m.tier is Tier.CRITICAL and not m.pinned_cpus)
    wanted_free = fence_size_wanted(unpinned_request, config.critical_headroom)
    wanted = len(critical_pinned) + wanted_free
    fenced = critical_pinned | choose_fenced(topology, wanted_free, config,
                                             avoid=others_pinned | critical_pinned, taken=len(critical_pinned))
    shared = online - fenced

    tiers: list[TierPlan] = []
    for tier in Tier:
        defaults = TIER_DEFAULTS[tier]
        if tier is Tier.CRITICAL:
            cpus = fenced if fenced else (shared if count_by_tier[tier] else frozenset())
        elif defaults.kind is LayerKind.GROUPED:
            cpus = shared
        else:
            cpus = online
        tiers.append(TierPlan(
            tier=tier,
            kind=defaults.kind,
            cpus=cpus,
            weight=defaults.base_weight,
            slice_us=config.slice_for(tier),
            preempt=defaults.preempt,
            preemptible=defaults.preemptible,
            may_borrow_fenced=tier is not Tier.CRITICAL,
            util_band=defaults.util_band,
            pods=count_by_tier[tier],
            request_milli=request_by_tier[tier],
            yields_smt_sibling=config.smt_isolation and defaults.preemptible,
        ))
    return Plan(
        schema=PLAN_SCHEMA_VERSION,
        online=online,
        fenced=fenced,
        shared=shared,
        tiers=tuple(tiers),
        members=tuple(members),
        critical_request_milli=request_by_tier[Tier.CRITICAL],
        fence_wanted_cpus=wanted,
        starvation_guard_us=config.starvation_guard_us,
        pinned_fenced=critical_pinned,
        pinned_unfenced=others_pinned & online,
        smt_siblings=smt_siblings(topology),
        llc_index=llc_index(topology),
    )
