"""The decision: documents (+ policy, HPAs, pod owners) -> recommendations. Pure, no I/O.

Per scope (a workload when ``--pods-json`` maps its pods, else one pod):
1. usable samples: Running, ``used_m`` known, newer than (latest sample - window), not in a
   startup interval (``_starts``: start times from the pod list; else, for a pod first seen
   after its agent's first document or first seen Pending, its first sample; else none);
2. fewer than ``min_samples`` -> refused, with the counts;
3. ``request_m = max(floor, round_up(P(usage, percentile) x (1 + margin), step))``;
4. a thread pinned at a core (``threads``) -> ``exclusive_core_profile`` instead, whose request is
   at least the cores' worth; else ``request``;
5. an HPA on the workload -> ``hpa.adjust`` (hpa_aware, or refused);
6. throttled periods >= ``throttle_pct`` under a limit -> also a ``limit`` recommendation:
   ``round_up(max(limit x (1 + throttled share), P99(usage) x (1 + margin), request), step)``,
   at least one step above the current limit (usage under a limit is censored at it, so this
   is a lower bound: apply, observe, re-run).
7. granularity: a pod with one container names it (``values["container"]``); a multi-container
   pod whose threads' ``container`` covers >= 90 % of its thread CPU gets ``containers_m`` split
   by those shares; otherwise the request is per pod (``used_m`` is per pod). Said in evidence.
Confidence = samples x steadiness x the penalties that apply (docs/rightsizing.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from temper.rightsize import hotcore
from temper.rightsize.hpa import adjust
from temper.rightsize.model import NO_CONFIDENCE, Confidence, Evidence, Kind, Recommendation, Scope
from temper.rightsize.observed import Document, Observed, PodSeries, observe
from temper.rightsize.owners import Hpa, PodInfo, decode_hpas, decode_pods
from temper.rightsize.policy import Policy
from temper.rightsize.stats import percentile, round_up
from temper.rightsize.threads import PinnedThread, ThreadView, pinned_threads, runqueue_p99_ms, thread_view

CENSORED = 0.7
"""Confidence factor when throttled: usage never shows demand above the limit."""
HPA_UNMATCHED = 0.8
"""HPAs were given but the pod has no owner mapping, so one may apply unseen."""
HPA_UNCHECKED = 0.9
"""No HPA list was given at all."""
CONTAINER_COVERAGE = 0.9
"""Thread CPU with a container name must cover this share of the pod's thread CPU to split by it."""


@dataclass(frozen=True)
class Report:
    recommendations: tuple[Recommendation, ...]
    notes: tuple[str, ...] = ()


@dataclass
class _Group:
    scope: Scope
    mapping: str
    series: list[PodSeries] = field(default_factory=list)


def _groups(observed: Observed, infos: dict[str, PodInfo] | None) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for series in sorted(observed.pods.values(), key=lambda s: (s.namespace, s.name, s.uid)):
        info = infos.get(series.uid) if infos is not None else None
        if info is not None and info.owner.kind != "Pod":
            scope, mapping = Scope(info.owner.kind, info.owner.namespace, info.owner.name, ()), info.owner.how
        else:
            scope = Scope("Pod", series.namespace, series.name, ())
            mapping = ("no owner mapping (pass --pods-json): the pod is its own scope" if infos is None else
                       info.owner.how if info is not None else "pod not in --pods-json: the pod is its own scope")
        group = groups.setdefault(scope.key, _Group(scope, mapping))
        group.series.append(series)
    for group in groups.values():
        group.scope = replace(group.scope, pods=tuple(s.name for s in group.series))
    return list(groups.values())


def _starts(series: PodSeries, info: PodInfo | None, observed: Observed) -> tuple[tuple[float, ...], str]:
    if info is not None and info.starts:
        return info.starts, "start times from --pods-json"
    first = series.samples[0]
    if first.t > observed.first_t[series.source] or first.phase == "Pending":
        return (first.t,), "started while observed: its first sample"
    return (), "already running when observation began, start unknown: nothing excluded"


def _hpa_matches(hpas: list[Hpa], scope: Scope) -> list[Hpa]:
    return [h for h in hpas if h.namespace == scope.namespace and h.target_kind == scope.kind
            and h.target_name == scope.name]


def _threads_text(series: PodSeries, observed: Observed) -> str | None:
    if series.source not in observed.thread_sources:
        return f"agent {series.source} has no threads section (older agent): thread findings skipped"
    if not series.threads:
        return f"the agent's threads section has no entry for {series.name}"
    if len(series.threads) < 2:
        return f"{len(series.threads)} thread snapshot(s) of {series.name}: rates need two"
    return None


