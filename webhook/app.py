"""The webhook's aiohttp applications: HTTPS ``POST /mutate`` and plain-HTTP metrics/health.

Why this module exists: it is the thin adapter between HTTP and the pure policy. The handler
decodes (``webhook.review.decode_review``), looks the namespace's labels up in the
``webhook.namespaces.NamespaceSource`` (a dictionary lookup, never an API call), calls
(``webhook.policy.admit``), encodes (``webhook.review.encode_response``) — nothing more.
Errors are mapped to HTTP status in one place, the ``errors`` middleware:
``WebhookError.status`` (400 for ``BadReview``), with a JSON ``{"message": ...}`` body.
``admit`` is total, so a well-formed review always gets a 200.

Two applications, two ports: ``/mutate`` is reachable by the API server over TLS; ``/metrics``,
``/healthz`` and ``/readyz`` are for Prometheus and kubelet probes on a separate plain-HTTP
port, so the serving certificate never has to cover them and a scrape never competes with
admissions. ``/readyz`` is 503, with every reason that applies (``not ready: A; B``), while
either

- no serving certificate is loaded, or it has expired (``temper.tls.CertReloader.serving_problem``),
- or the namespace source is not ready (no LIST yet, or its watch failing): nothing would be
  scaled meanwhile, so the replica steps out of the Service.

``webhook.main`` starts the metrics port after the HTTPS port listens, so a reachable
``/readyz`` also means TLS is up.

Lifetimes (``cleanup_ctx`` of the admission app): the namespace source's API client and watch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from temper.tls import CertReloader
from webhook.manifest import OPT_IN_LABEL, OPT_IN_VALUE
from webhook.metrics import WebhookMetrics
from webhook.namespaces import NamespaceSource
from webhook.policy import Decision, Outcome, PolicyConfig, Reason, admit
from webhook.review import WebhookError, decode_review, encode_response

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
"""The API server caps an object at ~3 MiB (etcd's request limit); a review wraps one."""

POLICY: web.AppKey[PolicyConfig] = web.AppKey("policy", PolicyConfig)
METRICS: web.AppKey[WebhookMetrics] = web.AppKey("metrics", WebhookMetrics)
NAMESPACES: web.AppKey[NamespaceSource] = web.AppKey("namespaces")
RELOADER: web.AppKey[CertReloader | None] = web.AppKey("reloader")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WebhookError as exc:
        if exc.status >= 500:
            log.exception("webhook error")
        if METRICS in request.app:
            request.app[METRICS].record_bad_request()
        return web.Response(status=exc.status, body=orjson.dumps({"message": str(exc)}),
                            content_type="application/json")


async def mutate(request: web.Request) -> web.Response:
    started = time.perf_counter()
    review = decode_review(await request.read())
    namespaces = request.app[NAMESPACES]
    decision = admit(review, request.app[POLICY], namespaces.labels(review.namespace))
    body = encode_response(review.uid, decision.result)
    metrics = request.app[METRICS]
    metrics.record(decision)
    if decision.outcome is Outcome.UNHANDLED:
        log.warning("pod %s (request %s) left unchanged: %s", review.object_label, review.uid,
                    "; ".join(decision.result.warnings))
    elif decision.reason in (Reason.NAMESPACE_UNKNOWN, Reason.NAMESPACE_NOT_OPTED_IN):
        log.debug("pod %s (request %s) left unchanged: namespace %s", review.object_label, review.uid,
                  _namespace_why(decision, namespaces))
    metrics.latency.observe(time.perf_counter() - started)
    return web.Response(body=body, content_type="application/json")


def _namespace_why(decision: Decision, namespaces: NamespaceSource) -> str:
    if decision.reason is Reason.NAMESPACE_NOT_OPTED_IN:
        return f"does not carry the label {OPT_IN_LABEL}={OPT_IN_VALUE}"
    return f"labels unknown ({namespaces.not_ready() or 'not in the namespace cache yet'})"


async def _namespace_source(app: web.Application) -> AsyncIterator[None]:
    async with app[NAMESPACES].running():
        yield


def make_app(policy: PolicyConfig, metrics: WebhookMetrics, namespaces: NamespaceSource) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=MAX_BODY_BYTES)
    app[POLICY] = policy
    app[METRICS] = metrics
    app[NAMESPACES] = namespaces
    app.router.add_post("/mutate", mutate)
    app.cleanup_ctx.append(_namespace_source)
    return app


async def metrics_page(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    problems = [problem for problem in (_certificate_problem(request.app[RELOADER]),
                                        request.app[NAMESPACES].not_ready()) if problem]
    if problems:
        return web.Response(status=503, text=f"not ready: {'; '.join(problems)}\n")
    return web.Response(text="ok\n")


def _certificate_problem(reloader: CertReloader | None) -> str | None:
    return "no serving certificate loaded" if reloader is None else reloader.serving_problem()


def make_metrics_app(metrics: WebhookMetrics, namespaces: NamespaceSource,
                     reloader: CertReloader | None) -> web.Application:
    """``/metrics``, ``/healthz``, ``/readyz``. ``namespaces`` is the admission app's source (its
    lifetime belongs to that app); ``reloader`` is the HTTPS port's certificate, None meaning
    none is loaded (``/readyz`` 503)."""
    app = web.Application()
    app[METRICS] = metrics
    app[NAMESPACES] = namespaces
    app[RELOADER] = reloader
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
