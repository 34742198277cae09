"""Prometheus metrics of the webhook (``temper_webhook_*``, base units).

Why this module exists: an operator must see how many pods the webhook scaled, how many it
could not handle, and how long admissions take, without reading logs. Each ``WebhookMetrics``
owns its registry (no global state: tests and benchmarks build many apps in one process).
Labels are bounded and pre-initialised: ``outcome`` x ``tier`` (five tiers plus ``none`` for
requests that are not about a pod's tier) and ``reason`` from ``webhook.policy.Reason``.
Connection limits (``temper.serving``) are counted per port and exported at scrape time as
``temper_webhook_connections_{open,accepted_total,dropped_total}`` with ``listener`` =
``serving`` (HTTPS /mutate) or ``metrics``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from temper.serving import ConnectionCollector, ConnectionStats
from temper.tiers import Tier
from webhook.policy import Decision, Outcome, Reason

OUTCOMES = [o.value for o in Outcome] + ["bad_request"]
TIER_LABELS = [t.label for t in Tier] + ["none"]
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0)
"""Seconds; the decision takes ~100 µs, the API server gives up at timeoutSeconds (2 s)."""


class WebhookMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.admissions = Counter(
            "temper_webhook_admissions", "AdmissionReviews answered, by outcome and tier",
            ["outcome", "tier"], registry=self.registry)
        self.decisions = Counter(
            "temper_webhook_decisions", "Admission decisions by reason (why a pod was or was not scaled)",
            ["reason"], registry=self.registry)
        self.mutations = Counter(
            "temper_webhook_mutations", "Pods whose CPU requests were scaled down, by tier",
            ["tier"], registry=self.registry)
        self.cpu_removed = Counter(
            "temper_webhook_cpu_request_removed_cores", "CPU request removed from pods by scaling (cores)",
            ["tier"], registry=self.registry)
        self.latency = Histogram(
            "temper_webhook_admission_duration_seconds", "Time to answer POST /mutate",
            registry=self.registry, buckets=LATENCY_BUCKETS)
        for outcome in OUTCOMES:
            for tier in TIER_LABELS:
                self.admissions.labels(outcome, tier)
        for reason in Reason:
            self.decisions.labels(reason.value)
        for tier_obj in Tier:
            self.mutations.labels(tier_obj.label)
            self.cpu_removed.labels(tier_obj.label)
        self.serving_connections = ConnectionStats()
        self.metrics_connections = ConnectionStats()
        self.registry.register(ConnectionCollector(
            "temper_webhook", {"serving": self.serving_connections, "metrics": self.metrics_connections}))

    def record(self, decision: Decision) -> None:
        tier = decision.tier.label if decision.tier is not None else "none"
        self.admissions.labels(decision.outcome.value, tier).inc()
        self.decisions.labels(decision.reason.value).inc()
        if decision.outcome is Outcome.MUTATED:
            self.mutations.labels(tier).inc()
            self.cpu_removed.labels(tier).inc(decision.removed_milli / 1000)

    def record_bad_request(self) -> None:
        self.admissions.labels("bad_request", "none").inc()
