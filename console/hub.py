"""Hub mode: one console serving the same ``/api/v1`` for several clusters' planes.

Why it exists: brief §02d's multi-cluster hub. Each cluster runs its own plane (which needs
no hub: nothing here runs in a peer's plane except the optional dialer); a hub is a plane
started with ``--peers FILE`` (the registry ConfigMap, ``console.peers``) that

- lists every cluster at ``GET /api/v1/clusters``: itself, then each peer with ``reachable``
  and ``since`` (when that last changed) and the last error — from a probe of each URL
  peer's ``/api/v1/healthz`` every ``probe_seconds``, from proxied requests, and for dial-in
  peers from their tunnel being up;
- answers ``/api/v1/clusters/{peer}/...`` by forwarding the request to that peer's plane:
  over HTTPS with the registry's CA and token (``via_http``), or over the tunnel the peer
  dialed (``via_tunnel``, ``console.tunnel``). The hub's own auth and role check run first
  (``console.auth``: a hub user below the route's role gets 403 and, for a mutation, the hub's
  one ``denied`` record); the peer then applies the role of the hub's token there. Responses
  are streamed, so SSE and log follows work through the hub;
- audits every mutation it forwards, in both places: the peer's own ``console.actions`` writes
  its one record (token: the hub's token there; ``detail`` notes the hub user the hub names in
  ``X-Temper-Hub-User``), and the hub writes one record of its own (``forward_audited``: token
  and role of the hub user, target ``{peer}/...``, result ``allowed`` for a 2xx answer,
  ``denied`` for the peer's 403, ``failed`` otherwise or when the peer is unreachable, the
  peer's status in ``detail``), committed before the end of the response reaches the client;
- accepts dial-ins at ``GET /api/v1/hub/tunnel/{peer}`` (WebSocket; the peer's registry token).

Failure modes: an unreachable or slow peer costs only requests to that peer (``502``
``peer-unreachable`` with since-when, ``504`` ``peer-timeout`` after ``request_timeout`` for the
response head); the other clusters keep working. A bad registry edit keeps the last good one
(logged). A peer whose CA will not load is unreachable with that error.

Outbound-only peers run ``dial_hub`` (``temper console serve --hub-url URL --hub-token-file F``):
one WebSocket to the hub, redialed with backoff (1 s doubling to 30 s), answering each request
from its own plane with its own token.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import functools
import hmac
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from console import models as m
from console import tunnel
from console.app import SETTINGS, encode, error
from console.audit import Entry
from console.auth import HUB_USER_HEADER, READS, action_of, bearer_token, parameters_of, target_of
from console.peers import HubConfig, Peer, PeerError, Reach, observe, parse_registry
from console.plane import PLANE

log = logging.getLogger(__name__)
TUNNEL_PATH = "/api/v1/hub/tunnel/{c}"
Finish = Callable[[int], Awaitable[None]]
"""Called with the peer's status after its body is relayed and before the response ends."""


@dataclass
class TunnelLink:
    """The hub's end of one dialed-in peer's WebSocket: a queue of frames per open request."""

    ws: web.WebSocketResponse
    next_id: int = 0
    streams: dict[int, asyncio.Queue[dict[str, Any] | None]] = field(default_factory=dict)

    def open(self) -> tuple[int, asyncio.Queue[dict[str, Any] | None]]:
        self.next_id += 1
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.streams[self.next_id] = queue
        return self.next_id, queue

    def deliver(self, frame: dict[str, Any]) -> None:
        queue = self.streams.get(frame["id"])
        if queue is not None:
            queue.put_nowait(frame)

    def fail_all(self) -> None:
        for queue in self.streams.values():
            queue.put_nowait(None)


