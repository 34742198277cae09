"""Handlers for the role-gated, audited part of /api/v1: tokens, audit, and operator actions.

Every mutation handler is ``audited(run)``: ``run`` decodes the request, fills in the audit
``Entry`` (target, parameters, previous state) as it learns them, performs the action and
returns a builder of the response model from the audit id. ``audited`` then writes exactly one
record whatever happened — the action's own outcome, an ``ActionError`` (bad input, conflict,
upstream failure: ``failed``, with the HTTP status it maps to), a cancellation or an unexpected
exception (``failed``, then re-raised) — so no path produces zero or two records. Denied
requests never reach a handler; the auth middleware writes their one record.

Audit result rule: ``allowed`` when the action's writes were all made, ``failed`` when some
were not (a partial drain is ``failed`` with the counts in ``detail``). Waiting for safe mode to
converge is observation, not a write: a node that has not converged in time makes the
response ``partial`` while the audit record stays ``allowed``.

Errors from upstream map once (``upstream_error``): API 404 -> 404, 409 -> 409, 400/422 -> 400,
anything else (including 403, which means the console's own RBAC is missing a verb) -> 502;
network failures -> 502, timeouts -> 504. A node agent without ``POST /traces`` -> 501.
Traces find the node's agent exactly as the explorer does (``Plane.agents``, the console's one
``console.agents.AgentClient``: the IP of the ``--agent-selector`` pod on the node, else the
node's InternalIP); a node with neither -> 502 ``no-agent-address``, and an unreachable agent ->
502 ``agent-unreachable`` naming the address used (on the fallback: "no agent pod ... known").
Actions and the Kubernetes calls they make (the chart's RBAC grants exactly these):

    cordon/uncordon   GET+PATCH nodes (merge patch spec.unschedulable)
    drain             GET+PATCH nodes, LIST pods and poddisruptionbudgets, CREATE pods/eviction
    rollout restart   GET+PATCH deployments|statefulsets|daemonsets (strategic merge patch of
                      spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"])
    safe mode         GET+PATCH nodes / the agent ConfigMap (annotation infera.io/safe-mode-requested,
                      which the node agents poll: nodeagent/safemode.py)
    tokens            CREATE tokenreviews (only with --tokenreview-group)
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ValidationError

from console import drain
from console import models as m
from console.agents import AgentAddress
from console.audit import Entry, to_csv, to_jsonl
from console.auth import action_of, error_response, target_of, with_hub_note
from console.plane import PLANE, Plane
from temper.annotations import SAFE_MODE_KEY, safe_mode_requested
from temper.kube.client import ApiError

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTARTABLE = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
"""A Kubernetes object name (DNS subdomain); anything else never reaches an API path."""
TRACE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_BODY = 64 * 1024
AGENT_TIMEOUT_S = 10.0
SQLITE_MAX_INT = 2**63 - 1
B = TypeVar("B", bound=BaseModel)
Outcome = Literal["ok", "dry-run", "partial", "failed"]
Build = Callable[[int], BaseModel]
Run = Callable[[web.Request, Plane, Entry], Awaitable[Build]]


class ActionError(Exception):
    """A request that cannot be carried out, with the HTTP status it answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def upstream_error(exc: Exception, what: str) -> ActionError:
    if isinstance(exc, ApiError):
        status = {404: 404, 409: 409, 400: 400, 422: 400}.get(exc.status, 502)
        code = {404: "not-found", 409: "conflict", 400: "invalid"}.get(status, "upstream")
        return ActionError(status, code, f"{what}: API server answered {exc.status}: {exc.message}")
    if isinstance(exc, TimeoutError):
        return ActionError(504, "upstream-timeout", f"{what}: timed out")
    return ActionError(502, "upstream", f"{what}: {type(exc).__name__}")


UPSTREAM = (ApiError, aiohttp.ClientError, TimeoutError, ValueError)


def encode(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(by_alias=True), content_type="application/json")


def name_param(request: web.Request, key: str) -> str:
    value = request.match_info[key]
    if not NAME.match(value):
        raise ActionError(400, "bad-name", f"{key} {value[:80]!r} is not a Kubernetes object name")
    return value


def check_cluster(request: web.Request, plane: Plane) -> None:
    if request.match_info.get("c", plane.cluster) != plane.cluster:
        raise ActionError(404, "no-cluster", f"unknown cluster {request.match_info['c'][:80]!r}")


