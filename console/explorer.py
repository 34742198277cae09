"""The explorer's cache: nodes, pods and workloads kept by list+watch, indexed, and published.

Why it exists: every explorer read (lists, a node's pods, a workload's pods) is answered from
memory in O(log n + page), and every change is published once to the SSE hub
(``console.stream``). Raw objects are not kept — only summaries (``console.summaries``) and
small maps: ReplicaSet -> Deployment (so a pod's owner is its workload) and node -> agent pod IP
(so ``console.agents`` reaches the node's agent there, else at the node's InternalIP). Detail
views fetch the one raw object they show from the API server.

Watched (``temper.kube.reflector.reflect``, one task per kind): nodes, pods, replicasets,
deployments, statefulsets, daemonsets, jobs — cluster-wide list+watch, listed in pages of
``LIST_PAGE_SIZE``.

Invariants:
- ``pods`` facets: ``node``, ``namespace``, ``workload`` (``Kind/namespace/name`` of the owner,
  see ``summaries.resolve_owner``); a node's ``pods`` count and a workload's ``pods`` count
  are the sizes of those facet lists, updated (and published) on every pod change.
- A change is published only when the summary changed (status heartbeats that change nothing
  the console shows are not sent). A wholesale re-list (start, 410 Gone, reconnect) publishes
  one ``reset`` instead of itemised changes: clients re-list.
- A ReplicaSet seen after its pods re-resolves exactly the pods filed under it.
- Callbacks never raise on bad objects: undecodable pods are skipped (``skipped`` counts them).
- After a full pod list the heap is frozen (``gc.freeze``) so full collections skip the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Mapping
from typing import Any

from console import models as m
from console.agents import Observation, cpu_roles, layers
from console.index import Index
from console.stream import EventHub
from console.summaries import (
    WORKLOAD_GROUPS,
    WORKLOAD_PLURALS,
    container_details,
    controller_of,
    labels_match,
    node_summary,
    pod_ip,
    pod_summary,
    pod_workload_key,
    resolve_owner,
    workload_key,
    workload_summary,
)
from temper.kube.client import ApiClient
from temper.kube.reflector import reflect

log = logging.getLogger("console.explorer")

POD_FACETS: dict[str, Callable[[m.PodSummary], str | None]] = {
    "node": lambda p: p.node or None,
    "namespace": lambda p: p.namespace,
    "workload": pod_workload_key,
}
WORKLOAD_FACETS: dict[str, Callable[[m.WorkloadSummary], str | None]] = {
    "kind": lambda w: w.kind,
    "namespace": lambda w: w.namespace,
}
DEFAULT_AGENT_SELECTOR = "app.kubernetes.io/component=agent"
LIST_PAGE_SIZE = 500
"""Items per LIST page (client-go's pager default): 30,000 pods arrive in 60 responses of ~2.5 MB
rather than one of ~150 MB."""
WORKLOAD_KINDS: tuple[m.WorkloadKind, ...] = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def parse_selector(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` -> a dict; raises ValueError on a term without ``=``."""
    out: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = term.partition("=")
        if not sep or not key:
            raise ValueError(f"selector term {term!r} is not key=value")
        out[key] = value
    return out


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


class Explorer:
    """The cache. ``run()`` is the list+watch lifetime (cancel it to stop)."""

    def __init__(self, client: ApiClient, hub: EventHub, nodes: Index[m.NodeSummary], pods: Index[m.PodSummary],
                 agent_selector: Mapping[str, str]) -> None:
        self.client, self.hub, self.nodes, self.pods = client, hub, nodes, pods
        self.workloads: Index[m.WorkloadSummary] = Index(WORKLOAD_FACETS)
        self.replica_sets: dict[str, str] = {}
        """"namespace/replicaset" -> the Deployment that controls it."""
        self.agent_selector = dict(agent_selector)
        self.agent_ips: dict[str, str] = {}
        """node -> the IP of the agent pod on it."""
        self._agent_pods: dict[str, str] = {}
        self.skipped = 0
        self.synced: set[str] = set()
        self.errors: dict[str, str] = {}

    # ---- lifetime --------------------------------------------------------------------------
    async def run(self) -> None:
        watches: list[tuple[str, str, Callable[[list[dict[str, Any]]], None], Callable[[str, dict[str, Any]], None]]]
        watches = [("nodes", "/api/v1/nodes", self.on_nodes, self.on_node),
                   ("pods", "/api/v1/pods", self.on_pods, self.on_pod),
                   ("replicasets", "/apis/apps/v1/replicasets", self.on_replica_sets, self.on_replica_set)]
        for kind in WORKLOAD_KINDS:
            watches.append((kind, f"/apis/{WORKLOAD_GROUPS[kind]}/{WORKLOAD_PLURALS[kind]}",
                            self._workload_replace(kind), self._workload_event(kind)))
        tasks = [asyncio.create_task(reflect(self.client, path, {}, replace, event, self._on_error(name),
                                             page_size=LIST_PAGE_SIZE), name=f"console-watch-{name}")
                 for name, path, replace, event in watches]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _on_error(self, name: str) -> Callable[[Exception], None]:
        def report(exc: Exception) -> None:
            self.errors[name] = type(exc).__name__
            log.warning("watch of %s failed (%s); re-listing", name, type(exc).__name__)
        return report

    # ---- nodes -----------------------------------------------------------------------------
    def agent_addresses(self, node: str) -> tuple[str | None, str | None]:
        """(the IP of the agent pod on ``node``, the node's InternalIP), either None when unknown:
        the address book of ``console.agents.AgentClient`` (which prefers the pod IP)."""
        summary = self.nodes.items.get(node)
        return self.agent_ips.get(node), (summary.internal_ip or None) if summary is not None else None

    def agent_ip(self, node: str) -> str | None:
        """Where the node's agent listens: its pod IP when seen, else the node's InternalIP."""
        pod, node_ip = self.agent_addresses(node)
        return pod or node_ip

    def on_nodes(self, items: list[dict[str, Any]]) -> None:
        entries = {}
        for obj in items:
            summary = node_summary(obj, 0)
            entries[summary.name] = summary.model_copy(update={"pods": len(self.pods.keys_of("node", summary.name))})
        self.nodes.replace(entries)
        self.synced.add("nodes")
        self.hub.reset("nodes re-listed")

    def on_node(self, change: str, obj: dict[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        if change == "DELETED":
            previous = self.nodes.delete(name)
            if previous is not None:
                self.hub.publish("nodes", "DELETED", previous)
            return
        summary = node_summary(obj, len(self.pods.keys_of("node", name)))
        self._upsert("nodes", self.nodes, name, summary)

    def _recount_node(self, name: str) -> None:
        summary = self.nodes.items.get(name)
        if summary is not None:
            self._upsert("nodes", self.nodes, name,
                         summary.model_copy(update={"pods": len(self.pods.keys_of("node", name))}))

    # ---- pods ------------------------------------------------------------------------------
    def _pod(self, obj: Mapping[str, Any]) -> m.PodSummary | None:
        summary = pod_summary(obj)
        if summary is None:
            self.skipped += 1
            return None
        owner = resolve_owner(summary.namespace, summary.owner, self.replica_sets)
        return summary if owner == summary.owner else summary.model_copy(update={"owner": owner})

    def on_pods(self, items: list[dict[str, Any]]) -> None:
        entries: dict[str, m.PodSummary] = {}
        self.agent_ips.clear()
        self._agent_pods.clear()
        for obj in items:
            summary = self._pod(obj)
            if summary is not None:
                entries[f"{summary.namespace}/{summary.name}"] = summary
            self._track_agent("ADDED", obj)
        self.pods.replace(entries)
        for name, node in list(self.nodes.items.items()):
            self.nodes.upsert(name, node.model_copy(update={"pods": len(self.pods.keys_of("node", name))}))
        for key, workload in list(self.workloads.items.items()):
            self.workloads.upsert(key, workload.model_copy(update={"pods": len(self.pods.keys_of("workload", key))}))
        self.synced.add("pods")
        self.hub.reset("pods re-listed")
        # The cache is the bulk of the heap and long-lived: keep it out of the cyclic collector's
        # full scans (0.36 s for 30,000 pod summaries on a loaded 2-core host), which would stall
        # every response and stream. Summaries are acyclic; replaced ones are freed by refcount.
        gc.freeze()

    def on_pod(self, change: str, obj: dict[str, Any]) -> None:
        self._track_agent(change, obj)
        namespace, name = _meta(obj)
        key = f"{namespace}/{name}"
        summary = None if change == "DELETED" else self._pod(obj)
        if summary is None:
            previous = self.pods.delete(key)
            if previous is not None:
                self.hub.publish("pods", "DELETED", previous)
        else:
            previous = self._upsert("pods", self.pods, key, summary)
        self._pod_moved(previous, summary)

    def _pod_moved(self, previous: m.PodSummary | None, current: m.PodSummary | None) -> None:
        """Recount the nodes and workloads a pod left or joined."""
        for node in {p.node for p in (previous, current) if p is not None and p.node}:
            self._recount_node(node)
        for key in {pod_workload_key(p) for p in (previous, current) if p is not None} - {None}:
            assert key is not None  # the set difference above removed None
            self._recount_workload(key)

    def _track_agent(self, change: str, obj: Mapping[str, Any]) -> None:
        if not self.agent_selector or not labels_match(self.agent_selector, obj):
            return
        namespace, name = _meta(obj)
        key = f"{namespace}/{name}"
        node = (obj.get("spec") or {}).get("nodeName")
        ip = pod_ip(obj)
        if change == "DELETED" or not isinstance(node, str) or ip is None:
            old = self._agent_pods.pop(key, None)
            if old is not None and change == "DELETED":
                self.agent_ips.pop(old, None)
            return
        self._agent_pods[key] = node
        self.agent_ips[node] = ip

    # ---- replica sets (owner resolution only) ----------------------------------------------
    def on_replica_sets(self, items: list[dict[str, Any]]) -> None:
        self.replica_sets = {}
        for obj in items:
            self._map_replica_set(obj)
        for facet in [k for k in self.pods.by["workload"] if k.startswith("ReplicaSet/")]:
            self._reresolve(facet, publish=False)
        for key in list(self.workloads.items):
            self._recount_workload(key, publish=False)
        self.synced.add("replicasets")

    def on_replica_set(self, change: str, obj: dict[str, Any]) -> None:
        namespace, name = _meta(obj)
        if change == "DELETED":
            self.replica_sets.pop(f"{namespace}/{name}", None)
            return
        if self._map_replica_set(obj):
            self._reresolve(workload_key("ReplicaSet", namespace, name), publish=True)

    def _map_replica_set(self, obj: Mapping[str, Any]) -> bool:
        owner = controller_of(obj)
        if owner is None or owner.kind != "Deployment":
            return False
        namespace, name = _meta(obj)
        self.replica_sets[f"{namespace}/{name}"] = owner.name
        return True

    def _reresolve(self, facet: str, publish: bool) -> None:
        for key in list(self.pods.keys_of("workload", facet)):
            pod = self.pods.items[key]
            owner = resolve_owner(pod.namespace, pod.owner, self.replica_sets)
            if owner != pod.owner:
                updated = pod.model_copy(update={"owner": owner})
                if publish:
                    previous = self._upsert("pods", self.pods, key, updated)
                    self._pod_moved(previous, updated)
                else:
                    self.pods.upsert(key, updated)

    # ---- workloads -------------------------------------------------------------------------
    def _workload_replace(self, kind: m.WorkloadKind) -> Callable[[list[dict[str, Any]]], None]:
        def replace(items: list[dict[str, Any]]) -> None:
            for key in list(self.workloads.keys_of("kind", kind)):
                self.workloads.delete(key)
            for obj in items:
                summary = self._workload(kind, obj)
                if summary is not None:
                    self.workloads.upsert(workload_key(kind, summary.namespace, summary.name), summary)
            self.synced.add(kind)
            self.hub.reset(f"{kind}s re-listed")
        return replace

    def _workload_event(self, kind: m.WorkloadKind) -> Callable[[str, dict[str, Any]], None]:
        def event(change: str, obj: dict[str, Any]) -> None:
            namespace, name = _meta(obj)
            key = workload_key(kind, namespace, name)
            if change == "DELETED":
                previous = self.workloads.delete(key)
                if previous is not None:
                    self.hub.publish("workloads", "DELETED", previous)
                return
            summary = self._workload(kind, obj)
            if summary is not None:
                self._upsert("workloads", self.workloads, key, summary)
        return event

    def _workload(self, kind: m.WorkloadKind, obj: Mapping[str, Any]) -> m.WorkloadSummary | None:
        namespace, name = _meta(obj)
        return workload_summary(kind, obj, len(self.pods.keys_of("workload", workload_key(kind, namespace, name))))

    def _recount_workload(self, key: str, publish: bool = True) -> None:
        summary = self.workloads.items.get(key)
        if summary is None:
            return
        updated = summary.model_copy(update={"pods": len(self.pods.keys_of("workload", key))})
        if publish:
            self._upsert("workloads", self.workloads, key, updated)
        else:
            self.workloads.upsert(key, updated)

    # ---- common ----------------------------------------------------------------------------
    def _upsert(self, kind: str, index: Index[Any], key: str, summary: Any) -> Any:
        previous = index.items.get(key)
        if previous == summary:
            return previous
        index.upsert(key, summary)
        self.hub.publish(kind, "MODIFIED" if previous is not None else "ADDED", summary)
        return previous


# ---- detail views (pure) ---------------------------------------------------------------------
def node_detail(summary: m.NodeSummary, pods: list[m.PodSummary],
                observed: Observation | m.AgentStatus) -> m.NodeDetail:
    """A node with its pods and their layers; live enforcement and the CPU map from the agent
    when it answered, else from the node's annotations."""
    observation = observed if isinstance(observed, Observation) else None
    agent = observed if isinstance(observed, m.AgentStatus) else m.AgentStatus(reachable=True, error=None)
    layer = layers(observation) if observation is not None else {}
    enforcement = summary.enforcement
    fenced = summary.fenced
    if observation is not None:
        if observation.enforcement is not None:
            enforcement = m.Enforcement(**observation.enforcement.model_dump())
        roles = cpu_roles(observation, None, "")
        if roles:
            fenced = ",".join(str(r.cpu) for r in roles if r.role == "fenced")
    return m.NodeDetail(
        name=summary.name, cpus=summary.cpus, enforcement=enforcement, fenced=fenced, free_m=summary.free_m,
        tiers=summary.tiers, unschedulable=summary.unschedulable, instance_type=summary.instance_type,
        pods=[m.NodePod(**p.model_dump(), layer=layer.get(p.uid)) for p in pods],
        cpu_roles=cpu_roles(observation, summary.cpus, summary.fenced), linter=None, agent=agent)


def pod_detail(obj: Mapping[str, Any], summary: m.PodSummary, layer: str | None) -> m.PodDetail:
    meta = obj.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    fields = summary.model_dump(exclude={"containers"})
    return m.PodDetail(**fields, containers=container_details(obj), layer=layer, labels=labels,
                       annotations=annotations)