class HubState:
    def __init__(self, config: HubConfig, local_name: str) -> None:
        self.config, self.local_name = config, local_name
        self.peers: dict[str, Peer] = {}
        self.reach: dict[str, Reach] = {}
        self.tunnels: dict[str, TunnelLink] = {}
        self.problem: str | None = None
        self._sessions: dict[str, tuple[Peer, aiohttp.ClientSession]] = {}
        self._seen: tuple[int, int] | None = None

    def reload(self) -> None:
        """Re-read the registry if its file changed; keep the last good one on a bad edit."""
        try:
            stat = os.stat(self.config.peers_file)
            if (stat.st_mtime_ns, stat.st_size) == self._seen:
                return
            self._seen = (stat.st_mtime_ns, stat.st_size)
            path = Path(self.config.peers_file)
            peers = parse_registry(path.read_text(encoding="utf-8"), self.local_name, path.parent)
        except (OSError, UnicodeDecodeError, PeerError) as exc:
            self.problem = f"{self.config.peers_file}: {exc}"
            log.error("peer registry not (re)loaded: %s", self.problem)
            return
        self.problem = None
        self.peers = {p.name: p for p in peers}
        for name in [n for n in self.reach if n not in self.peers]:
            del self.reach[name]
        log.info("peer registry: %s", ", ".join(self.peers) or "(none)")

    def session(self, peer: Peer) -> aiohttp.ClientSession:
        """The peer's HTTP session (its CA); a new one when the registry changed the peer."""
        held = self._sessions.get(peer.name)
        if held is not None and held[0] == peer:
            return held[1]
        if held is not None:
            asyncio.get_running_loop().create_task(held[1].close())
        context: ssl.SSLContext | bool = False
        if peer.url.startswith("https://"):
            context = ssl.create_default_context(cadata=peer.ca_pem) if peer.ca_pem else ssl.create_default_context()
        created = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        self._sessions[peer.name] = (peer, created)
        return created

    def mark(self, name: str, ok: bool, problem: str | None = None) -> None:
        if name in self.peers:
            self.reach[name] = observe(self.reach.get(name), ok, time.time(), problem)

    async def close(self) -> None:
        for _, session in self._sessions.values():
            await session.close()
        for link in list(self.tunnels.values()):
            await link.ws.close()


HUB = web.AppKey("hub", HubState)


def _unreachable(hub: HubState, name: str, detail: str) -> web.HTTPException:
    reach = hub.reach.get(name)
    since = f" since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(reach.since))}" if reach and reach.since else ""
    return error(502, "peer-unreachable", f"cluster {name!r} is unreachable{since}: {detail}")


def _forward_headers(request: web.Request) -> dict[str, str]:
    headers = tunnel.pick(request.headers, tunnel.FORWARDED_REQUEST)
    who = request.get("who")
    if who is not None:
        headers[HUB_USER_HEADER] = f"{who[0]}:{who[1]}"
    return headers


async def via_http(request: web.Request, hub: HubState, peer: Peer, finish: Finish) -> web.StreamResponse:
    try:
        session = hub.session(peer)
    except ssl.SSLError as exc:
        hub.mark(peer.name, False, f"the registry's CA does not load: {getattr(exc, 'reason', None) or exc}")
        raise _unreachable(hub, peer.name, "its CA does not load") from None
    headers = {**_forward_headers(request), "Authorization": f"Bearer {peer.token}"}
    body = await request.read()
    async with contextlib.AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(hub.config.request_timeout):
                upstream = await stack.enter_async_context(session.request(
                    request.method, peer.url + request.path_qs, headers=headers, data=body or None,
                    allow_redirects=False))
        except TimeoutError:
            hub.mark(peer.name, False, "timed out")
            raise error(504, "peer-timeout", f"cluster {peer.name!r} did not answer in "
                                             f"{hub.config.request_timeout:g}s") from None
        except aiohttp.ClientError as exc:
            hub.mark(peer.name, False, exc.__class__.__name__)
            raise _unreachable(hub, peer.name, exc.__class__.__name__) from None
        hub.mark(peer.name, True)
        response = web.StreamResponse(status=upstream.status,
                                      headers=tunnel.pick(upstream.headers, tunnel.FORWARDED_RESPONSE))
        await response.prepare(request)
        with contextlib.suppress(aiohttp.ClientError):
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        await finish(upstream.status)
        await response.write_eof()
        return response


async def via_tunnel(request: web.Request, hub: HubState, peer: Peer, finish: Finish) -> web.StreamResponse:
    link = hub.tunnels.get(peer.name)
    if link is None:
        raise _unreachable(hub, peer.name, "it has not dialed in")
    ident, queue = link.open()
    finished = False
    try:
        await link.ws.send_str(tunnel.encode("req", ident, method=request.method, path=request.path,
                                             query=request.query_string, headers=_forward_headers(request),
                                             body=tunnel.b64(await request.read())))
        try:
            async with asyncio.timeout(hub.config.request_timeout):
                head = await queue.get()
        except TimeoutError:
            raise error(504, "peer-timeout", f"cluster {peer.name!r} did not answer in "
                                             f"{hub.config.request_timeout:g}s") from None
        if head is None or head["t"] != "head":
            finished = True
            detail = "the tunnel closed" if head is None else str(head.get("message", "no answer"))
            raise _unreachable(hub, peer.name, detail)
        response = web.StreamResponse(status=head["status"], headers=tunnel.pick(head["headers"],
                                                                                  tunnel.FORWARDED_RESPONSE))
        await response.prepare(request)
        while (frame := await queue.get()) is not None and frame["t"] == "chunk":
            with contextlib.suppress(binascii.Error, ValueError):
                await response.write(tunnel.unb64(frame["data"]))
        finished = True
        await finish(head["status"])
        await response.write_eof()
        return response
    except ConnectionResetError:
        raise _unreachable(hub, peer.name, "the tunnel closed") from None
    finally:
        link.streams.pop(ident, None)
        if not finished and not link.ws.closed:
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await link.ws.send_str(tunnel.encode("cancel", ident))


