"""The extender's aiohttp application: a thin adapter from HTTP to ``extender.table``.

Why it exists: kube-scheduler calls ``POST <urlPrefix>/prioritize`` (and ``/filter`` when
configured) for every pod it schedules. Handlers here do exactly three things — read and
decode the body (``extender.wire``), call the pure scorer (``extender.table`` /
``extender.scoring``), encode the reply — plus metrics. No scoring logic lives here.

Routes: ``POST /prioritize`` always; ``POST /filter`` only when filtering is enabled (404
otherwise, so a misconfigured scheduler fails loudly rather than silently filtering);
``GET /healthz`` (process alive), ``GET /readyz`` (200 once the node cache has completed its
first LIST, or at once when no watch runs), ``GET /metrics``. No bind, no preempt. The last
three are also served by ``make_probe_app`` on a plain-HTTP port of their own
(``--metrics-listen``), so Prometheus and kubelet probes need neither the serving
certificate nor a way in to the port kube-scheduler calls.

Errors: the ``extender.wire.ExtenderError`` tree is mapped to a reply once, in
``error_middleware``: on ``/prioritize`` the HTTP status of the error with a plain-text
message; on ``/filter`` a 200 ``ExtenderFilterResult`` with ``Error`` set, which
kube-scheduler reports verbatim. Anything else is a bug: 500, logged, counted as ``error``.

Lifetimes (``cleanup_ctx``): the Kubernetes client and the node watch task, when a
``kube`` ApiConfig is given; the TLS ``CertReloader`` task when serving HTTPS. Connection
limits (cap, TLS handshake and request-head deadlines) are the listener's business:
``extender.main`` serves the app through ``temper.serving``, whose counters land in
``Settings.connections`` and on ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from extender.metrics import ExtenderMetrics
from extender.scoring import DEFAULT_STALE_AFTER_S, PodDemand, demand_of_pod
from extender.table import AssessmentMemo, NodeTable
from extender.wire import (
    BadRequest,
    DecodedArgs,
    ExtenderError,
    ExtenderFilterResult,
    PayloadTooLarge,
    decode_args,
)
from extender.wire import encode as encode_json
from temper.kube.client import ApiClient, ApiConfig
from temper.kube.nodecache import NodeWatch
from temper.pods import PodError
from temper.serving import ConnectionStats
from temper.tls import CertReloader

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 128 * 1024 * 1024
"""5,000 full Node objects at ~15 KiB each (status.images dominates) is ~75 MiB; refuse more."""
JSON = "application/json"


@dataclass
class Settings:
    filter_enabled: bool = False
    stale_after_s: float = DEFAULT_STALE_AFTER_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    kube: ApiConfig | None = None
    """Where to watch Nodes from; None: no watch (full-Node mode only, or a test-fed table)."""
    clock: Callable[[], float] = time.time
    reloader: CertReloader | None = None
    watch_failing_not_ready_s: float = 30.0
    """A node watch failing this long (no LIST or event since) makes ``/readyz`` 503: the
    data is going stale, and kube-scheduler should see that rather than scores from the past."""
    connections: ConnectionStats = field(default_factory=ConnectionStats)
    """The serving port's connection counters (``temper.serving.GuardedSite`` fills them)."""
    metrics_connections: ConnectionStats = field(default_factory=ConnectionStats)
    """The same for the ``--metrics-listen`` port, when there is one."""


@dataclass
class State:
    settings: Settings
    table: NodeTable = field(default_factory=NodeTable)
    memo: AssessmentMemo = field(default_factory=AssessmentMemo)
    watch: NodeWatch | None = None
    metrics: ExtenderMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = ExtenderMetrics(lambda: float(len(self.table)),
                                       {"serving": self.settings.connections,
                                        "metrics": self.settings.metrics_connections})