def _steadiness(values: Sequence[float]) -> float:
    mean = statistics.fmean(values)
    return 1.0 / (1.0 + statistics.pstdev(values) / mean) if mean > 0 else 1.0


class _Scoped:
    """The per-scope computation; one instance per scope, discarded after ``run``."""

    def __init__(self, group: _Group, observed: Observed, policy: Policy, infos: dict[str, PodInfo] | None,
                 hpas: list[Hpa] | None, latest: float) -> None:
        self.group, self.observed, self.policy, self.infos, self.hpas = group, observed, policy, infos, hpas
        self.cutoff = latest - policy.window_s
        self.notes: list[str] = []

    def info(self, series: PodSeries) -> PodInfo | None:
        return self.infos.get(series.uid) if self.infos is not None else None

    def run(self) -> list[Recommendation]:
        policy, scope = self.policy, self.group.scope
        usage: list[float] = []
        excluded, pressure, periods, throttled = 0, [], 0, 0
        startup: set[str] = set()
        views: list[ThreadView] = []
        threads_notes: set[str] = set()
        for series in self.group.series:
            starts, rule = self._excluder(series)
            startup.add(rule)
            previous = None
            for sample in series.samples:
                if sample.t >= self.cutoff:
                    if sample.pressure_pct is not None:
                        pressure.append(sample.pressure_pct)
                    if previous is not None and previous.throttling and sample.throttling:
                        dp = sample.throttling.nr_periods - previous.throttling.nr_periods
                        dt = sample.throttling.nr_throttled - previous.throttling.nr_throttled
                        if dp >= 0 and dt >= 0:
                            periods, throttled = periods + dp, throttled + dt
                    if sample.phase == "Running" and sample.used_m is not None:
                        if starts(sample.t):
                            excluded += 1
                        else:
                            usage.append(sample.used_m)
                previous = sample
            text = _threads_text(series, self.observed)
            if text is None:
                views.append(thread_view(series.threads, self._keeper(starts)))
            else:
                threads_notes.add(text)
        latest = max((s.samples[-1] for s in self.group.series), key=lambda sample: sample.t)
        current = {"request_m": latest.request_m, "limit_m": latest.limit_m, "tier": latest.tier}
        requests = {s.samples[-1].request_m for s in self.group.series}
        if len(requests) > 1:
            self.notes.append(f"pods differ in request: {sorted(r or 0 for r in requests)}m")
        throttle_pct = round(100.0 * throttled / periods, 2) if periods and latest.limit_m else None
        evidence = Evidence(
            policy.window_s, policy.percentile, len(usage), excluded,
            round(percentile(usage, policy.percentile), 1) if usage else None,
            round(statistics.fmean(usage), 1) if usage else None, max(usage) if usage else None, throttle_pct,
            self._runqueue_p99_ms(views),
            round(percentile(pressure, 99), 2) if pressure else None,
            self._granularity(views), self.group.mapping, self._hpa_text(), "; ".join(sorted(startup)),
            "; ".join(sorted(threads_notes)) or f"{len(views)} pod(s) with thread rates", ())
        if len(usage) < policy.min_samples:
            reason = (f"{len(usage)} usable samples ({excluded} dropped as startup) in the window; "
                      f"the policy needs {policy.min_samples}")
            return [Recommendation(Kind.REFUSED, scope, current, {}, reason, self._evidence(evidence), NO_CONFIDENCE)]
        return self._decide(usage, views, current, evidence)

    def _runqueue_p99_ms(self, views: Sequence[ThreadView]) -> float | None:
        """The scheduler's own per-pod p99 (BPF histogram, latest sample) when the agent reports
        it; else the p99 over thread intervals of mean wait per run (procfs)."""
        from_scheduler = [s.samples[-1].runqueue_p99_us for s in self.group.series]
        known = [v for v in from_scheduler if v is not None]
        if known:
            return round(max(known) / 1000, 3)
        return max((v for v in (runqueue_p99_ms(view) for view in views) if v is not None), default=None)

    def _keeper(self, starts: Callable[[float], bool]) -> Callable[[float], bool]:
        return lambda t: t >= self.cutoff and not starts(t)

    def _excluder(self, series: PodSeries) -> tuple[Callable[[float], bool], str]:
        starts, rule = _starts(series, self.info(series), self.observed)
        span = self.policy.startup_s
        return (lambda t: any(s <= t < s + span for s in starts)), rule

    def _granularity(self, views: list[ThreadView]) -> str:
        info = self.info(self.group.series[0])
        if info is None:
            return "pod (used_m is per pod; containers unknown without --pods-json)"
        if len(info.containers) == 1:
            return f"container {info.containers[0]} (the pod's only container)"
        return (f"pod (used_m is per pod; {len(info.containers)} containers)" if not self._shares(views) else
                "pod, split across containers by their threads' CPU share")

    def _shares(self, views: list[ThreadView]) -> dict[str, float]:
        total = sum(v.all_cpu_ns for v in views)
        named: dict[str, int] = {}
        for view in views:
            for container, cpu in view.container_cpu_ns.items():
                named[container] = named.get(container, 0) + cpu
        if total <= 0 or len(named) < 2 or sum(named.values()) < CONTAINER_COVERAGE * total:
            return {}
        covered = sum(named.values())
        return {name: cpu / covered for name, cpu in sorted(named.items())}

    def _mapped(self) -> bool:
        """The pod list knows this scope's pod (so a Pod scope means: no controller)."""
        return self.info(self.group.series[0]) is not None

    def _hpa_text(self) -> str:
        if self.hpas is None:
            return "not checked (no --hpa-json)"
        if self.group.scope.kind == "Pod":
            return ("none can apply: the pod has no controller" if self._mapped() else
                    "unknown: no owner mapping, HPAs cannot be matched (pass --pods-json)")
        found = _hpa_matches(self.hpas, self.group.scope)
        return f"{len(found)} HPA(s) target {self.group.scope.key}" if found else "no HPA targets this workload"

    def _evidence(self, evidence: Evidence) -> Evidence:
        return replace(evidence, notes=tuple(self.notes))

    def _confidence(self, samples: int, usage: Sequence[float], throttled: bool, **extra: float) -> Confidence:
        factors = {"samples": min(1.0, samples / (3.0 * self.policy.min_samples))}
        if "thread_intervals" not in extra:  # for a pinned thread the burstiness is the finding, not a doubt
            factors["steadiness"] = _steadiness(usage)
        if throttled:
            factors["censored_by_limit"] = CENSORED
        if self.hpas is None:
            factors["hpa_unchecked"] = HPA_UNCHECKED
        elif self.group.scope.kind == "Pod" and not self._mapped():
            factors["hpa_unmatched"] = HPA_UNMATCHED
        return Confidence.of({**factors, **extra})

    def _decide(self, usage: list[float], views: list[ThreadView], current: dict[str, Any],
                evidence: Evidence) -> list[Recommendation]:
        policy, scope = self.policy, self.group.scope
        margin = 1.0 + policy.margin_pct / 100.0
        request = max(policy.floor_m, round_up(percentile(usage, policy.percentile) * margin, policy.step_m))
        throttled = evidence.throttle_pct is not None and evidence.throttle_pct >= policy.throttle_pct
        pinned = [pinned_threads(v, policy.percentile, policy.saturated_cores, policy.min_thread_intervals)
                  for v in views]
        values: dict[str, Any] = {"request_m": request}
        kind, reason = Kind.REQUEST, (f"p{policy.percentile:g} of {len(usage)} samples is "
                                      f"{evidence.used_percentile_m}m; +{policy.margin_pct:g}% margin")
        extra: dict[str, float] = {}
        if any(pinned):
            kind, values, reason, extra = self._exclusive(pinned, request, reason, statistics.fmean(usage))
        info = self.info(self.group.series[0])
        containers = info.containers if info is not None else ()
        if len(containers) == 1:
            values["container"] = containers[0]
        elif kind is Kind.REQUEST:
            shares = self._shares(views)
            if shares:
                values["containers_m"] = {c: max(policy.floor_m, round_up(request * s, policy.step_m))
                                          for c, s in shares.items()}
        if current["limit_m"] and values["request_m"] > current["limit_m"]:
            self.notes.append(f"the request exceeds the current {current['limit_m']}m limit: raise the limit with it")
        outcome = adjust(_hpa_matches(self.hpas or [], scope), current["request_m"], values["request_m"],
                         policy.max_target_utilization_pct, containers) if scope.kind != "Pod" else None
        confidence = self._confidence(len(usage), usage, throttled, **extra)
        if outcome is not None:
            evidence = replace(evidence, hpa=outcome.text if not outcome.refused else evidence.hpa)
            if outcome.refused:
                return [Recommendation(Kind.REFUSED, scope, current, outcome.values, outcome.text,
                                       self._evidence(evidence), NO_CONFIDENCE)]
            values.update(outcome.values)
            if kind is Kind.REQUEST and "hpa" in outcome.values:
                kind = Kind.HPA_AWARE
        result = [Recommendation(kind, scope, current, values, reason, self._evidence(evidence), confidence)]
        if throttled and current["limit_m"]:
            result.append(self._limit(usage, current, evidence, values["request_m"], confidence))
        return result

    def _exclusive(self, pinned: list[list[PinnedThread]], request: int, reason: str,
                   mean_m: float) -> tuple[Kind, dict[str, Any], str, dict[str, float]]:
        policy = self.policy
        hottest = min((t for p in pinned for t in p), key=lambda t: -t.cores_at_percentile)
        try:
            profile, cores = hotcore.profile_for(self.group.scope.name, pinned)
        except hotcore.ProfileErrors as exc:
            self.notes.append(f"pinned thread {hottest.comm!r} found, but no valid profile for it: {exc}")
            return Kind.REQUEST, {"request_m": request}, reason, {}
        needed = sum(cores.values()) * 1000 * policy.threads_per_core
        values: dict[str, Any] = {
            "request_m": max(request, needed), "profile_yaml": profile, "annotation": hotcore.annotation_for(profile),
            "pinned": [{"comm": t.comm, "tid": t.tid, "container": t.container,
                        "cores_at_percentile": round(t.cores_at_percentile, 3), "mean_cores": round(t.mean_cores, 3),
                        "intervals": t.intervals} for p in pinned for t in p],
            "requires": [f"tier critical or high (pod is {self.group.series[-1].samples[-1].tier})",
                         f"request >= {needed}m: {sum(cores.values())} core(s) x 1000m x "
                         f"{policy.threads_per_core} CPU(s) per core (--threads-per-core)"]}
        text = (f"thread {hottest.comm!r} (tid {hottest.tid}) needs a whole core at p{policy.percentile:g} "
                f"({hottest.cores_at_percentile:.2f} cores) while the pod's mean is {mean_m:.0f}m: a larger request "
                "cannot speed up one thread, an exclusive core removes its queueing")
        intervals = min(t.intervals for p in pinned for t in p)
        return (Kind.EXCLUSIVE_CORE_PROFILE, values, text,
                {"thread_intervals": min(1.0, intervals / (3.0 * policy.min_thread_intervals))})

    def _limit(self, usage: list[float], current: dict[str, Any], evidence: Evidence, request: int,
               confidence: Confidence) -> Recommendation:
        policy, limit = self.policy, int(current["limit_m"])
        share = (evidence.throttle_pct or 0.0) / 100.0
        wanted = max(limit * (1.0 + share), percentile(usage, 99) * (1.0 + policy.margin_pct / 100.0), request)
        new = max(round_up(wanted, policy.step_m), limit + policy.step_m)
        reason = (f"{evidence.throttle_pct}% of CFS periods throttled under the {limit}m limit "
                  f"(threshold {policy.throttle_pct:g}%); usage is censored at the limit, so this is a lower "
                  "bound: apply, observe, re-run")
        return Recommendation(Kind.LIMIT, self.group.scope, current, {"limit_m": new}, reason,
                              self._evidence(evidence), confidence)


