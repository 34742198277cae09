"""Connection hygiene for Temper's HTTP(S) servers: a connection cap, a TLS handshake deadline
and a request-head deadline in front of an aiohttp application.

Why this module exists (issue 15 §4): 200 connections that never finish their TLS handshake
(raw TCP, no ClientHello) or that dribble a header line a second were held for as long as the
client liked. aiohttp's ``TCPSite`` offers no handshake timeout and no cap, and asyncio's
``create_server(ssl_handshake_timeout=...)`` has no hook when a handshake is abandoned, so a
cap could not be kept with it. The webhook and the scheduler extender (and the console) need
the same defence, so it is written once here and the components only pass numbers.

Design:
- ``GuardedSite`` is an aiohttp ``BaseSite`` with its own accept loop on a non-blocking
  listening socket (``loop.add_reader``, accepting up to ``backlog`` sockets per wake-up, as
  asyncio's own server does). Every accepted socket either gets a slot or, when
  ``max_connections`` slots are taken, is closed at once (``over_limit``).
- A socket with a slot is handed to ``loop.connect_accepted_socket`` with
  ``ssl_handshake_timeout``: asyncio aborts a handshake not complete in time
  (``tls_handshake_timeout``) or failed (``tls_handshake_failed``: plain HTTP on the TLS port,
  a TLS 1.1 client, garbage), and the slot is released there.
- The protocol asyncio gets is ``_Guard``, which forwards every callback to aiohttp's
  ``RequestHandler``. It arms the head deadline when the connection is ready (for TLS: when
  the handshake completed), disarms it once the first request head has ended (the blank line,
  ``CRLF CRLF``, has arrived), aborts the connection when it fires (``request_head_timeout``),
  and releases the slot in ``connection_lost``.
- Between requests, aiohttp's ``keepalive_timeout`` (``guarded_runner`` sets it to
  ``idle_timeout_s``) closes a keep-alive connection that stays idle. Its timer runs from the
  end of the last response and fires only while the handler still waits for a *complete*
  head, so a dribbled second head is cut at ``idle_timeout_s`` too (a test checks it on the
  installed aiohttp). The slow first head is the case aiohttp leaves open, and the one
  ``_Guard`` closes.
- ``ConnectionStats`` counts; ``ConnectionCollector`` exports the counts of one or more
  listeners at scrape time, so the component's registry holds no gauges to keep in step::

      temper_<component>_connections_open{listener}
      temper_<component>_connections_accepted_total{listener}
      temper_<component>_connections_dropped_total{listener, reason}
          reason: over_limit | tls_handshake_timeout | tls_handshake_failed | request_head_timeout

Invariants:
- ``stats.open`` is the number of slots taken; a slot is released exactly once (handshake
  failure, cancellation at shutdown, or ``connection_lost``), so ``open`` never drifts.
- A refused or timed-out connection never reaches the application; established connections
  are shut down by aiohttp's runner as usual (``runner.cleanup()``).
- Numbers are validated once, in ``ConnectionLimits``: a ``ValueError`` naming the field.

Exceptions: ``ValueError`` from ``ConnectionLimits`` and ``parse_host_port``; ``OSError``
from ``GuardedSite.start`` when the address cannot be bound.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import signal
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from temper.config import ConfigError, take

log = logging.getLogger(__name__)

HEAD_END = b"\r\n\r\n"
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE_S = 0.5
"""After EMFILE and friends, stop accepting this long (asyncio's own server waits 1 s):
retrying at once would spin on a listener that stays readable."""


class DropReason(enum.Enum):
    OVER_LIMIT = "over_limit"
    TLS_HANDSHAKE_TIMEOUT = "tls_handshake_timeout"
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"
    REQUEST_HEAD_TIMEOUT = "request_head_timeout"


@dataclass(frozen=True)
class ConnectionLimits:
    """What one listener tolerates. Defaults suit API-server and scheduler callers: both
    finish a handshake in milliseconds and send a head in one segment."""

    max_connections: int = 1024
    """Open connections (handshaking included) beyond which new ones are closed at once. The
    API server and kube-scheduler keep a handful of keep-alive connections per replica."""
    tls_handshake_timeout_s: float = 5.0
    """A loopback or in-cluster TLS handshake takes milliseconds; 5 s covers a loaded node."""
    request_head_timeout_s: float = 10.0
    """From connection ready (handshake done) to the end of the first request head."""
    idle_timeout_s: float = 15.0
    """Keep-alive: an idle connection, or one whose next head is incomplete, is closed after
    this long. Below the API server's 90 s idle timeout is fine: clients reconnect."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_connections <= 1_000_000:
            raise ValueError("max_connections must be within 1..1000000")
        for name in ("tls_handshake_timeout_s", "request_head_timeout_s", "idle_timeout_s"):
            if not 0.05 <= getattr(self, name) <= 3600:
                raise ValueError(f"{name} must be within 0.05..3600 seconds")


LIMIT_KEYS = {"maxConnections": "max_connections", "tlsHandshakeTimeoutSeconds": "tls_handshake_timeout_s",
              "requestHeadTimeoutSeconds": "request_head_timeout_s", "idleTimeoutSeconds": "idle_timeout_s"}
"""Config-file spelling (camelCase, as in the rest of the file) -> ``ConnectionLimits`` field."""


def parse_connection_limits(section: Mapping[str, Any], where: str) -> ConnectionLimits:
    """The ``LIMIT_KEYS`` of a config section (the caller rejects unknown keys)."""
    defaults = ConnectionLimits()
    values: dict[str, Any] = {}
    for key, name in LIMIT_KEYS.items():
        default = getattr(defaults, name)
        values[name] = take(section, key, type(default), default, where)
    try:
        return ConnectionLimits(**values)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_host_port(text: str, where: str = "--listen", allow_port_zero: bool = False) -> tuple[str, int]:
    """``"host:port"`` (``[v6]:port`` too; an empty host is ``0.0.0.0``) -> (host, port).
    Port 0 (the kernel picks one) only where the caller reports the port it got."""
    host, sep, port = text.rpartition(":")
    low = 0 if allow_port_zero else 1
    if not sep or not port.isdigit() or not low <= int(port) <= 65535:
        raise ConfigError(f"{where}: expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class ConnectionStats:
    """Counters of one listener (mutated by ``GuardedSite`` only)."""

    open: int = 0
    accepted: int = 0
    dropped: dict[DropReason, int] = field(default_factory=lambda: dict.fromkeys(DropReason, 0))

    def drop(self, reason: DropReason) -> None:
        self.dropped[reason] += 1


class _Slot:
    """One accepted connection's claim on the cap; ``release`` is idempotent."""

    __slots__ = ("_released", "_stats")

    def __init__(self, stats: ConnectionStats) -> None:
        self._stats = stats
        self._released = False
        stats.open += 1
        stats.accepted += 1

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._stats.open -= 1


class _Guard(asyncio.Protocol):
    """aiohttp's protocol, plus the first-head deadline and the slot's release."""

    def __init__(self, inner: asyncio.Protocol, slot: _Slot, head_timeout_s: float, stats: ConnectionStats) -> None:
        self._inner = inner
        self._slot = slot
        self._head_timeout_s = head_timeout_s
        self._stats = stats
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        """The last bytes of the head seen so far: ``CRLF CRLF`` may straddle two reads."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._head_timeout_s, self._head_timed_out)
        self._inner.connection_made(transport)

    def _head_timed_out(self) -> None:
        self._timer = None
        self._stats.drop(DropReason.REQUEST_HEAD_TIMEOUT)
        if self._transport is not None:
            self._transport.abort()  # no graceful close for a client that will not finish a head

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if HEAD_END in seen:
                self._timer.cancel()
                self._timer = None
                self._tail = b""
            else:
                self._tail = seen[-(len(HEAD_END) - 1):]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._slot.release()
        self._inner.connection_lost(exc)


class _Listener(asyncio.AbstractServer):
    """The accept loop; what ``BaseSite`` keeps as its ``_server`` (``close``, ``sockets``)."""

    def __init__(self, sock: socket.socket, site: GuardedSite) -> None:
        self._sock = sock
        self._site = site
        self._loop = asyncio.get_running_loop()
        self._handshakes: set[asyncio.Task[None]] = set()
        self._serving = True
        self._resume: asyncio.TimerHandle | None = None
        self._loop.add_reader(sock.fileno(), self._on_readable)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._serving else ()

    def _on_readable(self) -> None:
        for _ in range(self._site.backlog):
            try:
                conn, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRNOS:
                    log.warning("%s: accept failed (%s); pausing %.1f s", self._site.name, exc, ACCEPT_PAUSE_S)
                    self._loop.remove_reader(self._sock.fileno())
                    self._resume = self._loop.call_later(ACCEPT_PAUSE_S, self._resume_accepting)
                # ECONNABORTED and the like: that one connection is gone, the listener is fine.
                return
            self._admit(conn)

    def _resume_accepting(self) -> None:
        self._resume = None
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def _admit(self, conn: socket.socket) -> None:
        stats, limits = self._site.stats, self._site.limits
        if stats.open >= limits.max_connections:
            stats.drop(DropReason.OVER_LIMIT)
            conn.close()
            return
        conn.setblocking(False)
        task = self._loop.create_task(self._connect(conn, _Slot(stats)))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _connect(self, conn: socket.socket, slot: _Slot) -> None:
        site = self._site
        context = site.ssl_context
        factory = site.runner_server()

        def protocol() -> asyncio.Protocol:
            return _Guard(factory(), slot, site.limits.request_head_timeout_s, site.stats)

        try:
            if context is None:
                await self._loop.connect_accepted_socket(protocol, conn)
            else:
                await self._loop.connect_accepted_socket(
                    protocol, conn, ssl=context, ssl_handshake_timeout=site.limits.tls_handshake_timeout_s)
            return
        except ConnectionAbortedError:  # asyncio's handshake deadline
            reason = DropReason.TLS_HANDSHAKE_TIMEOUT
        except (OSError, EOFError):  # ssl.SSLError is an OSError; EOF: the client left mid-handshake
            reason = DropReason.TLS_HANDSHAKE_FAILED
        except BaseException:  # cancelled at shutdown, or a bug: the slot is freed either way
            slot.release()
            conn.close()
            raise
        slot.release()
        site.stats.drop(reason)
        conn.close()

    def close(self) -> None:
        if not self._serving:
            return
        self._serving = False
        if self._resume is not None:
            self._resume.cancel()
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for task in list(self._handshakes):
            task.cancel()

    def is_serving(self) -> bool:
        return self._serving

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        raise NotImplementedError("run the aiohttp runner instead")

    async def wait_closed(self) -> None:
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)


class GuardedSite(web.BaseSite):
    """A TCP site with ``ConnectionLimits`` (use ``guarded_runner`` for the idle bound)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                 limits: ConnectionLimits | None = None, stats: ConnectionStats | None = None,
                 backlog: int = 128) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.host = host
        self.port = port
        self.limits = limits or ConnectionLimits()
        self.stats = stats if stats is not None else ConnectionStats()
        self.backlog = backlog

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._ssl_context

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def runner_server(self) -> web.Server:
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner was cleaned up")
        return server

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(self.backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._server = _Listener(sock, self)


def guarded_runner(app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> web.AppRunner:
    """An ``AppRunner`` whose keep-alive idle bound is ``limits.idle_timeout_s``."""
    kwargs.setdefault("access_log", None)
    return web.AppRunner(app, keepalive_timeout=limits.idle_timeout_s, **kwargs)


async def start_guarded(app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                        limits: ConnectionLimits | None = None,
                        stats: ConnectionStats | None = None) -> tuple[web.AppRunner, GuardedSite]:
    """Set up ``app`` and listen on ``host:port``; the caller ends with ``runner.cleanup()``."""
    limits = limits or ConnectionLimits()
    runner = guarded_runner(app, limits)
    await runner.setup()
    site = GuardedSite(runner, host, port, ssl_context=ssl_context, limits=limits, stats=stats)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site


async def wait_for_stop_signal() -> None:
    """Return on SIGTERM or SIGINT (Kubernetes stops a pod with SIGTERM)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


class ConnectionCollector(Collector):
    """``temper_<component>_connections_*`` for one or more listeners, read at scrape time."""

    def __init__(self, prefix: str, listeners: Mapping[str, ConnectionStats]) -> None:
        self.prefix = prefix
        self.listeners = dict(listeners)

    def collect(self) -> Iterable[Metric]:
        prefix = self.prefix
        opened = GaugeMetricFamily(f"{prefix}_connections_open", "Open connections, TLS handshakes included.",
                                   labels=["listener"])
        accepted = CounterMetricFamily(f"{prefix}_connections_accepted", "Connections given a slot.",
                                       labels=["listener"])
        dropped = CounterMetricFamily(f"{prefix}_connections_dropped",
                                      "Connections closed by the server's limits, by reason.",
                                      labels=["listener", "reason"])
        for name, stats in self.listeners.items():
            opened.add_metric([name], stats.open)
            accepted.add_metric([name], stats.accepted)
            for reason in DropReason:
                dropped.add_metric([name, reason.value], stats.dropped[reason])
        yield from (opened, accepted, dropped)
