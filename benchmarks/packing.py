"""Packing at equal SLO: pods per node with and without Temper and the overcommit webhook.

Why this exists: the brief claims "+72% pods placed at equal SLO on the same nodes with
overcommit". A number like that has to come from something anyone can rerun and argue with.
This script turns the kernel lab's measured p99-versus-utilisation ladder into a safe
utilisation per scheduler, then bin-packs a stated synthetic pod mix under those limits. It is
a MODEL, not a measurement: its answer is only as good as its inputs, and its output says so.

Run: ``python benchmarks/packing.py [--ladder benchmarks/out/lab_ladder.json] [--slo-ms 1.0]
[--node-cpus 8] [--pods 2000] [--seed 1] [--seeds 5] [--out benchmarks/out/packing.json]``
Prints Markdown tables, writes JSON. A few seconds on two CPUs.

The model
=========
1. Latency curves. The ladder (``kernellab``; one JSON file, one rung per filler count and
   scheduler) gives, per scheduler, points (``cpu_util``, ``p99_us``): node CPU utilisation
   (all CPUs, batch fillers included) against the p99 wake-up lateness of a protected probe.
   Per scheduler the points are sorted by utilisation and replaced by their *running maximum*
   (p99 at u = the worst p99 measured at any utilisation <= u; duplicates take the worst).
   Utilisations are rounded to 1e-6 first. The envelope is non-decreasing by construction,
   never below a measured point, and is interpolated linearly (``numpy.interp``). Below the
   lowest measured utilisation it is flat; above the highest it is not extrapolated at all.
2. Safe utilisation at the SLO (``--slo-ms``, a p99 in the ladder's own units): the largest
   utilisation whose envelope p99 is <= the SLO. If even the highest measured rung meets the
   SLO the answer is that rung's utilisation (bound ``measured_max``: the true limit may be
   higher, the model does not guess); if even the lowest rung misses it, 0 (``unattainable``).
   Worked example (the illustrative curve below, SLO 1 ms): fair goes (0.05, 0.10 ms) ->
   (1.00, 2.30 ms), so u = 0.05 + (1.0 - 0.1) / (2.3 - 0.1) x 0.95 = 0.439; temper reaches
   (1.00, 0.40 ms) <= 1 ms, so 1.00 (``measured_max``).
3. Pod mix (seeded, ``numpy.random.default_rng``): tier drawn from ``--tier-shares`` (default
   critical 10 %, high 20 %, normal 40 %, low 20 %, background 10 %); CPU request lognormal with
   median ``--request-median`` (250m) and log-sd ``--request-sigma`` (1.0), rounded to whole
   millicores and clipped to [10m, half a node]; actual use = request x u, u ~ Beta(a, b) from
   ``--usage-beta`` (default 2, 3: mean 0.40 — requests are padded ~2.5x on average). Every pod
   is a single-container Burstable pod, so the webhook scales every non-Critical pod.
4. The webhook. Requests are scaled with ``webhook.policy``'s own pure functions — the tier's
   factor from ``PolicyConfig().factor`` and ``scale_cpu_milli`` with the default floor — so this
   model follows the shipped defaults (critical 1.0, high 0.9, normal 0.75, low 0.5, background
   0.25, floor 10m). Actual use is unchanged: scaling a request changes where a pod may go, not
   what it runs.
5. Packing. Every arm places the *same* pods (per seed) first-fit-decreasing (by request, then
   actual use, then index) onto identical nodes of ``--node-cpus``, opening a node when a pod
   fits none. A pod fits a node when
   - requests:  sum(requests) <= node CPUs (what kube-scheduler checks), and
   - protected: sum(actual use of protected pods: Critical, High, Normal) <= protected cap, and
   - total:     sum(actual use of all pods) <= total cap,
   caps being fractions of the node's CPUs. The caps are an oracle on actual use: in a real
   cluster an operator reaches "meets the SLO" by padding requests or leaving headroom; the model
   gives every arm the same perfect knowledge, so it is an upper bound for all of them alike.
   A pod that fits no *empty* node (its own actual use exceeds a cap) still gets a node of its
   own and is counted as ``lone over cap``: the SLO is not met for it at any density.
   Pods per node = pods / nodes opened (the last node is partly empty; with ~100 nodes that is
   ~1 %). Note that first-fit-decreasing is not monotone in node size (a larger node can need
   more nodes — a classic anomaly, pinned in the tests), so differences of a node or two are
   packing noise, not signal; ``--seeds`` repeats the whole thing to show the spread.
6. Arms (the caps each scheduler gets, from its safe utilisation u_fair, u_temper):
   - ``fair`` (the baseline: stock CFS, declared requests): protected cap = total cap = u_fair.
     CFS has no notion of tier, so batch use competes with the protected probe exactly as the
     ladder's fillers did.
   - ``fair + webhook``: the same caps with scaled requests. Not a supported deployment
     (overcommit without enforcement); shown only to separate what scaling alone buys.
   - ``temper``: total cap = u_temper (batch is preempted on protected wake-up, which is what the
     ladder's temper arm measures); protected cap = min(u_fair, u_temper) by default
     (``--protected-contention fair``): the ladder's load is *batch* fillers, so it says nothing
     about protected-versus-protected contention, and the model assumes Temper is no better than
     CFS there (High and Normal share CPUs by weight, as CFS does).
   - ``temper + webhook``: the same caps with scaled requests — the brief's configuration.
   - sensitivity: ``temper + webhook`` with the other ``--protected-contention`` reading
     (``temper``: the protected cap is u_temper too, i.e. the ladder's temper curve is assumed
     to hold for protected load as well). The distance between the two rows is how much of the
     answer rests on that unmeasured assumption.
7. Result: pods per node per arm (mean over seeds, min-max), the gain against ``fair``, and the
   brief's +72 % beside the model's headline (``temper + webhook`` vs ``fair``).

Assumptions that move the answer (and are not measured here)
    - The safe utilisation measured on the lab VM (``cpus`` in the ladder, 2 vCPUs under QEMU
      TCG) transfers unchanged to nodes of ``--node-cpus``. Queueing theory says more CPUs tolerate
      higher utilisation at the same tail, so on bigger nodes this is pessimistic for fair and
      flatters Temper's gain.
    - Mean actual use stands in for load; the ladder's ``cpu_util`` is a mean over a rung too,
      but real pods burst together, and correlated bursts are where tails come from.
    - The pod mix (tier shares, request distribution, padding) is assumed, not taken from a
      cluster; the padding (Beta mean 0.4) decides how much the request limit binds before the
      SLO limit does, and with it most of the answer.
    - One probe's lateness stands for every protected pod's p99; the SLO is in the ladder's
      units (emulated, stretched), not a production service's.
    - The Critical fence, cpu.weight changes from scaled requests, memory, pod-count limits,
      daemonsets and system reserved CPU are left out.

Fallback (never silent)
    Without the ladder file the script says so in capitals on stdout and stderr, labels every
    table and the JSON (``curve_source: "illustrative"``) and uses ``--fallback-curve`` (default
    ``fair=0.05:0.10,1.0:2.3;temper=0.05:0.10,1.0:0.4``, utilisation:p99 ms). The 1.0-utilisation
    points are the ratios REFERENCE.md section 7 reports for two CPU hogs on two vCPUs (fair p99
    ~2.3 ms; a sched_ext scheduler that kicks on wake-up ~0.4 ms); the idle points (0.05, 0.1 ms)
    are assumed. ``--require-ladder`` turns the fallback into an error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temper.tiers import Tier
from webhook.policy import PolicyConfig, scale_cpu_milli

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LADDER = ROOT / "benchmarks" / "out" / "lab_ladder.json"
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "packing.json"
BASELINE = "fair"
ENFORCED = "temper"
BRIEF_CLAIM = 0.72
"""The brief: "+72% pods placed at equal SLO on the same nodes with overcommit"."""

DEFAULT_FALLBACK_CURVE = "fair=0.05:0.10,1.0:2.3;temper=0.05:0.10,1.0:0.4"
"""REFERENCE.md section 7 at utilisation 1.0 (two hogs, two vCPUs); idle points assumed."""

FEW_SAMPLES = 1000
"""A p99 from fewer samples rests on fewer than 10 observations above it: flagged."""

EPSILON = 1e-9
"""Slack for float sums of actual use against a cap (arrival order changes the last bits)."""

UTIL_RESOLUTION_DIGITS = 6

Bound = Literal["crossing", "measured_max", "unattainable"]


# --- latency curves -------------------------------------------------------------------------


class InputError(Exception):
    """The ladder file or a curve spec is not what the model needs (message says what)."""


@dataclass(frozen=True)
class Curve:
    """One scheduler's p99 against utilisation: the raw points and their monotone envelope."""

    scheduler: str
    util: FloatArray
    """Sorted ascending, unique, within [0, 1]."""
    p99_ms: FloatArray
    """Running maximum of the measured p99 (non-decreasing), same length as ``util``."""
    points: tuple[tuple[float, float], ...]
    """The measured (util, p99 ms) pairs as given, for the record."""
    min_samples: int | None = None