def analyse(documents: Sequence[Document], policy: Policy | None = None, hpas: Any = None,
            pods: Any = None) -> Report:
    """Pure: every scope's recommendations, plus notes about skipped input.

    ``hpas`` / ``pods``: the parsed JSON of ``kubectl get hpa -A -o json`` and
    ``kubectl get pods -A -o json`` (or None). Raises ``InputError`` for unusable input."""
    policy = policy or Policy()
    observed = observe(documents)
    infos = decode_pods(pods) if pods is not None else None
    hpa_list = decode_hpas(hpas) if hpas is not None else None
    notes = list(observed.notes)
    if infos is None:
        notes.append("no --pods-json: pods are not mapped to workloads, each pod is its own scope")
    series_times = [s.samples[-1].t for s in observed.pods.values() if s.samples]
    if not series_times:
        return Report((), (*notes, "no pods in the documents"))
    latest = max(series_times)
    result: list[Recommendation] = []
    for group in _groups(observed, infos):
        result.extend(_Scoped(group, observed, policy, infos, hpa_list, latest).run())
    return Report(tuple(result), tuple(notes))


def recommend(documents: Sequence[Document], policy: Policy | None = None, hpas: Any = None,
              pods: Any = None) -> list[Recommendation]:
    """The management plane's entry point: ``analyse(...).recommendations``."""
    return list(analyse(documents, policy, hpas, pods).recommendations)