STATE = web.AppKey("state", State)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _verb(request: web.Request) -> str:
    return request.path.rsplit("/", 1)[-1]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where the ExtenderError tree becomes an HTTP reply."""
    state = request.app[STATE]
    verb = _verb(request)
    if verb not in ("prioritize", "filter"):
        return await handler(request)
    started = time.perf_counter()
    try:
        response = await handler(request)
        outcome = "ok"
    except ExtenderError as exc:
        outcome = "too_large" if isinstance(exc, PayloadTooLarge) else "bad_request"
        if verb == "filter":
            result: ExtenderFilterResult = {"Error": str(exc)}
            response = web.Response(body=encode_json(result), content_type=JSON)
        else:
            response = web.Response(status=exc.status, text=str(exc) + "\n")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("extender %s failed", verb)
        outcome = "error"
        response = web.Response(status=500, text="internal error (logged)\n")
    state.metrics.outcome[verb, outcome].inc()
    state.metrics.duration[verb].observe(time.perf_counter() - started)
    return response


async def _read_args(request: web.Request) -> DecodedArgs:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[STATE].settings.max_body_bytes
        raise PayloadTooLarge(f"request body exceeds {limit} bytes") from None
    return decode_args(body)


def _demand(args: DecodedArgs) -> PodDemand:
    try:
        return demand_of_pod(args.pod)
    except PodError as exc:
        raise BadRequest(f"ExtenderArgs.Pod: {exc}") from None


def _table_for(state: State, args: DecodedArgs) -> NodeTable:
    if args.nodes is not None:
        return NodeTable.of(args.nodes, state.memo)
    return state.table


async def prioritize(request: web.Request) -> web.Response:
    state = request.app[STATE]
    args = await _read_args(request)
    demand = _demand(args)
    now, stale = state.settings.clock(), state.settings.stale_after_s
    if args.nodes is not None:
        answer = NodeTable.of(args.nodes, state.memo).prioritize_once(args.keys, demand, now, stale)
    else:
        answer = state.table.prioritize(args.keys, demand, now, stale)
    for reason, count in answer.neutral.items():
        state.metrics.neutral_by_reason[reason].inc(count)
    return web.Response(body=answer.body, content_type=JSON)


async def filter_nodes(request: web.Request) -> web.Response:
    state = request.app[STATE]
    args = await _read_args(request)
    demand = _demand(args)
    names = args.names
    answer = _table_for(state, args).filter(names, demand, state.settings.clock(), state.settings.stale_after_s)
    result: ExtenderFilterResult = {
        "Nodes": None, "NodeNames": None, "FailedNodes": answer.failed,
        "FailedAndUnresolvableNodes": answer.unresolvable, "Error": "",
    }
    if args.node_items is not None:
        result["Nodes"] = {"apiVersion": "v1", "kind": "NodeList",
                           "items": [args.node_items[i] for i in answer.passed]}
    else:
        result["NodeNames"] = [names[i] for i in answer.passed]
    return web.Response(body=encode_json(result), content_type=JSON)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    watch = state.watch
    why = watch.unready_reason("node", state.settings.watch_failing_not_ready_s) if watch is not None else ""
    if why:
        return web.Response(status=503, text=why + "\n")
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[STATE].metrics.registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


async def _node_watch(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    config = state.settings.kube
    if config is None:
        yield
        return

    def on_error(exc: Exception) -> None:
        state.metrics.watch_errors.inc()
        log.warning("node watch: %s", exc)

    state.watch = NodeWatch(state.table, on_error)
    async with ApiClient(config) as client:
        task = asyncio.create_task(state.watch.run(client))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _cert_reload(app: web.Application) -> AsyncIterator[None]:
    reloader = app[STATE].settings.reloader
    if reloader is None:
        yield
        return
    task = asyncio.create_task(reloader.watch())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def make_app(settings: Settings | None = None, table: NodeTable | None = None) -> web.Application:
    """The application; pass ``table`` to serve a pre-filled cache (tests, benchmarks)."""
    settings = settings or Settings()
    state = State(settings)
    if table is not None:
        state.table = table
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[STATE] = state
    app.router.add_post("/prioritize", prioritize)
    if settings.filter_enabled:
        app.router.add_post("/filter", filter_nodes)
    _add_probes(app)
    app.cleanup_ctx.append(_node_watch)
    app.cleanup_ctx.append(_cert_reload)
    return app


def _add_probes(app: web.Application) -> None:
    for path, handler in (("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)):
        app.router.add_get(path, handler)


def make_probe_app(app: web.Application) -> web.Application:
    """``/healthz``, ``/readyz`` and ``/metrics`` of ``app`` (from ``make_app``), for a port of their own."""
    probes = web.Application()
    probes[STATE] = app[STATE]
    _add_probes(probes)
    return probes
