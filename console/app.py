"""The console's aiohttp app: auth middleware, an in-memory cache fed by list+watch, the routes.

Design: handlers decode the request, call a pure function of the cache (``page``), and encode a
``console.models`` model. The cache is filled by ``temper.kube.reflector.reflect`` (LIST then
WATCH from the resourceVersion) inside a ``cleanup_ctx`` lifetime; lists are kept sorted by key
so a page with limit/continue is a bisect plus a slice, never a full scan per request.
Tokens: ``--token NAME:ROLE:SECRET`` (bootstrap), held as HMAC-SHA256 digests, so the secret is
never held in the clear after start; named tokens, TokenReview, the role check and the audit of
denied mutations are ``console.auth``; the audited actions are ``console.actions``.
Feature modules register through one table each, keyed like ``ROUTES`` by (method, path):
``console.actions.HANDLERS``, ``console.savings_api.ROUTE_HANDLERS`` and
``console.hub.ROUTE_HANDLERS``; ``console.hub`` adds its proxy middleware *after* ``auth``, so
the hub's role check (and audit of denials) always runs before a request reaches a peer.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from console import models as m
from console.actions import HANDLERS
from console.agents import internal_ip
from console.auth import auth
from console.openapi import ROUTES, spec
from console.originals import original_request_milli
from console.peers import HubConfig
from console.plane import PLANE, ActionConfig, Plane, plane_lifetime
from console.pricing import node_price_facts
from console.savings import SavingsConfig
from console.ui import add_ui_routes
from temper.annotations import AnnotationError, decode_enforcement, decode_node_load
from temper.kube.client import ApiClient
from temper.kube.reflector import reflect
from temper.pods import PodError, decode_pod


@dataclass
class Settings:
    cluster_name: str = "local"
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    """HMAC digest -> (name, role)."""
    secret: bytes = b"console"
    actions: ActionConfig = field(default_factory=ActionConfig)
    """Tokens store, audit, agents (``--agent-url``, shared with savings), safe-mode switch
    (``console.plane``)."""
    savings: SavingsConfig = field(default_factory=SavingsConfig)
    """Price book, data dir, usage sampling (``console.savings_api``)."""
    hub: HubConfig = field(default_factory=HubConfig)
    """Peer registry and outbound-only dialing (``console.hub``); both off by default."""


class Index:
    """Summaries keyed by a sort key; paging by bisect on the key list."""

    def __init__(self) -> None:
        self.items: dict[str, BaseModel] = {}
        self.keys: list[str] = []

    def replace(self, entries: dict[str, BaseModel]) -> None:
        self.items = entries
        self.keys = sorted(entries)

    def upsert(self, key: str, value: BaseModel) -> None:
        if key not in self.items:
            bisect.insort(self.keys, key)
        self.items[key] = value

    def delete(self, key: str) -> None:
        if self.items.pop(key, None) is not None:
            self.keys.pop(bisect.bisect_left(self.keys, key))


def page(index: Index, limit: int, after: str, q: str) -> tuple[list[BaseModel], str | None, int]:
    """Pure: items after ``after`` (the continue token) matching ``q``, at most ``limit``."""
    start = bisect.bisect_right(index.keys, after) if after else 0
    out: list[BaseModel] = []
    last = ""
    for key in index.keys[start:]:
        if q and q not in key:
            continue
        if len(out) == limit:
            return out, last, len(index.keys)
        out.append(index.items[key])
        last = key
    return out, None, len(index.keys)


def node_summary(obj: dict[str, Any], pods: int) -> m.NodeSummary:
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations") or {}
    cpus, fenced, free, tiers = None, "", None, {}
    with contextlib.suppress(AnnotationError):
        load = decode_node_load(ann.get("infera.io/tier-load"))
        cpus, free = load.cpus, load.free_protected_milli
        fenced = ",".join(str(c) for c in sorted(load.fenced))
        tiers = {t.label: m.TierLoad(request_m=v.request_milli, used_m=v.used_milli, pressure_pct=v.pressure_pct)
                 for t, v in load.tiers.items()}
    enforcement = None
    with contextlib.suppress(AnnotationError):
        e = decode_enforcement(ann.get("infera.io/enforcement"))
        enforcement = m.Enforcement(state=e.state.value, reason=e.reason, kernel=e.kernel, since=e.since, exit=e.exit)
    return m.NodeSummary(name=str(meta.get("name")), cpus=cpus, enforcement=enforcement, fenced=fenced, free_m=free,
                         tiers=tiers, unschedulable=bool((obj.get("spec") or {}).get("unschedulable")),
                         instance_type=(meta.get("labels") or {}).get("node.kubernetes.io/instance-type"), pods=pods,
                         internal_ip=internal_ip(obj), **node_price_facts(obj))


def pod_summary(obj: dict[str, Any]) -> m.PodSummary | None:
    try:
        info = decode_pod(obj)
    except PodError:
        return None
    meta = obj.get("metadata") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
    original = original_request_milli(obj)
    return m.PodSummary(namespace=info.namespace, name=info.name, uid=info.uid, node=info.node_name,
                        phase=info.phase, tier=info.tier.label, profile=None, request_m=info.cpu_request_milli,
                        limit_m=info.cpu_limit_milli, original_request_m=original,
                        owner=m.Owner(kind=owners[0]["kind"], name=owners[0]["name"]) if owners else None,
                        containers=[c.get("name", "") for c in (obj.get("spec") or {}).get("containers", [])])


NODES = web.AppKey("nodes", Index)
PODS = web.AppKey("pods", Index)
SETTINGS = web.AppKey("settings", Settings)
API = web.AppKey("api", ApiClient)


ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
    502: web.HTTPBadGateway, 504: web.HTTPGatewayTimeout}


def error(status: int, code: str, message: str) -> web.HTTPException:
    """An ``ErrorResponse`` to raise from a list handler or the hub (status one of ``ERRORS``)."""
    body = m.ErrorResponse(error=m.ErrorBody(code=code, message=message)).model_dump_json()
    return ERRORS[status](text=body, content_type="application/json")


def encode(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(by_alias=True), content_type="application/json")


def _paging(request: web.Request) -> tuple[int, str, str]:
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise error(400, "bad-limit", "limit must be an integer") from None
    if not 1 <= limit <= 1000:
        raise error(400, "bad-limit", "limit must be in 1..1000")
    return limit, request.query.get("continue", ""), request.query.get("q", "")


def _cluster(request: web.Request) -> None:
    if request.match_info["c"] != request.app[SETTINGS].cluster_name:
        raise error(404, "no-cluster", f"unknown cluster {request.match_info['c']!r}")


async def healthz(request: web.Request) -> web.Response:
    return encode(m.Health(status="ok"))


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(spec())


async def whoami(request: web.Request) -> web.Response:
    name, role = request["who"]
    return encode(m.WhoAmI(name=name, role=role))


async def clusters(request: web.Request) -> web.Response:
    name = request.app[SETTINGS].cluster_name
    return encode(m.ClusterList(items=[m.Cluster(name=name, url="", local=True, reachable=True, since=None)]))


async def nodes(request: web.Request) -> web.Response:
    _cluster(request)
    items, cont, total = page(request.app[NODES], *_paging(request))
    return encode(m.NodePage.model_validate({"items": items, "continue": cont, "total": total}))


async def pods(request: web.Request) -> web.Response:
    _cluster(request)
    items, cont, total = page(request.app[PODS], *_paging(request))
    return encode(m.PodPage.model_validate({"items": items, "continue": cont, "total": total}))


async def _cache(app: web.Application) -> AsyncIterator[None]:
    client = app[API]
    await client.__aenter__()
    node_index, pod_index = app[NODES], app[PODS]
    pods_per_node: dict[str, int] = {}
    raw_nodes: dict[str, dict[str, Any]] = {}

    def on_nodes(items: list[dict[str, Any]]) -> None:
        raw_nodes.clear()
        raw_nodes.update({i["metadata"]["name"]: i for i in items})
        node_index.replace({k: node_summary(v, pods_per_node.get(k, 0)) for k, v in raw_nodes.items()})

    def on_node(kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            node_index.delete(name)
        else:
            node_index.upsert(name, node_summary(obj, pods_per_node.get(name, 0)))

    def on_pods(items: list[dict[str, Any]]) -> None:
        entries: dict[str, BaseModel] = {}
        pods_per_node.clear()
        for item in items:
            summary = pod_summary(item)
            if summary is not None:
                entries[f"{summary.namespace}/{summary.name}"] = summary
                pods_per_node[summary.node] = pods_per_node.get(summary.node, 0) + 1
        pod_index.replace(entries)

    def on_pod(kind: str, obj: dict[str, Any]) -> None:
        summary = pod_summary(obj)
        if summary is None:
            return
        key = f"{summary.namespace}/{summary.name}"
        if kind == "DELETED":
            pod_index.delete(key)
        else:
            pod_index.upsert(key, summary)

    tasks = [asyncio.create_task(reflect(client, "/api/v1/nodes", {}, on_nodes, on_node, lambda e: None)),
             asyncio.create_task(reflect(client, "/api/v1/pods", {}, on_pods, on_pod, lambda e: None))]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await client.close()


def create_app(api: ApiClient, settings: Settings) -> web.Application:
    # imported here, not on top: both modules import this one's keys and helpers
    from console import hub as hub_mode
    from console import savings_api
    app = web.Application(middlewares=[auth])
    app[API], app[SETTINGS], app[NODES], app[PODS] = api, settings, Index(), Index()
    app[PLANE] = Plane(settings.actions, settings.cluster_name, api, settings.tokens, settings.secret,
                       lambda: app[NODES].items)
    app.router.add_get("/api/v1/openapi.json", openapi)
    handlers = {"/api/v1/healthz": healthz, "/api/v1/whoami": whoami, "/api/v1/clusters": clusters,
                "/api/v1/clusters/{c}/nodes": nodes, "/api/v1/clusters/{c}/pods": pods}
    by_method = {**HANDLERS, **savings_api.ROUTE_HANDLERS, **hub_mode.ROUTE_HANDLERS}
    for method, path, _, _ in ROUTES:
        app.router.add_route(method.upper(), path, by_method.get((method, path)) or handlers[path])
    savings_api.install(app)
    hub_mode.install(app)
    add_ui_routes(app)
    app.cleanup_ctx.append(_cache)
    app.cleanup_ctx.append(plane_lifetime)
    return app


def token_digest(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()