@web.middleware
async def proxy(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    """``/api/v1/clusters/{peer}/...`` to the peer; everything else to the local handlers."""
    name = request.match_info.get("c")
    hub = request.app[HUB]
    if name is None or name not in hub.peers or not request.path.startswith("/api/v1/clusters/"):
        return await handler(request)
    peer = hub.peers[name]
    send = via_tunnel if peer.mode == "dial-in" else via_http
    if request.method in READS:
        return await send(request, hub, peer, _nothing)
    return await forward_audited(request, hub, peer, send)


async def _nothing(_: int) -> None:
    return None


def _message(text: str | None) -> str:
    """The message of an ``ErrorResponse`` body (the body itself when it is not one)."""
    with contextlib.suppress(ValueError, TypeError, KeyError):
        return str(json.loads(text or "")["error"]["message"])
    return text or ""


def result_of(status: int) -> str:
    """Pure: the hub's audit result for a peer's answer to a forwarded mutation."""
    return "allowed" if 200 <= status < 300 else "denied" if status == 403 else "failed"


async def forward_audited(request: web.Request, hub: HubState, peer: Peer,
                          send: Callable[[web.Request, HubState, Peer, Finish], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
    """Forward a mutation and write the hub's one audit record of it, whatever happens."""
    plane = request.app[PLANE]
    name, role = request["who"]
    resource = request.match_info.route.resource
    entry = Entry(token=name, role=role, target=target_of(request), parameters=await parameters_of(request),
                  action=action_of(request.method, resource.canonical if resource is not None else request.path))
    written = False

    async def finish(status: int) -> None:
        nonlocal written
        entry.result, entry.detail = result_of(status), f"forwarded to peer {peer.name}, which answered {status}"
        written = True
        await plane.audit.append(entry)

    try:
        return await send(request, hub, peer, finish)
    except BaseException as exc:  # recorded, then re-raised: a 502/504 answer, a cancellation, a bug
        if not written:
            why = f"{exc.status} {_message(exc.text)}" if isinstance(exc, web.HTTPException) else type(exc).__name__
            entry.result, entry.detail = "failed", f"forwarded to peer {peer.name}: {why}"[:2000]
            await plane.audit.append(entry)
        raise


async def list_clusters(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    items = [m.Cluster(name=settings.cluster_name, url="", local=True, reachable=True, since=None)]
    hub = request.app.get(HUB)
    for name, peer in sorted(hub.peers.items()) if hub is not None else []:
        reach = hub.reach.get(name) if hub is not None else None
        items.append(m.Cluster(name=name, url=peer.url or "dial-in", local=False,
                               reachable=bool(reach and reach.reachable), since=reach.since if reach else None,
                               error=(reach.error if reach else "not probed yet")))
    return encode(m.ClusterList(items=items))


async def tunnel_endpoint(request: web.Request) -> web.StreamResponse:
    """A dial-in peer's WebSocket (auth: the registry's token for that peer)."""
    hub = request.app[HUB]
    name = request.match_info["c"]
    peer = hub.peers.get(name)
    token = bearer_token(request)
    if peer is None or peer.mode != "dial-in" or not token or not hmac.compare_digest(token, peer.token):
        raise error(401, "unauthorized", "unknown dial-in peer or wrong token")
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    old = hub.tunnels.get(name)
    link = hub.tunnels[name] = TunnelLink(ws)
    if old is not None:
        await old.ws.close()
    hub.mark(name, True)
    log.info("peer %s dialed in", name)
    try:
        async for message in ws:
            frame = tunnel.decode(message.data) if message.type == aiohttp.WSMsgType.TEXT else None
            if frame is not None and frame["t"] in ("head", "chunk", "end", "error"):
                link.deliver(frame)
    finally:
        link.fail_all()
        if hub.tunnels.get(name) is link:
            del hub.tunnels[name]
            hub.mark(name, False, "the tunnel closed")
    return ws


ROUTE_HANDLERS: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    ("get", "/api/v1/clusters"): list_clusters,
}


async def _probe(hub: HubState) -> None:
    async def one(peer: Peer) -> None:
        try:
            session = hub.session(peer)
            async with session.get(peer.url + "/api/v1/healthz",
                                   timeout=aiohttp.ClientTimeout(total=hub.config.probe_seconds)) as response:
                hub.mark(peer.name, response.status == 200, f"healthz answered {response.status}")
        except ssl.SSLError as exc:
            hub.mark(peer.name, False, f"TLS: {getattr(exc, 'reason', None) or exc.__class__.__name__}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            hub.mark(peer.name, False, exc.__class__.__name__)

    while True:
        hub.reload()
        for peer in hub.peers.values():
            if peer.mode == "dial-in" and peer.name not in hub.tunnels:
                hub.reach.setdefault(peer.name, Reach(False, time.time(), "it has not dialed in"))
        await asyncio.gather(*(one(p) for p in hub.peers.values() if p.mode == "url"))
        await asyncio.sleep(hub.config.probe_seconds)


def install(app: web.Application) -> None:
    """Hub mode when ``--peers`` is set; otherwise nothing (a plain plane)."""
    config = app[SETTINGS].hub
    if not config.peers_file:
        return
    app[HUB] = HubState(config, app[SETTINGS].cluster_name)
    app.middlewares.append(proxy)
    app.router.add_get(TUNNEL_PATH, tunnel_endpoint)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        hub = app[HUB]
        hub.reload()
        task = asyncio.create_task(_probe(hub))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await hub.close()

    app.cleanup_ctx.append(lifetime)


async def _answer(ws: aiohttp.ClientWebSocketResponse, lock: asyncio.Lock, local: aiohttp.ClientSession,
                  local_url: str, token: str, frame: dict[str, Any]) -> None:
    ident = frame["id"]

    async def send(kind: str, **fields: Any) -> None:
        async with lock:
            await ws.send_str(tunnel.encode(kind, ident, **fields))

    if not frame["path"].startswith("/api/v1/"):
        await send("error", message="only /api/v1 is served over the tunnel")
        return
    headers = {**tunnel.pick(frame["headers"], tunnel.FORWARDED_REQUEST), "Authorization": f"Bearer {token}"}
    url = local_url + frame["path"] + (f"?{frame['query']}" if frame["query"] else "")
    try:
        body = tunnel.unb64(frame["body"])
        async with local.request(frame["method"], url, headers=headers, data=body or None,
                                 allow_redirects=False) as response:
            await send("head", status=response.status,
                       headers=tunnel.pick(response.headers, tunnel.FORWARDED_RESPONSE))
            async for chunk in response.content.iter_any():
                await send("chunk", data=tunnel.b64(chunk))
            await send("end")
    except (aiohttp.ClientError, binascii.Error, ValueError) as exc:
        with contextlib.suppress(ConnectionResetError):
            await send("error", message=f"the peer's plane did not answer: {exc.__class__.__name__}")


def _forget(tasks: dict[int, asyncio.Task[None]], ident: int, _: asyncio.Task[None]) -> None:
    tasks.pop(ident, None)


async def serve_tunnel(ws: aiohttp.ClientWebSocketResponse, local: aiohttp.ClientSession, local_url: str,
                       token: str) -> None:
    """The peer's end: answer the hub's requests from the local plane until the socket closes."""
    tasks: dict[int, asyncio.Task[None]] = {}
    lock = asyncio.Lock()
    try:
        async for message in ws:
            frame = tunnel.decode(message.data) if message.type == aiohttp.WSMsgType.TEXT else None
            if frame is None:
                continue
            if frame["t"] == "req" and frame["id"] not in tasks:
                task = asyncio.create_task(_answer(ws, lock, local, local_url, token, frame))
                tasks[frame["id"]] = task
                task.add_done_callback(functools.partial(_forget, tasks, frame["id"]))
            elif frame["t"] == "cancel" and frame["id"] in tasks:
                tasks[frame["id"]].cancel()
    finally:
        for task in list(tasks.values()):
            task.cancel()


async def dial_hub(hub_url: str, name: str, token: str, context: ssl.SSLContext | None, local_url: str,
                   local_connector: aiohttp.BaseConnector | None = None, max_backoff: float = 30.0) -> None:
    """Keep a tunnel to the hub open forever (until cancelled), redialing with backoff."""
    backoff = 1.0
    async with aiohttp.ClientSession(connector=local_connector) as local, aiohttp.ClientSession() as remote:
        while True:
            try:
                async with remote.ws_connect(f"{hub_url.rstrip('/')}{TUNNEL_PATH.replace('{c}', name)}",
                                             headers={"Authorization": f"Bearer {token}"},
                                             ssl=context if context is not None else True, heartbeat=20.0) as ws:
                    log.info("tunnel to the hub %s is up", hub_url)
                    backoff = 1.0
                    await serve_tunnel(ws, local, local_url, token)
                log.warning("tunnel to the hub closed; redialing")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("cannot dial the hub %s (%s); retry in %.0fs", hub_url, exc.__class__.__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(max_backoff, backoff * 2)
