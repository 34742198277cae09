"""Builders of ``/observe`` document sequences for the rightsizer's tests (the agent's wire shape)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from temper.rightsize import Document

T0 = 1_790_000_000.0
STEP = 15.0
AGENT = "http://agent-a:9100"


@dataclass
class PodTrack:
    """One pod over time: usage per sample, optional limit counters and thread rates."""

    uid: str
    name: str
    used_m: Sequence[float]
    request_m: int | None = 1000
    limit_m: int | None = None
    tier: str = "high"
    namespace: str = "default"
    first_index: int = 0
    throttled_per_step: tuple[int, int] | None = None
    """(periods, throttled) added per sample."""
    thread_rates: Mapping[tuple[int, str, str | None], Sequence[float]] = field(default_factory=dict)
    """(tid, comm, container) -> cores per interval (index i = interval ending at sample i)."""


def documents(tracks: Sequence[PodTrack], *, threads: bool = True, source: str = AGENT,
              length: int | None = None) -> list[Document]:
    total = length or max(t.first_index + len(t.used_m) for t in tracks)
    docs = []
    cpu: dict[tuple[str, int, str], float] = {}
    for index in range(total):
        t = T0 + index * STEP
        pods: list[dict[str, Any]] = []
        section: dict[str, Any] = {}
        for track in tracks:
            k = index - track.first_index
            if not 0 <= k < len(track.used_m):
                continue
            throttling = None
            if track.throttled_per_step is not None:
                periods, throttled = track.throttled_per_step
                throttling = {"nr_periods": periods * (k + 1), "nr_throttled": throttled * (k + 1),
                              "throttled_seconds": throttled * (k + 1) * 0.02}
            pods.append({"uid": track.uid, "namespace": track.namespace, "name": track.name, "tier": track.tier,
                         "qos": "Burstable", "phase": "Running", "request_m": track.request_m,
                         "limit_m": track.limit_m, "used_m": track.used_m[k], "pressure_pct": 1.5,
                         "throttling": throttling})
            rows = []
            for (tid, comm, container), rates in track.thread_rates.items():
                key = (track.uid, tid, comm)
                cpu[key] = cpu.get(key, 0.0) + (rates[k] * STEP * 1e9 if k else 0.0)
                slices = 10 * (k + 1)
                rows.append({"tid": tid, "comm": comm, "container": container, "state": "R",
                             "cpu_ns": int(cpu[key]), "wait_ns": slices * 2_000_000, "timeslices": slices,
                             "last_cpu": 0})
            if rows:
                section[track.uid] = {"total": len(rows), "shown": len(rows), "truncated": False, "threads": rows,
                                      "rest": {"threads": 0, "cpu_ns": 0, "wait_ns": 0, "timeslices": 0}}
        body: dict[str, Any] = {"node": "node-a", "pods": pods}
        if threads:
            body["threads"] = {"schema": "temper.threads/v1", "taken_at": t, "top_k": 16, "pods": section}
        docs.append(Document(t, source, body))
    return docs


def api_pod(uid: str, name: str, *, owner: tuple[str, str] | None = None, template_hash: str | None = None,
            containers: Sequence[str] = ("app",), started: str | None = None,
            namespace: str = "default") -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": uid, "name": name, "namespace": namespace, "labels": {}}
    if template_hash:
        meta["labels"]["pod-template-hash"] = template_hash
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True, "uid": "x"}]
    status: dict[str, Any] = {"phase": "Running"}
    if started:
        status["startTime"] = started
    return {"kind": "Pod", "metadata": meta, "spec": {"containers": [{"name": c} for c in containers]},
            "status": status}


def hpa(name: str, target: str, utilization: int, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "minReplicas": 1, "maxReplicas": 10,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": utilization}}}]},
            "status": {"currentReplicas": 2}}