def monotone_curve(scheduler: str, points: Sequence[tuple[float, float]],
                   min_samples: int | None = None) -> Curve:
    """The conservative envelope: at each utilisation the worst p99 measured at or below it."""
    if not points:
        raise InputError(f"scheduler {scheduler!r}: no points")
    for util, p99 in points:
        if not (math.isfinite(util) and math.isfinite(p99)) or not 0.0 <= util <= 1.0 or p99 < 0.0:
            raise InputError(f"scheduler {scheduler!r}: point ({util}, {p99}) is not (0..1, >= 0)")
    # Rounded to 1e-6, far below any measurement's resolution: rungs closer than that are one
    # point, and interpolation never divides by a vanishing utilisation step.
    utils = np.round(np.array([u for u, _ in points], dtype=np.float64), UTIL_RESOLUTION_DIGITS)
    p99s = np.array([p for _, p in points], dtype=np.float64)
    order = np.lexsort((p99s, utils))
    utils, p99s = utils[order], p99s[order]
    envelope = np.maximum.accumulate(p99s)
    unique, last = np.unique(utils[::-1], return_index=True)
    # np.unique on the reversed array finds each utilisation's last (worst-envelope) index.
    keep = len(utils) - 1 - last
    return Curve(scheduler, unique.astype(np.float64), envelope[keep].astype(np.float64),
                 tuple((float(u), float(p)) for u, p in points), min_samples)


