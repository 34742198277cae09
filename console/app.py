"""The console's aiohttp app: auth middleware, an in-memory cache fed by list+watch, the routes.

Design: handlers decode the request, call a pure function of the cache (``page``), and encode a
``console.models`` model. The cache (``console.explorer``: nodes, pods, workloads) is filled by
``temper.kube.reflector.reflect`` (LIST then WATCH from the resourceVersion) inside a
``cleanup_ctx`` lifetime that ``console.explorer_api.install`` registers, with the explorer's
handlers; lists are kept sorted by key (``console.index``) so a page with limit/continue is a
bisect plus a slice, never a full scan per request.
Tokens: ``--token NAME:ROLE:SECRET`` (bootstrap), held as HMAC-SHA256 digests, so the secret is
never held in the clear after start; named tokens, TokenReview, the role check and the audit of
denied mutations are ``console.auth``; the audited actions are ``console.actions``.
Feature modules register through one table each, keyed like ``ROUTES`` by (method, path):
``console.actions.HANDLERS``, ``console.savings_api.ROUTE_HANDLERS`` and
``console.hub.ROUTE_HANDLERS``; ``console.hub`` adds its proxy middleware *after* ``auth``, so
the hub's role check (and audit of denials) always runs before a request reaches a peer. The
explorer's handlers are keyed by path (``console.explorer_api.install``; all GET).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from console import models as m
from console.actions import HANDLERS
from console.agents import AgentClient
from console.auth import auth
from console.explorer import DEFAULT_AGENT_SELECTOR, POD_FACETS
from console.explorer_api import install
from console.index import Index, page, page_json
from console.openapi import ROUTES, spec
from console.peers import HubConfig
from console.plane import PLANE, ActionConfig, Plane, plane_lifetime
from console.responses import encode, encode_json, error
from console.savings import SavingsConfig
from console.summaries import node_summary, pod_summary
from console.ui import add_ui_routes
from temper.kube.client import ApiClient

__all__ = ["Index", "Settings", "create_app", "encode", "error", "node_summary", "page", "pod_summary",
           "token_digest"]


@dataclass
class Settings:
    cluster_name: str = "local"
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    """HMAC digest -> (name, role)."""
    secret: bytes = b"console"
    actions: ActionConfig = field(default_factory=ActionConfig)
    """Tokens store, audit, agents (``--agent-url``, shared with savings and the explorer),
    safe-mode switch (``console.plane``)."""
    savings: SavingsConfig = field(default_factory=SavingsConfig)
    """Price book, data dir, usage sampling (``console.savings_api``)."""
    hub: HubConfig = field(default_factory=HubConfig)
    """Peer registry and outbound-only dialing (``console.hub``); both off by default."""
    agent_selector: str = DEFAULT_AGENT_SELECTOR
    """Labels (k=v,...) of the agent pods: ``{ip}`` in ``actions.agent_url`` is the IP of the agent
    pod on the node for every agent request — explorer, trace actions, savings sampler — (the
    node's InternalIP when none is known; ``console.agents.locate``)."""


NODES = web.AppKey("nodes", Index)
PODS = web.AppKey("pods", Index)
SETTINGS = web.AppKey("settings", Settings)
API = web.AppKey("api", ApiClient)


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
    return encode_json(page_json(request.app[NODES], *_paging(request)))


def create_app(api: ApiClient, settings: Settings) -> web.Application:
    # imported here, not on top: both modules import this one's keys and helpers
    from console import hub as hub_mode
    from console import savings_api
    app = web.Application(middlewares=[auth])
    app[API], app[SETTINGS], app[NODES], app[PODS] = api, settings, Index(), Index(POD_FACETS)
    agents = AgentClient(settings.actions.agent_url)  # the one locator + /observe client
    app[PLANE] = Plane(settings.actions, settings.cluster_name, api, settings.tokens, settings.secret,
                       lambda: app[NODES].items, agents)
    app.router.add_get("/api/v1/openapi.json", openapi)
    handlers: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
        "/api/v1/healthz": healthz, "/api/v1/whoami": whoami, "/api/v1/clusters": clusters,
        "/api/v1/clusters/{c}/nodes": nodes}
    handlers |= install(app, api, settings.cluster_name, app[NODES], app[PODS], agents, settings.agent_selector)
    by_method = {**HANDLERS, **savings_api.ROUTE_HANDLERS, **hub_mode.ROUTE_HANDLERS}
    for method, path, _, _ in ROUTES:
        app.router.add_route(method.upper(), path, by_method.get((method, path)) or handlers[path])
    savings_api.install(app)
    hub_mode.install(app)
    add_ui_routes(app)
    app.cleanup_ctx.append(plane_lifetime)
    return app


def token_digest(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()