async def body_of(request: web.Request, model: type[B]) -> B:
    """The JSON body as ``model``; an empty body means all defaults. 400 on anything else."""
    if (request.content_length or 0) > MAX_BODY:
        raise ActionError(400, "bad-body", f"body larger than {MAX_BODY} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise ActionError(400, "bad-body", f"body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise ActionError(400, "bad-body", "body is not JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ActionError(400, "bad-body", problems[:500]) from None


def audited(run: Run) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        plane = request.app[PLANE]
        name, role = request["who"]
        resource = request.match_info.route.resource
        entry = Entry(token=name, role=role, target=target_of(request),
                      action=action_of(request.method, resource.canonical if resource else request.path))
        try:
            try:
                check_cluster(request, plane)
                build = await run(request, plane, entry)
            except UPSTREAM as exc:
                raise upstream_error(exc, entry.action) from None
        except ActionError as exc:
            entry.result, entry.detail = "failed", f"{exc.status} {exc.code}: {exc.message}"
            record = await plane.audit.append(with_hub_note(entry, request))
            return error_response(exc.status, exc.code, f"{exc.message} (audit record {record.id})")
        except asyncio.CancelledError:
            entry.result, entry.detail = "failed", "cancelled before it finished (client gone or server stopping)"
            await plane.audit.append(with_hub_note(entry, request))
            raise
        except Exception as exc:
            entry.result, entry.detail = "failed", f"internal error: {type(exc).__name__}"
            await plane.audit.append(with_hub_note(entry, request))
            raise
        record = await plane.audit.append(with_hub_note(entry, request))
        return encode(build(record.id))
    return handler


def read(fn: Callable[[web.Request, Plane], Awaitable[web.StreamResponse]]
         ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A non-mutating handler: the same error mapping, no audit record."""
    async def handler(request: web.Request) -> web.StreamResponse:
        plane = request.app[PLANE]
        try:
            try:
                check_cluster(request, plane)
                return await fn(request, plane)
            except UPSTREAM as exc:
                raise upstream_error(exc, request.match_info.route.name or "read") from None
        except ActionError as exc:
            return error_response(exc.status, exc.code, exc.message)
    return handler


# ---- tokens --------------------------------------------------------------------------------
async def list_tokens(request: web.Request, plane: Plane) -> web.StreamResponse:
    return encode(m.TokenList(items=[m.TokenInfo(name=r.name, role=r.role, created=r.created,  # type: ignore[arg-type]  # roles are validated on the way in
                                                 last_used=r.last_used, revoked=r.revoked)
                                     for r in plane.tokens.rows()]))


async def create_token(request: web.Request, plane: Plane, entry: Entry) -> Build:
    wanted = await body_of(request, m.TokenRequest)
    entry.target, entry.parameters = f"token/{wanted.name}", wanted.model_dump()
    if wanted.name in {name for name, _ in plane.bootstrap.values()}:
        raise ActionError(409, "token-exists", f"{wanted.name!r} is a bootstrap token (--token)")
    secret = await plane.tokens.create(wanted.name, wanted.role)
    if secret is None:
        raise ActionError(409, "token-exists", f"a live token named {wanted.name!r} exists; revoke it first")
    return lambda audit_id: m.TokenCreated(name=wanted.name, role=wanted.role, token=secret, audit_id=audit_id)


async def revoke_token(request: web.Request, plane: Plane, entry: Entry) -> Build:
    name = name_param(request, "name")
    row = plane.tokens.get(name)
    if row is None or row.revoked:
        raise ActionError(404, "no-token", f"no live token named {name!r}")
    entry.previous = {"role": row.role, "revoked": False}
    await plane.tokens.revoke(name)
    return lambda audit_id: m.ActionResult(result="ok", audit_id=audit_id, detail=f"token {name} revoked")


# ---- audit ---------------------------------------------------------------------------------
def _time(request: web.Request, key: str) -> float | None:
    if key not in request.query:
        return None
    try:
        value = float(request.query[key])
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ActionError(400, "bad-time", f"{key} must be UNIX seconds (a number >= 0)")
    return value


async def list_audit(request: web.Request, plane: Plane) -> web.StreamResponse:
    raw_limit, raw_continue = request.query.get("limit", "100"), request.query.get("continue", "")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise ActionError(400, "bad-limit", "limit must be an integer in 1..1000")
    if raw_continue and not raw_continue.isdigit():
        raise ActionError(400, "bad-continue", "continue must be the token a previous page returned")
    limit = int(raw_limit)
    since, until = _time(request, "since"), _time(request, "until")
    if request.query.get("verify", "full") != "full":
        raise ActionError(400, "bad-verify", "verify takes only the value full")
    full = "verify" in request.query
    before = min(int(raw_continue), SQLITE_MAX_INT) if raw_continue else None  # ids never get that high
    items = await plane.audit.page(before, limit + 1, since, until)
    more = len(items) > limit
    items = items[:limit]
    return encode(m.AuditList.model_validate({"items": items, "chain_ok": await plane.audit.verify(full),
                                              "continue": str(items[-1].id) if more else None}))


async def export_audit(request: web.Request, plane: Plane) -> web.StreamResponse:
    fmt = request.query.get("format", "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise ActionError(400, "bad-format", "format must be jsonl or csv")
    since, until = _time(request, "since"), _time(request, "until")
    content_type = "application/jsonl" if fmt == "jsonl" else "text/csv"
    response = web.StreamResponse(headers={
        "Content-Type": f"{content_type}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="audit.{fmt}"'})
    await response.prepare(request)
    first = True
    async for batch in plane.audit.batches(since, until):
        lines = to_jsonl(batch) if fmt == "jsonl" else to_csv(batch, header=first)
        await response.write("".join(lines).encode())
        first = False
    if first and fmt == "csv":
        await response.write("".join(to_csv([])).encode())
    await response.write_eof()
    return response


# ---- nodes: cordon, drain ------------------------------------------------------------------
async def _node(plane: Plane, node: str) -> dict[str, Any]:
    return await plane.api.get(f"/api/v1/nodes/{node}")


def cordon(value: bool) -> Run:
    async def run(request: web.Request, plane: Plane, entry: Entry) -> Build:
        node = name_param(request, "node")
        before = bool(((await _node(plane, node)).get("spec") or {}).get("unschedulable"))
        entry.previous, entry.parameters = {"unschedulable": before}, {"unschedulable": value}
        await plane.api.patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": True if value else None}})
        detail = f"{node} was already {'cordoned' if value else 'schedulable'}" if before == value else ""
        return lambda audit_id: m.ActionResult(result="ok", audit_id=audit_id, detail=detail)
    return run


async def drain_preview(request: web.Request, plane: Plane) -> web.StreamResponse:
    node = name_param(request, "node")
    await _node(plane, node)
    return encode((await drain.preview(plane.api, node)).preview())


async def drain_node(request: web.Request, plane: Plane, entry: Entry) -> Build:
    node = name_param(request, "node")
    wanted = await body_of(request, m.DrainRequest)
    entry.parameters = wanted.model_dump()
    if node in plane.draining:
        raise ActionError(409, "drain-running", f"a drain of {node} is already running")
    plane.draining.add(node)
    try:
        before = bool(((await _node(plane, node)).get("spec") or {}).get("unschedulable"))
        entry.previous = {"unschedulable": before}
        await plane.api.patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": True}},
                              params={"dryRun": "All"} if wanted.dry_run else None)
        planned = await drain.preview(plane.api, node)
        keys = planned.evictions + [b.pod for b in planned.blockers]
        outcome = await drain.run_drain(plane.api, node, keys, wanted.timeout_seconds, wanted.dry_run,
                                        plane.config.drain_retry_s)
    finally:
        plane.draining.discard(node)
    result: Outcome = "dry-run" if wanted.dry_run else "partial" if outcome.partial else "ok"
    entry.result = "failed" if outcome.partial and not wanted.dry_run else "allowed"
    detail = (f"{result}: {len(outcome.evicted)} evicted, {len(outcome.blocked)} blocked, "
              f"{len(outcome.pending)} pending, {len(planned.skipped)} skipped")
    entry.detail = detail
    return lambda audit_id: m.DrainResult(result=result, audit_id=audit_id, detail=detail, evicted=outcome.evicted,
                                          blocked=outcome.blocked, pending=outcome.pending, partial=outcome.partial)


# ---- rollout restart -----------------------------------------------------------------------
async def restart(request: web.Request, plane: Plane, entry: Entry) -> Build:
    kind = request.match_info["kind"]
    if kind not in RESTARTABLE:
        raise ActionError(400, "bad-kind", f"rollout restart works on {', '.join(RESTARTABLE)}; not {kind[:40]!r}")
    namespace, name = name_param(request, "ns"), name_param(request, "name")
    path = f"/apis/apps/v1/namespaces/{namespace}/{RESTARTABLE[kind]}/{name}"
    workload = await plane.api.get(path)
    template = ((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}
    entry.previous = {"restartedAt": (template.get("annotations") or {}).get(RESTARTED_AT)}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry.parameters = {"restartedAt": stamp}
    await plane.api.patch(path, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}},
                          "application/strategic-merge-patch+json")
    return lambda audit_id: m.ActionResult(result="ok", audit_id=audit_id, detail=f"restartedAt={stamp}")


# ---- safe mode -----------------------------------------------------------------------------
def enforcement_state(summary: Any) -> str | None:
    enforcement = getattr(summary, "enforcement", None)
    state = getattr(enforcement, "state", None)
    return state if isinstance(state, str) else None


def converged(enabled: bool, state: str | None) -> bool:
    """Pure: has a node's published state caught up with the request? Unknown never has."""
    if state is None:
        return False
    return (state == "safe-mode") == enabled


async def await_convergence(plane: Plane, nodes: list[str] | None, enabled: bool, wait_s: float
                            ) -> dict[str, str]:
    """Each node's ``infera.io/enforcement`` state once all converged or ``wait_s`` passed
    (read from the watch-fed node cache); nodes=None means every node with a known state."""
    deadline = time.monotonic() + wait_s
    while True:
        cache = plane.nodes()
        names = nodes if nodes is not None else [n for n, s in cache.items() if enforcement_state(s) is not None]
        states = {n: enforcement_state(cache.get(n)) for n in names}
        if all(converged(enabled, s) for s in states.values()) or time.monotonic() >= deadline:
            return {n: s or "unknown" for n, s in states.items()}
        await asyncio.sleep(min(plane.config.converge_poll_s, max(0.0, deadline - time.monotonic())))


def _safe_mode_patch(enabled: bool) -> dict[str, Any]:
    return {"metadata": {"annotations": {SAFE_MODE_KEY: "true" if enabled else None}}}


def _safe_mode_result(states: dict[str, str], enabled: bool, wait_s: float, note: str) -> Build:
    behind = sorted(n for n, s in states.items() if not converged(enabled, None if s == "unknown" else s))
    want = "safe-mode" if enabled else "out of safe-mode"
    result: Outcome
    if wait_s == 0:
        result, detail = "ok", "requested; convergence not awaited"
    elif behind:
        result, detail = "partial", f"{len(behind)} of {len(states)} nodes not {want} after {wait_s:g}s"
    else:
        result, detail = "ok", f"{len(states)} nodes {want}"
    detail += note
    return lambda audit_id: m.SafeModeResult(result=result, audit_id=audit_id, detail=detail, nodes=states)


def _configmap_path(plane: Plane) -> str:
    namespace, _, name = plane.config.agent_configmap.partition("/")
    if not (NAME.match(namespace) and NAME.match(name)):
        raise ActionError(501, "no-fleet-switch", "fleet-wide safe mode needs --agent-configmap NAMESPACE/NAME")
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


async def node_safe_mode(request: web.Request, plane: Plane, entry: Entry) -> Build:
    node = name_param(request, "node")
    wanted = await body_of(request, m.SafeModeRequest)
    entry.parameters = wanted.model_dump()
    annotations = ((await _node(plane, node)).get("metadata") or {}).get("annotations") or {}
    entry.previous = {SAFE_MODE_KEY: annotations.get(SAFE_MODE_KEY)}
    await plane.api.patch(f"/api/v1/nodes/{node}", _safe_mode_patch(wanted.enabled))
    note = ""
    if not wanted.enabled and plane.config.agent_configmap:
        fleet = (await plane.api.get(_configmap_path(plane))).get("metadata") or {}
        if safe_mode_requested(fleet.get("annotations") or {}):
            note = "; fleet-wide safe mode is still requested, so the node stays in safe mode"
    states = await await_convergence(plane, [node], wanted.enabled, wanted.wait_seconds)
    entry.detail = f"{node}: {states[node]}{note}"
    return _safe_mode_result(states, wanted.enabled, wanted.wait_seconds, note)


async def fleet_safe_mode(request: web.Request, plane: Plane, entry: Entry) -> Build:
    wanted = await body_of(request, m.SafeModeRequest)
    entry.parameters = wanted.model_dump()
    path = _configmap_path(plane)
    annotations = ((await plane.api.get(path)).get("metadata") or {}).get("annotations") or {}
    entry.previous = {SAFE_MODE_KEY: annotations.get(SAFE_MODE_KEY)}
    await plane.api.patch(path, _safe_mode_patch(wanted.enabled))
    states = await await_convergence(plane, None, wanted.enabled, wanted.wait_seconds)
    entry.detail = f"{sum(converged(wanted.enabled, s) for s in states.values())}/{len(states)} nodes converged"
    return _safe_mode_result(states, wanted.enabled, wanted.wait_seconds, "")


# ---- traces (through the node agents) ------------------------------------------------------
async def agent_base(plane: Plane, node: str) -> AgentAddress:
    """The node's agent (``console.agents.locate`` through the console's one ``AgentClient``: the
    agent pod's IP, else the node's InternalIP). Not addressable: 501 without ``--agent-url``,
    404 for a node the API server does not know, else 502 ``no-agent-address``."""
    where = plane.agents.locate(node)
    if where.base is None:
        if not plane.config.agent_url:
            raise ActionError(501, "no-agents", where.problem)
        await _node(plane, node)  # an unknown node is a 404, not a missing address
        raise ActionError(502, "no-agent-address", f"{node}: {where.problem}")
    return where


def _unreachable(node: str, where: AgentAddress, exc: BaseException) -> ActionError:
    return ActionError(502, "agent-unreachable",
                       f"the node agent on {node} (at its {where.via}): {type(exc).__name__}")


def _agent_refused(node: str, status: int) -> ActionError:
    if status in (404, 405, 501):
        return ActionError(501, "agent-lacks-traces",
                           f"the node agent on {node} does not support trace capture (it answered {status})")
    return ActionError(502, "agent-error", f"the node agent on {node} answered {status}")


async def capture_trace(request: web.Request, plane: Plane, entry: Entry) -> Build:
    node = name_param(request, "node")
    wanted = await body_of(request, m.TraceRequest)
    entry.parameters = wanted.model_dump()
    where = await agent_base(plane, node)
    url = f"{where.base}/traces"
    timeout = aiohttp.ClientTimeout(total=wanted.seconds + AGENT_TIMEOUT_S)
    try:
        async with plane.http.post(url, json={"seconds": wanted.seconds}, timeout=timeout) as answer:
            if answer.status >= 300:
                raise _agent_refused(node, answer.status)
            body = await answer.json(content_type=None)
    except (aiohttp.ClientError, ValueError) as exc:
        raise _unreachable(node, where, exc) from None
    except TimeoutError:
        raise ActionError(504, "agent-timeout", f"the node agent on {node} did not answer in time") from None
    trace_id = body.get("trace_id") if isinstance(body, dict) else None
    if not isinstance(trace_id, str) or not TRACE_ID.match(trace_id):
        raise ActionError(502, "agent-error", f"the node agent on {node} answered without a valid trace_id")
    entry.detail = f"trace {trace_id}"
    return lambda audit_id: m.TraceResult(result="ok", audit_id=audit_id, trace_id=trace_id)


async def download_trace(request: web.Request, plane: Plane) -> web.StreamResponse:
    node = name_param(request, "node")
    trace_id = request.match_info["trace"]
    if not TRACE_ID.match(trace_id):
        raise ActionError(400, "bad-trace", "not a trace id")
    where = await agent_base(plane, node)
    url = f"{where.base}/traces/{trace_id}"
    try:
        async with plane.http.get(url, timeout=aiohttp.ClientTimeout(total=300, sock_read=AGENT_TIMEOUT_S)) as answer:
            if answer.status == 404:
                raise ActionError(404, "no-trace", f"the node agent on {node} has no trace {trace_id} "
                                                   "(or cannot capture traces)")
            if answer.status >= 300:
                raise _agent_refused(node, answer.status)
            response = web.StreamResponse(headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{node}-{trace_id}.trace"'})
            await response.prepare(request)
            async for chunk in answer.content.iter_chunked(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response
    except aiohttp.ClientError as exc:
        raise _unreachable(node, where, exc) from None
    except TimeoutError:
        raise ActionError(504, "agent-timeout", f"the node agent on {node} did not answer in time") from None


HANDLERS: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    ("get", "/api/v1/tokens"): read(list_tokens),
    ("post", "/api/v1/tokens"): audited(create_token),
    ("delete", "/api/v1/tokens/{name}"): audited(revoke_token),
    ("get", "/api/v1/audit"): read(list_audit),
    ("get", "/api/v1/audit/export"): read(export_audit),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/cordon"): audited(cordon(True)),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/uncordon"): audited(cordon(False)),
    ("get", "/api/v1/clusters/{c}/nodes/{node}/drain"): read(drain_preview),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/drain"): audited(drain_node),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/safe-mode"): audited(node_safe_mode),
    ("post", "/api/v1/clusters/{c}/safe-mode"): audited(fleet_safe_mode),
    ("post", "/api/v1/clusters/{c}/workloads/{kind}/{ns}/{name}/restart"): audited(restart),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/traces"): audited(capture_trace),
    ("get", "/api/v1/clusters/{c}/nodes/{node}/traces/{trace}"): read(download_trace),
}
"""(method, path) -> handler for the routes of this module in ``console.openapi.ROUTES``."""