def p99_at(curve: Curve, util: float) -> float:
    """Envelope p99 (ms) at ``util``: linear between points, flat outside the measured range."""
    return float(np.interp(util, curve.util, curve.p99_ms))


@dataclass(frozen=True)
class SafeUtil:
    util: float
    bound: Bound


def max_util_at_slo(curve: Curve, slo_ms: float) -> SafeUtil:
    """The largest measured-range utilisation whose envelope p99 is <= ``slo_ms``."""
    meets = curve.p99_ms <= slo_ms
    if not meets[0]:
        return SafeUtil(0.0, "unattainable")
    if meets[-1]:
        return SafeUtil(float(curve.util[-1]), "measured_max")
    i = int(np.argmin(meets)) - 1  # last point meeting the SLO; the next one misses it
    u0, u1 = float(curve.util[i]), float(curve.util[i + 1])
    p0, p1 = float(curve.p99_ms[i]), float(curve.p99_ms[i + 1])
    return SafeUtil(u0 + (slo_ms - p0) / (p1 - p0) * (u1 - u0), "crossing")


@dataclass(frozen=True)
class LadderInfo:
    path: str
    kernel: str
    cpus: int | None
    date: str
    host_load: list[float]
    rungs: int


def curves_from_ladder(doc: Mapping[str, Any]) -> dict[str, Curve]:
    """Per-scheduler curves from the ladder JSON (``rungs[].scheduler / cpu_util / p99_us``)."""
    rungs = doc.get("rungs")
    if not isinstance(rungs, list) or not rungs:
        raise InputError("ladder: 'rungs' is missing or empty")
    points: dict[str, list[tuple[float, float]]] = {}
    samples: dict[str, int] = {}
    for index, rung in enumerate(rungs):
        try:
            name = str(rung["scheduler"])
            util = float(rung["cpu_util"])
            p99_ms = float(rung["p99_us"]) / 1000.0
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"ladder: rungs[{index}] lacks scheduler/cpu_util/p99_us ({exc!r})") from None
        if 1.0 < util <= 1.05:
            util = 1.0  # accounting rounding just above a fully busy node
        points.setdefault(name, []).append((util, p99_ms))
        if isinstance(rung.get("samples"), int):
            samples[name] = min(samples.get(name, rung["samples"]), rung["samples"])
    return {name: monotone_curve(name, pts, samples.get(name)) for name, pts in points.items()}


