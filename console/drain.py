"""Node drain: which pods leave, which a PodDisruptionBudget holds back, and the eviction loop.

Pure part (``plan``): from the node's pods and the cluster's PDBs, as the API returns them.
- Skipped (never evicted, as ``kubectl drain --ignore-daemonsets`` does): DaemonSet pods (their
  controller would put them straight back), mirror pods (static; the API cannot evict them),
  and finished pods (Succeeded/Failed hold no CPU).
- A PDB covers a pod when it is in the same namespace and its selector matches the pod's labels
  (``matchLabels`` and ``matchExpressions``; an empty selector matches every pod of the
  namespace, a missing one none — policy/v1 semantics). Pods are taken in name order; each
  evictable pod uses one of ``status.disruptionsAllowed`` of every PDB covering it; a pod for
  which some covering PDB has none left is a blocker. This is a preview: the budget refills as
  replacements become ready, which is why the drain loop retries blockers until its deadline.

I/O part (``run_drain``): POST ``/api/v1/namespaces/NS/pods/NAME/eviction`` (policy/v1
Eviction; dry run sends ``deleteOptions.dryRun: ["All"]``) for every pod, concurrently up to
``EVICTION_CONCURRENCY``. ``429`` (a PDB said no) is retried every ``retry_s`` until the
deadline; ``404`` means already gone; any other error is final for that pod. After the
evictions it waits, until the same deadline, for the evicted pods to leave the node. The
result is always complete: ``evicted`` (gone), ``blocked`` (with the API's reason),
``pending`` (eviction accepted but still terminating, or never accepted before the deadline).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from console import models as m
from temper.kube.client import ApiClient, ApiError

EVICTION_CONCURRENCY = 16
FINISHED_PHASES = ("Succeeded", "Failed")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def key_of(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector against labels (None matches nothing, {} everything)."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expression in selector.get("matchExpressions") or []:
        k, op, values = expression.get("key", ""), expression.get("operator", ""), expression.get("values") or []
        present = k in labels
        if op == "In" and not (present and labels[k] in values):
            return False
        if op == "NotIn" and present and labels[k] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def skip_reason(pod: Mapping[str, Any]) -> str | None:
    meta = pod.get("metadata") or {}
    if any(o.get("kind") == "DaemonSet" and o.get("controller") for o in meta.get("ownerReferences") or []):
        return "DaemonSet-managed"
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return "mirror pod (static)"
    if (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
        return "finished"
    return None


@dataclass(frozen=True)
class Plan:
    evictions: list[str]
    blockers: list[m.Blocker]
    skipped: list[m.Blocked]

    def preview(self) -> m.DrainPreview:
        return m.DrainPreview(evictions=self.evictions, blockers=self.blockers, skipped=self.skipped)


def plan(pods: list[dict[str, Any]], pdbs: list[dict[str, Any]]) -> Plan:
    """Pure: every pod lands in exactly one of evictions, blockers, skipped."""
    budget = {key_of(p): int((p.get("status") or {}).get("disruptionsAllowed", 0) or 0) for p in pdbs}
    evictions: list[str] = []
    blockers: list[m.Blocker] = []
    skipped: list[m.Blocked] = []
    for pod in sorted(pods, key=key_of):
        key = key_of(pod)
        reason = skip_reason(pod)
        if reason is not None:
            skipped.append(m.Blocked(pod=key, reason=reason))
            continue
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        labels = (pod.get("metadata") or {}).get("labels") or {}
        covering = [key_of(p) for p in pdbs if (p.get("metadata") or {}).get("namespace") == namespace
                    and selector_matches((p.get("spec") or {}).get("selector"), labels)]
        exhausted = [c for c in covering if budget[c] <= 0]
        if exhausted:
            blockers.append(m.Blocker(pod=key, pdb=exhausted[0],
                                      reason=f"PodDisruptionBudget {exhausted[0]} allows no more disruptions"))
            continue
        for c in covering:
            budget[c] -= 1
        evictions.append(key)
    return Plan(evictions, blockers, skipped)


def eviction_body(key: str, dry_run: bool) -> dict[str, Any]:
    namespace, _, name = key.partition("/")
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": name, "namespace": namespace}}
    if dry_run:
        body["deleteOptions"] = {"dryRun": ["All"]}
    return body


@dataclass
class Outcome:
    evicted: list[str] = field(default_factory=list)
    blocked: list[m.Blocked] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.blocked or self.pending)


async def node_pods(api: ApiClient, node: str) -> list[dict[str, Any]]:
    listing = await api.get("/api/v1/pods", {"fieldSelector": f"spec.nodeName={node}"})
    return list(listing.get("items") or [])


async def preview(api: ApiClient, node: str) -> Plan:
    pods = await node_pods(api, node)
    pdbs = (await api.get("/apis/policy/v1/poddisruptionbudgets")).get("items") or []
    return plan(pods, list(pdbs))


async def run_drain(api: ApiClient, node: str, keys: list[str], timeout_s: float, dry_run: bool,
                    retry_s: float, clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Evict ``keys`` (``ns/name``) from ``node`` until done or ``timeout_s``; never raises for one pod."""
    deadline = clock() + timeout_s
    gate = asyncio.Semaphore(EVICTION_CONCURRENCY)
    waiting: dict[str, str] = {k: "not attempted before the deadline" for k in keys}
    accepted: list[str] = []
    final: dict[str, str] = {}

    async def evict(key: str) -> None:
        namespace, _, name = key.partition("/")
        async with gate:
            left = deadline - clock()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(api.post(f"/api/v1/namespaces/{namespace}/pods/{name}/eviction",
                                                eviction_body(key, dry_run)), left)
            except ApiError as exc:
                if exc.status == 404:
                    accepted.append(key)
                    waiting.pop(key, None)
                elif exc.status == 429:
                    waiting[key] = exc.message or "the disruption budget allows no eviction now"
                else:
                    final[key] = f"eviction refused ({exc.status}): {exc.message}"
                    waiting.pop(key, None)
                return
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                waiting[key] = f"eviction call failed: {type(exc).__name__}"
                return
            accepted.append(key)
            waiting.pop(key, None)

    while True:
        await asyncio.gather(*(evict(k) for k in list(waiting)))
        left = deadline - clock()
        if not waiting or left <= 0:
            break
        await asyncio.sleep(min(retry_s, left))
    outcome = Outcome(blocked=[m.Blocked(pod=k, reason=r) for k, r in sorted(final.items())])
    blocked_now = {k: r for k, r in waiting.items() if r != "not attempted before the deadline"}
    outcome.blocked += [m.Blocked(pod=k, reason=r) for k, r in sorted(blocked_now.items())]
    outcome.pending = sorted(k for k in waiting if k not in blocked_now)
    if dry_run:
        outcome.evicted = sorted(accepted)
        return outcome
    terminating = set(accepted)
    while terminating:
        try:
            present = {key_of(p) for p in await node_pods(api, node)}
        except (ApiError, aiohttp.ClientError, TimeoutError, ValueError):
            present = terminating
        outcome.evicted += sorted(terminating - present)
        terminating &= present
        left = deadline - clock()
        if not terminating or left <= 0:
            break
        await asyncio.sleep(min(0.5, left))
    outcome.evicted.sort()
    outcome.pending = sorted([*outcome.pending, *terminating])
    return outcome
