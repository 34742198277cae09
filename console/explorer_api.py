"""The explorer's /api/v1 handlers: hierarchy, live events, logs, manifests, performance.

Why it exists: ``console.app`` wires the router from ``console.openapi.ROUTES``; this module
supplies the handlers for the explorer's rows of that table (``HANDLERS``, keyed by path) and
the lifetime of what they read (``install``: the cache, the SSE hub, the agent client).
Each handler decodes (path and ``console.models`` query model), calls a pure function of the
cache or of one fetched object, and encodes a model — nothing more.

Errors: an unknown cluster, node, pod, workload or revision is a 404 before any API call (the
cache answers), bad parameters a 400, an API server failure a 502; an unreachable agent is not
an error (the view says ``agent.reachable: false`` and leaves measured fields null).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from console import models as m
from console.agents import AgentClient, Observation, layer_of
from console.explorer import DEFAULT_AGENT_SELECTOR, Explorer, node_detail, parse_selector, pod_detail
from console.index import Index, page_json
from console.logs import LogRequestError, log_params, proxy_log
from console.manifests import diff, revisions, strip, to_yaml
from console.performance import pod_performance
from console.responses import encode, encode_json, error, parse_query
from console.stream import DEFAULT_CAPACITY, EventHub, parse_kinds, serve_stream
from console.summaries import WORKLOAD_GROUPS, WORKLOAD_PLURALS, workload_key
from temper.kube.client import ApiClient, ApiError

EXPLORER = web.AppKey("explorer", Explorer)
HUB = web.AppKey("hub", EventHub)
AGENTS = web.AppKey("agents", AgentClient)
CLUSTER = web.AppKey("explorer_cluster", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---- helpers ---------------------------------------------------------------------------------
def _explorer(request: web.Request) -> Explorer:
    if request.match_info.get("c", request.app[CLUSTER]) != request.app[CLUSTER]:
        raise error(404, "no-cluster", f"unknown cluster {request.match_info['c']!r}")
    return request.app[EXPLORER]


def _pod(request: web.Request) -> tuple[Explorer, m.PodSummary]:
    explorer = _explorer(request)
    ns, name = request.match_info["ns"], request.match_info["name"]
    pod = explorer.pods.items.get(f"{ns}/{name}")
    if pod is None:
        raise error(404, "no-pod", f"no pod {ns}/{name}")
    return explorer, pod


def _workload(request: web.Request) -> tuple[Explorer, m.WorkloadSummary]:
    explorer = _explorer(request)
    kind, ns, name = request.match_info["kind"], request.match_info["ns"], request.match_info["name"]
    if kind not in WORKLOAD_PLURALS:
        raise error(404, "no-kind", f"unknown workload kind {kind!r}; one of {', '.join(WORKLOAD_PLURALS)}")
    workload = explorer.workloads.items.get(workload_key(kind, ns, name))
    if workload is None:
        raise error(404, "no-workload", f"no {kind} {ns}/{name}")
    return explorer, workload


async def _get(client: ApiClient, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        return await client.get(path, params)
    except ApiError as exc:
        if exc.status == 404:
            raise error(404, "gone", "the object is no longer on the API server") from None
        raise error(502, "api-unavailable", f"the API server answered {exc.status or 'nothing'}") from None
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):  # refused, reset, timed out, not JSON
        raise error(502, "api-unavailable", "the API server could not be reached") from None


def _workload_path(kind: str, namespace: str, name: str = "") -> str:
    base = f"/apis/{WORKLOAD_GROUPS[kind]}/namespaces/{namespace}/{WORKLOAD_PLURALS[kind]}"
    return f"{base}/{name}" if name else base


async def _observe(request: web.Request, node: str) -> Observation | m.AgentStatus:
    if not node:
        return m.AgentStatus(reachable=False, error="the pod is not bound to a node")
    return await request.app[AGENTS].observe(node)


# ---- hierarchy -------------------------------------------------------------------------------
def _page(request: web.Request, index: Index[Any], model: type[m.ListQuery], facets: tuple[str, ...]) -> web.Response:
    query = parse_query(request, model)
    where = {f: getattr(query, f) for f in facets if getattr(query, f)}
    return encode_json(page_json(index, query.limit, query.continue_, query.q, where))


async def pods(request: web.Request) -> web.Response:
    return _page(request, _explorer(request).pods, m.PodListQuery, ("node", "namespace"))


async def _pod_object(explorer: Explorer, summary: m.PodSummary) -> dict[str, Any]:
    return await _get(explorer.client, f"/api/v1/namespaces/{summary.namespace}/pods/{summary.name}")


async def node(request: web.Request) -> web.Response:
    explorer = _explorer(request)
    name = request.match_info["name"]
    summary = explorer.nodes.items.get(name)
    if summary is None:
        raise error(404, "no-node", f"no node {name!r}")
    observed = await _observe(request, name)
    return encode(node_detail(summary, explorer.pods.values_of("node", name), observed))


async def pod(request: web.Request) -> web.Response:
    explorer, summary = _pod(request)
    obj = await _pod_object(explorer, summary)
    observed = await _observe(request, summary.node)
    layer = layer_of(observed, summary.uid) if isinstance(observed, Observation) else None
    return encode(pod_detail(obj, summary, layer))


async def container(request: web.Request) -> web.Response:
    explorer, summary = _pod(request)
    obj = await _pod_object(explorer, summary)
    wanted = request.match_info["container"]
    found = next((c for c in pod_detail(obj, summary, None).containers if c.name == wanted), None)
    if found is None:
        raise error(404, "no-container", f"no container {wanted!r} in pod {summary.namespace}/{summary.name}")
    return encode(found)


async def workloads(request: web.Request) -> web.Response:
    return _page(request, _explorer(request).workloads, m.WorkloadListQuery, ("kind", "namespace"))


async def workload(request: web.Request) -> web.Response:
    explorer, summary = _workload(request)
    key = workload_key(summary.kind, summary.namespace, summary.name)
    return encode(m.WorkloadDetail(kind=summary.kind, namespace=summary.namespace, name=summary.name,
                                   replicas=summary.replicas, ready=summary.ready,
                                   pods=explorer.pods.values_of("workload", key)))


# ---- performance, logs, manifests ------------------------------------------------------------
async def performance(request: web.Request) -> web.Response:
    _, summary = _pod(request)
    observed = await _observe(request, summary.node)
    return encode(pod_performance(summary, observed, time.time()))


async def logs(request: web.Request) -> web.StreamResponse:
    explorer, summary = _pod(request)
    query = parse_query(request, m.LogQuery)
    try:
        params = log_params(query, summary.containers)
    except LogRequestError as exc:
        raise error(exc.status, "bad-container" if exc.status == 400 else "no-container", str(exc)) from None
    return await proxy_log(request, explorer.client, summary.namespace, summary.name, params)


async def pod_manifest(request: web.Request) -> web.Response:
    explorer, summary = _pod(request)
    obj = await _pod_object(explorer, summary)
    return encode(m.Manifest(manifest=to_yaml(strip(obj))))


async def workload_manifest(request: web.Request) -> web.Response:
    explorer, summary = _workload(request)
    obj = await _get(explorer.client, _workload_path(summary.kind, summary.namespace, summary.name))
    return encode(m.Manifest(manifest=to_yaml(strip(obj))))


async def _revisions(request: web.Request) -> list[Any]:
    explorer, summary = _workload(request)
    if summary.kind == "Job":
        return []
    obj = await _get(explorer.client, _workload_path(summary.kind, summary.namespace, summary.name))
    uid = str((obj.get("metadata") or {}).get("uid", ""))
    selector = (obj.get("spec") or {}).get("selector") or {}
    params = {}
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if isinstance(labels, dict) and labels and not selector.get("matchExpressions"):
        params["labelSelector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    plural = "replicasets" if summary.kind == "Deployment" else "controllerrevisions"
    listing = await _get(explorer.client, f"/apis/apps/v1/namespaces/{summary.namespace}/{plural}", params)
    return revisions(summary.kind, uid, [i for i in listing.get("items") or [] if isinstance(i, dict)])


async def revision_list(request: web.Request) -> web.Response:
    found = await _revisions(request)
    return encode(m.RevisionList(items=[m.Revision(revision=r.revision, created=r.created, name=r.name)
                                        for r in found]))


async def revision_diff(request: web.Request) -> web.Response:
    query = parse_query(request, m.DiffQuery)
    by_number = {r.revision: r for r in await _revisions(request)}
    for number in (query.from_, query.to):
        if number not in by_number:
            raise error(404, "no-revision", f"no revision {number}; recorded: "
                                            f"{', '.join(map(str, sorted(by_number))) or 'none'}")
    return encode(m.RevisionDiff(diff=diff(by_number[query.from_], by_number[query.to])))


# ---- live events -----------------------------------------------------------------------------
async def events(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, m.EventsQuery)
    try:
        kinds = parse_kinds(query.kinds)
    except ValueError as exc:
        raise error(400, "bad-kinds", str(exc)) from None
    return await serve_stream(request, request.app[HUB], kinds)


HANDLERS: dict[str, Handler] = {
    "/api/v1/events": events,
    "/api/v1/clusters/{c}/pods": pods,
    "/api/v1/clusters/{c}/nodes/{name}": node,
    "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}": pod,
    "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/containers/{container}": container,
    "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/performance": performance,
    "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/logs": logs,
    "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/manifest": pod_manifest,
    "/api/v1/clusters/{c}/workloads": workloads,
    "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}": workload,
    "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/manifest": workload_manifest,
    "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/revisions": revision_list,
    "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/revisions/diff": revision_diff,
}


def install(app: web.Application, client: ApiClient, cluster: str, nodes: Index[m.NodeSummary],
            pods_index: Index[m.PodSummary], agents: AgentClient, agent_selector: str = DEFAULT_AGENT_SELECTOR,
            stream_capacity: int = DEFAULT_CAPACITY) -> dict[str, Handler]:
    """Put the explorer's state on ``app`` and its lifetime in ``cleanup_ctx``; returns HANDLERS.
    ``agents`` is the console's one agent client: its address book becomes the explorer's cache
    (agent pod IPs, node InternalIPs), so every feature locates agents the same way."""
    hub = EventHub(cluster, stream_capacity)
    app[HUB], app[CLUSTER] = hub, cluster
    app[EXPLORER] = Explorer(client, hub, nodes, pods_index, parse_selector(agent_selector))
    agents.addresses = app[EXPLORER].agent_addresses
    app[AGENTS] = agents

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await client.__aenter__()
        task = asyncio.create_task(app[EXPLORER].run(), name="console-explorer")
        yield
        hub.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app[AGENTS].close()
        await client.close()

    async def stop_streams(app: web.Application) -> None:
        hub.close()

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(stop_streams)
    return dict(HANDLERS)