def parse_curve_spec(text: str) -> dict[str, Curve]:
    """``name=util:p99ms,util:p99ms;name=...`` (the ``--fallback-curve`` format)."""
    curves: dict[str, Curve] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, body = part.partition("=")
        if not sep or not name.strip():
            raise InputError(f"curve spec {part!r}: expected name=util:p99ms,...")
        try:
            pts = [(float(u), float(p)) for u, p in (pair.split(":") for pair in body.split(","))]
        except ValueError:
            raise InputError(f"curve spec {part!r}: points are util:p99ms pairs") from None
        curves[name.strip()] = monotone_curve(name.strip(), pts)
    return curves


# --- the pod mix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MixDistribution:
    tier_shares: Mapping[Tier, float]
    request_median_milli: float = 250.0
    request_sigma: float = 1.0
    request_min_milli: int = 10
    usage_beta: tuple[float, float] = (2.0, 3.0)

    def to_json(self) -> dict[str, Any]:
        a, b = self.usage_beta
        return {"tier_shares": {t.label: s for t, s in self.tier_shares.items()},
                "request": {"distribution": "lognormal", "median_milli": self.request_median_milli,
                            "sigma": self.request_sigma, "min_milli": self.request_min_milli,
                            "max": "half a node"},
                "actual_over_request": {"distribution": "beta", "a": a, "b": b, "mean": a / (a + b)}}


DEFAULT_TIER_SHARES: Mapping[Tier, float] = {
    Tier.CRITICAL: 0.10, Tier.HIGH: 0.20, Tier.NORMAL: 0.40, Tier.LOW: 0.20, Tier.BACKGROUND: 0.10,
}


@dataclass(frozen=True)
class PodMix:
    tier: IntArray
    """``Tier`` values."""
    request_milli: IntArray
    actual_milli: FloatArray

    def __len__(self) -> int:
        return len(self.tier)

    @property
    def protected(self) -> npt.NDArray[np.bool_]:
        return np.array([Tier(int(t)).is_protected for t in self.tier], dtype=np.bool_)


