"""The auth middleware: bearer token -> identity -> role check, with denied mutations audited.

Every route's minimum role comes from ``console.openapi.ROUTES`` (keyed by method *and* path,
so GET and POST on one path may differ); routes with role None are public. Outcomes:

- no token, or one no source knows: 401 (not audited: anyone can send those, and an append-only
  log must not be fillable by anonymous callers; they are logged at INFO, without the token);
- a known caller whose role is too low: 403, and for a mutation (any method but GET/HEAD) one
  audit record with result ``denied`` — the only record that request produces, since the
  handler never runs;
- otherwise ``request["who"] = (name, role)`` and the handler runs (mutations write their own
  single record through ``console.actions.audited``, or, in a hub, ``console.hub`` writes it for
  a mutation it forwards to a peer).

A request a hub forwarded carries ``X-Temper-Hub-User`` (the hub's user); the peer's records
note it in ``detail`` as a claim (``with_hub_note``) next to the token the peer authenticated.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from console import models as m
from console.audit import Entry
from console.openapi import ROUTES
from console.plane import PLANE, Plane
from console.tokens import Identity, digest

log = logging.getLogger(__name__)
ROLE_OF = {(method.upper(), path): role for method, path, _, role in ROUTES}
READS = ("GET", "HEAD")
MAX_DENIED_BODY = 16 * 1024
HUB_USER_HEADER = "X-Temper-Hub-User"
HUB_USER = re.compile(r"^[A-Za-z0-9._@:/-]{1,128}$")


def error_response(status: int, code: str, message: str) -> web.Response:
    body = m.ErrorResponse(error=m.ErrorBody(code=code, message=message)).model_dump_json()
    return web.Response(status=status, text=body, content_type="application/json")


def action_of(method: str, path: str) -> str:
    """The audit action name of a route: its last literal path segment, e.g. ``drain``."""
    literal = [p for p in path.split("/") if p and not p.startswith("{")]
    return {"POST /api/v1/tokens": "token-create", "DELETE /api/v1/tokens/{name}": "token-revoke",
            "POST /api/v1/clusters/{c}/savings/baseline": "savings-baseline"}.get(
        f"{method} {path}", literal[-1] if literal else path)


def target_of(request: web.Request) -> str:
    """What a mutation acts on, from the URL: e.g. ``local/node/node-1``, ``local/fleet``."""
    info = request.match_info
    if "node" in info:
        return f"{info.get('c', '')}/node/{info['node']}"
    if "kind" in info:
        return f"{info.get('c', '')}/{info['kind']}/{info.get('ns', '')}/{info.get('name', '')}"
    if "name" in info:
        return f"token/{info['name']}"
    return f"{info['c']}/fleet" if "c" in info else request.path.removeprefix("/api/v1/")


def bearer_token(request: web.Request) -> str:
    """The token of ``Authorization: Bearer TOKEN`` ("" without one)."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else ""


async def identify(plane: Plane, token: str) -> tuple[Identity | None, str]:
    boot = plane.bootstrap.get(digest(plane.secret, token))
    if boot is not None:
        return Identity(boot[0], boot[1], "bootstrap"), ""
    named = plane.tokens.lookup(token)
    if named is not None:
        return named, ""
    if plane.reviewer is not None:
        return await plane.reviewer.review(token)
    return None, "unknown token"


def hub_user(request: web.Request) -> str:
    """The hub user a forwarded request names (``X-Temper-Hub-User: NAME:ROLE``, set by
    ``console.hub``), sanitised; "" when absent. A claim, not an identity: the caller's own
    token is what is authenticated, so audit records show it as "as the hub says"."""
    claimed = request.headers.get(HUB_USER_HEADER, "")[:128]
    return claimed if HUB_USER.match(claimed) else ""


def with_hub_note(entry: Entry, request: web.Request) -> Entry:
    """``entry`` with the hub user a forwarded request names appended to its detail."""
    via = hub_user(request)
    if via:
        entry.detail = f"{entry.detail} [hub user, as the hub says: {via}]".lstrip()
    return entry


async def parameters_of(request: web.Request) -> dict[str, object]:
    """A mutation's JSON body as audit parameters (``{}`` when absent, too big or not an object)."""
    if not request.can_read_body or (request.content_length or 0) > MAX_DENIED_BODY:
        return {}
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


@web.middleware
async def auth(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
               ) -> web.StreamResponse:
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else ""
    needed = ROLE_OF.get((request.method, path))
    if needed is None:
        return await handler(request)
    token = bearer_token(request)
    if not token and path == "/api/v1/events":
        token = request.query.get("access_token", "")  # EventSource cannot send headers (read-only route)
    plane = request.app[PLANE]
    who, why = await identify(plane, token) if token else (None, "missing bearer token")
    if who is None:
        log.info("401 %s %s: %s", request.method, path, why)
        return error_response(401, "unauthorized", f"{why}: send Authorization: Bearer TOKEN")
    if m.ROLE_RANK.get(who.role, -1) < m.ROLE_RANK[needed]:
        message = f"this route needs role {needed}" + (f" ({why})" if why else f"; {who.name} is {who.role}")
        if request.method not in READS:
            record = await plane.audit.append(with_hub_note(Entry(
                token=who.name, role=who.role or "none", action=action_of(request.method, path),
                target=target_of(request), parameters=await parameters_of(request), result="denied",
                detail=message), request))
            message += f" (audit record {record.id})"
        return error_response(403, "forbidden", message)
    request["who"] = (who.name, who.role)
    return await handler(request)
