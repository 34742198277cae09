"""Prometheus metrics of the scheduler extender (``temper_extender_*``), one registry per app.

Why a registry per app: tests and benchmarks build many apps in one process; a private
``CollectorRegistry`` keeps their counters apart. Label sets are closed and pre-initialised
(every verb x outcome, every neutral reason), so dashboards see zeros, not gaps.

    temper_extender_requests_total{verb, outcome}        outcome: ok | bad_request | too_large | error
    temper_extender_neutral_scores_total{reason}         missing | malformed | stale | unknown_node
    temper_extender_request_duration_seconds{verb}       histogram, decode to encode
    temper_extender_node_cache_nodes                     nodes in the watch-fed cache
    temper_extender_node_watch_errors_total              list/watch failures (reflector backoff)
    temper_extender_connections_{open,accepted_total,dropped_total}{listener}
                                                         temper.serving's connection limits, for the
                                                         serving port and the --metrics-listen port
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from extender.scoring import NeutralReason
from temper.serving import ConnectionCollector, ConnectionStats

VERBS = ("prioritize", "filter")
OUTCOMES = ("ok", "bad_request", "too_large", "error")
LATENCY_BUCKETS_S = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""From well under the 1 ms target up to kube-scheduler's default 5 s httpTimeout."""


class ExtenderMetrics:
    def __init__(self, cache_size: Callable[[], float],
                 connections: Mapping[str, ConnectionStats] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(ConnectionCollector("temper_extender", connections or {"serving": ConnectionStats()}))
        self.requests = Counter("temper_extender_requests", "Extender requests by verb and outcome",
                                ["verb", "outcome"], registry=self.registry)
        self.neutral = Counter("temper_extender_neutral_scores", "Nodes scored neutral, by reason",
                               ["reason"], registry=self.registry)
        self.latency = Histogram("temper_extender_request_duration_seconds",
                                 "Time from request body read to reply encoded", ["verb"],
                                 buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.cache_nodes = Gauge("temper_extender_node_cache_nodes", "Nodes in the watch-fed node cache",
                                 registry=self.registry)
        self.cache_nodes.set_function(cache_size)
        self.watch_errors = Counter("temper_extender_node_watch_errors", "Node list/watch failures",
                                    registry=self.registry)
        # The children, resolved once: ``labels()`` takes a lock and builds a tuple per call.
        self.duration = {verb: self.latency.labels(verb) for verb in VERBS}
        self.outcome = {(verb, outcome): self.requests.labels(verb, outcome) for verb in VERBS for outcome in OUTCOMES}
        self.neutral_by_reason = {reason: self.neutral.labels(reason.value) for reason in NeutralReason}