def generate_mix(count: int, seed: int, dist: MixDistribution, node_milli: int) -> PodMix:
    """``count`` pods drawn from ``dist`` (see the module docstring, item 3)."""
    rng = np.random.default_rng(seed)
    tiers = list(dist.tier_shares)
    shares = np.array([dist.tier_shares[t] for t in tiers], dtype=np.float64)
    tier = np.array(tiers, dtype=np.int64)[rng.choice(len(tiers), size=count, p=shares / shares.sum())]
    raw = rng.lognormal(math.log(dist.request_median_milli), dist.request_sigma, size=count)
    request = np.clip(np.rint(raw), dist.request_min_milli, max(dist.request_min_milli, node_milli // 2))
    usage = rng.beta(dist.usage_beta[0], dist.usage_beta[1], size=count)
    return PodMix(tier.astype(np.int64), request.astype(np.int64), (request * usage).astype(np.float64))


def scale_requests(mix: PodMix, policy: PolicyConfig) -> PodMix:
    """The webhook's scaling (``webhook.policy``'s factor and floor) applied to every pod."""
    scaled = np.array([scale_cpu_milli(int(r), policy.factor(Tier(int(t))), policy.floor_milli)
                       for t, r in zip(mix.tier, mix.request_milli, strict=True)], dtype=np.int64)
    return PodMix(mix.tier, scaled, mix.actual_milli)


# --- packing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeLimits:
    capacity_milli: int
    protected_cap: float
    """Max sum of protected pods' actual use, as a fraction of the node's CPUs."""
    total_cap: float
    """Max sum of all pods' actual use, as a fraction of the node's CPUs."""


@dataclass(frozen=True)
class Packing:
    node_of_pod: IntArray
    """Node index per pod (input order); -1 for a pod left unplaced (only with ``max_nodes``)."""
    nodes: int
    lone_over_cap: int
    """Pods alone on a node because their own actual use exceeds a cap."""
    request_milli: FloatArray
    protected_milli: FloatArray
    total_milli: FloatArray
    """Per opened node: sums of requests, protected actual use, all actual use."""

    @property
    def placed(self) -> int:
        return int(np.count_nonzero(self.node_of_pod >= 0))


def pack_first_fit_decreasing(mix: PodMix, limits: NodeLimits, max_nodes: int | None = None) -> Packing:
    """First-fit-decreasing under the three limits (module docstring, item 5).

    Nodes are opened in index order as needed, at most ``max_nodes`` (unbounded: every pod is
    placed). A pod that fits no empty node is put alone on a fresh node that takes nothing else.
    """
    n = len(mix)
    capacity = float(limits.capacity_milli)
    protected_limit = limits.protected_cap * capacity + EPSILON
    total_limit = limits.total_cap * capacity + EPSILON
    protected_use = np.where(mix.protected, mix.actual_milli, 0.0)
    slots = n if max_nodes is None else min(n, max_nodes)
    req = np.zeros(slots, dtype=np.float64)
    prot = np.zeros(slots, dtype=np.float64)
    tot = np.zeros(slots, dtype=np.float64)
    closed = np.zeros(slots, dtype=np.bool_)
    node_of_pod = np.full(n, -1, dtype=np.int64)
    opened = lone = 0
    order = np.lexsort((np.arange(n), -mix.actual_milli, -mix.request_milli))
    for i in order:
        r, p, a = float(mix.request_milli[i]), float(protected_use[i]), float(mix.actual_milli[i])
        fits = ((req[:opened] + r <= capacity) & (prot[:opened] + p <= protected_limit)
                & (tot[:opened] + a <= total_limit) & ~closed[:opened])
        if fits.any():
            k = int(np.argmax(fits))
        elif opened < slots:
            k = opened
            opened += 1
            if not (r <= capacity and p <= protected_limit and a <= total_limit):
                closed[k] = True
                lone += 1
        else:
            continue
        node_of_pod[i] = k
        req[k] += r
        prot[k] += p
        tot[k] += a
    return Packing(node_of_pod, opened, lone, req[:opened], prot[:opened], tot[:opened])


# --- arms -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    name: str
    scheduler: str
    webhook: bool
    limits: NodeLimits
    note: str = ""


def make_arms(safe: Mapping[str, SafeUtil], node_milli: int, contention: str) -> list[Arm]:
    """The five arms of the module docstring, item 6."""
    u_fair, u_temper = safe[BASELINE].util, safe[ENFORCED].util

    def temper_limits(reading: str) -> NodeLimits:
        protected = min(u_fair, u_temper) if reading == "fair" else u_temper
        return NodeLimits(node_milli, protected, u_temper)

    other = "temper" if contention == "fair" else "fair"
    fair = NodeLimits(node_milli, u_fair, u_fair)
    return [
        Arm("fair", BASELINE, False, fair, "baseline: stock CFS, declared requests"),
        Arm("fair + webhook", BASELINE, True, fair, "attribution only: overcommit without enforcement"),
        Arm("temper", ENFORCED, False, temper_limits(contention), "enforcement, declared requests"),
        Arm("temper + webhook", ENFORCED, True, temper_limits(contention), "the brief's configuration"),
        Arm(f"temper + webhook, protected cap = {other} reading", ENFORCED, True, temper_limits(other),
            "sensitivity: the other --protected-contention assumption"),
    ]


def request_ceiling(mixes: Sequence[PodMix], policy: PolicyConfig) -> float:
    """sum(declared) / sum(scaled) - 1 over ``mixes``: the gain scaling can buy when requests
    are the only binding limit (FFD and pod sizes move the real figure a little)."""
    declared = sum(int(m.request_milli.sum()) for m in mixes)
    scaled = sum(int(scale_requests(m, policy).request_milli.sum()) for m in mixes)
    return declared / scaled - 1.0


@dataclass(frozen=True)
class ArmResult:
    arm: Arm
    pods_per_node: list[float]
    """One per seed."""
    nodes: list[int]
    lone_over_cap: list[int]
    fill: dict[str, float]
    """Mean over nodes and seeds: requests, protected actual, total actual / node CPUs."""


def run_arms(arms: Sequence[Arm], count: int, seeds: Sequence[int], dist: MixDistribution,
             node_milli: int, policy: PolicyConfig) -> list[ArmResult]:
    mixes = [generate_mix(count, seed, dist, node_milli) for seed in seeds]
    scaled = [scale_requests(mix, policy) for mix in mixes]
    results: list[ArmResult] = []
    for arm in arms:
        packings = [pack_first_fit_decreasing(s if arm.webhook else m, arm.limits)
                    for m, s in zip(mixes, scaled, strict=True)]
        fill = {key: float(np.mean(np.concatenate([getattr(p, attr) for p in packings])) / node_milli)
                for key, attr in (("requests", "request_milli"), ("protected_actual", "protected_milli"),
                                  ("total_actual", "total_milli"))}
        results.append(ArmResult(arm, [count / p.nodes for p in packings], [p.nodes for p in packings],
                                 [p.lone_over_cap for p in packings], fill))
    return results


# --- output ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.3f}"


def render(meta: Mapping[str, Any], curves: Mapping[str, Curve], safe: Mapping[str, SafeUtil],
           results: Sequence[ArmResult]) -> str:
    illustrative = meta["curve_source"] == "illustrative"
    source = ("ILLUSTRATIVE fallback curve — NOT MEASURED" if illustrative
              else f"measured ladder {meta['ladder']['path']}")
    lines = [f"Packing at equal SLO — a MODEL, not a measurement. Curve: {source}.",
             f"SLO: ladder-probe p99 <= {meta['slo_ms']:g} ms. Nodes: {meta['node_cpus']} CPUs; "
             f"{meta['pods']} pods x {len(meta['seeds'])} seeds (seeds {meta['seeds'][0]}..{meta['seeds'][-1]}).",
             "", "| scheduler | rungs | util range | envelope p99 at max util ms | safe util at SLO | bound |"
             " min samples/rung |", "|---|---:|---|---:|---:|---|---:|"]
    for name, curve in curves.items():
        samples = "n/a" if curve.min_samples is None else (
            f"{curve.min_samples}" + (" (few)" if curve.min_samples < FEW_SAMPLES else ""))
        lines.append(f"| {name} | {len(curve.points)} | {curve.util[0]:.2f}–{curve.util[-1]:.2f} | "
                     f"{_ms(float(curve.p99_ms[-1]))} | {safe[name].util:.3f} | {safe[name].bound} | {samples} |")
    base = float(np.mean(results[0].pods_per_node))
    lines += ["", "| arm | requests | protected cap | total cap | pods/node mean [min–max] | vs fair | "
              "request fill | protected use | total use | lone over cap |",
              "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for res in results:
        ppn = res.pods_per_node
        gain = float(np.mean(ppn)) / base - 1.0
        lines.append(
            f"| {res.arm.name} | {'scaled' if res.arm.webhook else 'declared'} | {res.arm.limits.protected_cap:.3f} | "
            f"{res.arm.limits.total_cap:.3f} | {np.mean(ppn):.2f} [{min(ppn):.2f}–{max(ppn):.2f}] | "
            f"{gain:+.1%} | {res.fill['requests']:.2f} | {res.fill['protected_actual']:.2f} | "
            f"{res.fill['total_actual']:.2f} | {sum(res.lone_over_cap)} |")
    headline = _headline(results)
    lines += ["", f"Scaling ceiling: declared / scaled requests = {meta['request_ceiling']:+.1%} more pods when "
              "requests alone bind (webhook.policy defaults on this mix); a gain above it comes from the fair "
              "baseline's SLO cap binding.",
              f"Brief claims +{BRIEF_CLAIM:.0%} pods placed at equal SLO with overcommit; this model gives "
              f"{headline:+.1%} (temper + webhook vs fair)"
              + (" on an ILLUSTRATIVE curve." if illustrative else " on the measured ladder."),
              "This is a model: the answer follows from the curve, the assumed pod mix and padding, and the "
              "caps-as-oracle packing (see the docstring); it is not a cluster measurement."]
    if any(sum(r.lone_over_cap) for r in results):
        lines.append("Some pods exceed a cap on an empty node (lone over cap): the SLO is not met for them "
                     "at any density.")
    return "\n".join(lines)


def sweep_slo(curves: Mapping[str, Curve], slos: Sequence[float], count: int, seeds: Sequence[int],
              dist: MixDistribution, node_milli: int, policy: PolicyConfig,
              contention: str) -> list[dict[str, float]]:
    """The headline at other SLOs: safe utilisations and mean pods per node of three arms."""
    rows: list[dict[str, float]] = []
    for slo in slos:
        safe = {name: max_util_at_slo(curve, slo) for name, curve in curves.items()}
        arms = [a for a in make_arms(safe, node_milli, contention) if a.name in ("fair", "temper", "temper + webhook")]
        res = {r.arm.name: float(np.mean(r.pods_per_node))
               for r in run_arms(arms, count, seeds, dist, node_milli, policy)}
        rows.append({"slo_ms": slo, "safe_util_fair": safe[BASELINE].util, "safe_util_temper": safe[ENFORCED].util,
                     "fair": res["fair"], "temper": res["temper"], "temper_webhook": res["temper + webhook"],
                     "gain_temper": res["temper"] / res["fair"] - 1.0,
                     "gain_temper_webhook": res["temper + webhook"] / res["fair"] - 1.0})
    return rows


def render_sweep(rows: Sequence[Mapping[str, float]]) -> str:
    lines = ["| SLO ms | safe util fair | safe util temper | pods/node fair | temper | temper + webhook | "
             "temper vs fair | temper + webhook vs fair |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['slo_ms']:g} | {r['safe_util_fair']:.3f} | {r['safe_util_temper']:.3f} | {r['fair']:.2f} | "
              f"{r['temper']:.2f} | {r['temper_webhook']:.2f} | {r['gain_temper']:+.1%} | "
              f"{r['gain_temper_webhook']:+.1%} |" for r in rows]
    return "\n".join(lines)


def _headline(results: Sequence[ArmResult]) -> float:
    by_name = {r.arm.name: float(np.mean(r.pods_per_node)) for r in results}
    return by_name["temper + webhook"] / by_name["fair"] - 1.0


def to_json(meta: Mapping[str, Any], curves: Mapping[str, Curve], safe: Mapping[str, SafeUtil],
            results: Sequence[ArmResult], dist: MixDistribution, policy: PolicyConfig) -> dict[str, Any]:
    base = float(np.mean(results[0].pods_per_node))
    return {
        **meta,
        "model_note": "a model, not a measurement; only as good as the curve and the assumed pod mix",
        "schedulers": {name: {"points_util_p99_ms": [list(p) for p in c.points],
                              "envelope": {"util": c.util.tolist(), "p99_ms": c.p99_ms.tolist()},
                              "min_samples": c.min_samples,
                              "safe_util": safe[name].util, "bound": safe[name].bound}
                       for name, c in curves.items()},
        "mix": dist.to_json(),
        "webhook": {"factors": {t.label: policy.factor(t) for t in Tier}, "floor_milli": policy.floor_milli},
        "arms": [{"name": r.arm.name, "scheduler": r.arm.scheduler, "requests": "scaled" if r.arm.webhook
                  else "declared", "note": r.arm.note, "protected_cap": r.arm.limits.protected_cap,
                  "total_cap": r.arm.limits.total_cap, "pods_per_node": r.pods_per_node, "nodes": r.nodes,
                  "pods_per_node_mean": float(np.mean(r.pods_per_node)),
                  "gain_vs_fair": float(np.mean(r.pods_per_node)) / base - 1.0,
                  "lone_over_cap": r.lone_over_cap, "mean_fill": r.fill} for r in results],
        "claim": {"brief": BRIEF_CLAIM, "model": _headline(results)},
    }


def _parse_shares(text: str) -> dict[Tier, float]:
    shares: dict[Tier, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        label, _, value = part.partition("=")
        try:
            shares[Tier.from_label(label.strip())] = float(value)
        except ValueError as exc:
            raise InputError(f"--tier-shares {part!r}: {exc}") from None
    if not shares or any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
        raise InputError(f"--tier-shares {text!r}: expected tier=share,... with a positive total")
    return shares


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ladder", type=Path, default=DEFAULT_LADDER, help="kernel-lab ladder JSON")
    parser.add_argument("--require-ladder", action="store_true", help="fail instead of using the fallback curve")
    parser.add_argument("--fallback-curve", default=DEFAULT_FALLBACK_CURVE,
                        help="illustrative curve used only when the ladder is absent: name=util:p99ms,...;...")
    parser.add_argument("--slo-ms", type=float, default=1.0, help="p99 target in the ladder's units (ms)")
    parser.add_argument("--node-cpus", type=int, default=8)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=5, help="repeat with seeds seed..seed+N-1")
    parser.add_argument("--tier-shares", default="critical=0.1,high=0.2,normal=0.4,low=0.2,background=0.1")
    parser.add_argument("--request-median", type=float, default=250.0, help="millicores")
    parser.add_argument("--request-sigma", type=float, default=1.0, help="log-sd of the lognormal")
    parser.add_argument("--usage-beta", type=float, nargs=2, default=(2.0, 3.0), metavar=("A", "B"),
                        help="actual use / request ~ Beta(A, B)")
    parser.add_argument("--protected-contention", choices=("fair", "temper"), default="fair",
                        help="whose curve caps protected-vs-protected load under temper (docstring, item 6)")
    parser.add_argument("--sweep-slo-ms", default="0.5,0.75,1,1.5,2",
                        help="also report the headline at these SLOs (comma-separated; empty: skip)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.slo_ms <= 0 or args.node_cpus < 1 or args.pods < 1 or args.seeds < 1:
        parser.error("--slo-ms, --node-cpus, --pods and --seeds must be positive")
    if args.request_median <= 0 or args.request_sigma < 0 or min(args.usage_beta) <= 0:
        parser.error("--request-median and --usage-beta must be positive, --request-sigma not negative")

    try:
        return _run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    ladder: LadderInfo | None = None
    if args.ladder.is_file():
        try:
            doc = json.loads(args.ladder.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"ladder {args.ladder}: {exc}") from None
        if not isinstance(doc, dict):
            raise InputError(f"ladder {args.ladder}: expected a JSON object")
        curves = curves_from_ladder(doc)
        host_load = doc.get("host_load")
        ladder = LadderInfo(str(args.ladder), str(doc.get("kernel", "")),
                            doc.get("cpus") if isinstance(doc.get("cpus"), int) else None, str(doc.get("date", "")),
                            list(host_load) if isinstance(host_load, list) else [], len(doc["rungs"]))
        source = "ladder"
    else:
        if args.require_ladder:
            print(f"error: {args.ladder} not found (--require-ladder)", file=sys.stderr)
            return 2
        banner = (f"!!! LADDER NOT FOUND: {args.ladder} !!!\n"
                  "!!! USING THE ILLUSTRATIVE FALLBACK CURVE (--fallback-curve): THESE NUMBERS ARE NOT MEASURED !!!\n"
                  "!!! rerun after the kernel-lab ladder benchmark has written its file !!!")
        print(banner)
        print(banner, file=sys.stderr)
        curves = parse_curve_spec(args.fallback_curve)
        source = "illustrative"
    missing = [name for name in (BASELINE, ENFORCED) if name not in curves]
    if missing:
        print(f"error: no curve for {', '.join(missing)} (have: {', '.join(curves)})", file=sys.stderr)
        return 2

    node_milli = args.node_cpus * 1000
    dist = MixDistribution(_parse_shares(args.tier_shares), args.request_median, args.request_sigma,
                           usage_beta=(args.usage_beta[0], args.usage_beta[1]))
    policy = PolicyConfig()
    safe = {name: max_util_at_slo(curve, args.slo_ms) for name, curve in curves.items()}
    seeds = list(range(args.seed, args.seed + args.seeds))
    results = run_arms(make_arms(safe, node_milli, args.protected_contention), args.pods, seeds, dist,
                       node_milli, policy)
    mixes = [generate_mix(args.pods, seed, dist, node_milli) for seed in seeds]
    meta: dict[str, Any] = {
        "curve_source": source,
        "fallback_curve": args.fallback_curve if source == "illustrative" else None,
        "ladder": None if ladder is None else vars(ladder),
        "slo_ms": args.slo_ms, "node_cpus": args.node_cpus, "pods": args.pods, "seeds": seeds,
        "protected_contention": args.protected_contention,
        "caps_transferred_from_cpus": 2 if ladder is None else ladder.cpus,
        "request_ceiling": request_ceiling(mixes, policy),
    }
    try:
        sweep_slos = [float(v) for v in args.sweep_slo_ms.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--sweep-slo-ms {args.sweep_slo_ms!r}: comma-separated numbers") from None
    sweep = sweep_slo(curves, sweep_slos, args.pods, seeds, dist, node_milli, policy, args.protected_contention)
    meta["slo_sweep"] = sweep
    print(render(meta, curves, safe, results))
    if sweep:
        print("\nThe same model at other SLOs" + (" (ILLUSTRATIVE curve):" if source == "illustrative" else ":"))
        print(render_sweep(sweep))
    curve_cpus = 2 if ladder is None else ladder.cpus  # REFERENCE.md section 7: two vCPUs
    if curve_cpus is not None and curve_cpus != args.node_cpus:
        print(f"Caps from a {curve_cpus}-CPU curve are applied unchanged to {args.node_cpus}-CPU nodes "
              "(an assumption; pessimistic for fair on larger nodes, so it flatters the gain).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(to_json(meta, curves, safe, results, dist, policy), indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
