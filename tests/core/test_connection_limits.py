"""``temper.serving`` closes what would hold a server's connections forever, on real sockets.

Issue 15 §4: 200 connections kept for 30 s, raw TCP with no ClientHello or TLS dribbling a
header line a second. Here a tiny aiohttp app is served by ``start_guarded`` over real TLS on
loopback with short limits; the clients are raw sockets and ``ssl`` streams. The webhook and
extender tests check the same behaviour through their own wiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from temper.config import ConfigError
from temper.serving import (
    ConnectionCollector,
    ConnectionLimits,
    ConnectionStats,
    DropReason,
    GuardedSite,
    parse_connection_limits,
    parse_host_port,
    start_guarded,
)
from temper.tls import server_ssl_context
from tests.connections import (
    TlsFiles,
    close_all,
    closed_within,
    dribble,
    eventually,
    get,
    mint_localhost,
    open_raw,
    open_tls,
)

FAST = ConnectionLimits(max_connections=64, tls_handshake_timeout_s=0.5, request_head_timeout_s=0.5,
                        idle_timeout_s=0.8)


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return mint_localhost(tmp_path)


@asynccontextmanager
async def serving(tls: TlsFiles | None, limits: ConnectionLimits = FAST) -> AsyncIterator[GuardedSite]:
    app = web.Application()
    app.router.add_get("/hello", hello)
    context = server_ssl_context(str(tls.cert), str(tls.key)) if tls is not None else None
    runner, site = await start_guarded(app, "127.0.0.1", 0, ssl_context=context, limits=limits)
    try:
        yield site
    finally:
        await runner.cleanup()


async def test_raw_connections_without_a_client_hello_are_closed_after_the_handshake_timeout(tls: TlsFiles) -> None:
    async with serving(tls) as site:
        raw = await open_raw(site.port, 40)
        await eventually(lambda: site.stats.open == 40)
        # Meanwhile a real client is served at once.
        client = await open_tls(site.port, tls.client(), "localhost")
        assert await get(client, "/hello") == (200, b"hello")
        waits = await asyncio.gather(*(closed_within(stream, 3.0) for stream in raw))
        assert max(waits) < 2.0
        assert site.stats.dropped[DropReason.TLS_HANDSHAKE_TIMEOUT] == 40
        assert await get(client, "/hello") == (200, b"hello")  # the served connection was left alone
        close_all([client])
        await eventually(lambda: site.stats.open == 0)


async def test_a_head_dribbled_a_byte_at_a_time_is_cut_at_the_head_timeout(tls: TlsFiles) -> None:
    async with serving(tls) as site:
        slow = await open_tls(site.port, tls.client(), "localhost")
        finished = await dribble(slow, b"GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 40, 0.05)
        assert finished is False
        await closed_within(slow, 2.0)
        assert site.stats.dropped[DropReason.REQUEST_HEAD_TIMEOUT] == 1
        await eventually(lambda: site.stats.open == 0)


async def test_a_head_split_across_reads_is_complete_and_served(tls: TlsFiles) -> None:
    async with serving(tls) as site:
        client = await open_tls(site.port, tls.client(), "localhost")
        reader, writer = client
        for part in (b"GET /hello HTTP/1.1\r\nHost: localhost\r", b"\n\r", b"\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # past the head timeout: the head had ended, nothing is cut
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert site.stats.dropped[DropReason.REQUEST_HEAD_TIMEOUT] == 0
        close_all([client])


async def test_idle_keep_alive_and_a_dribbled_second_head_are_bounded_by_the_idle_timeout(tls: TlsFiles) -> None:
    async with serving(tls) as site:
        idle = await open_tls(site.port, tls.client(), "localhost")
        assert (await get(idle, "/hello"))[0] == 200
        assert await closed_within(idle, 3.0) < 2.0
        second = await open_tls(site.port, tls.client(), "localhost")
        assert (await get(second, "/hello"))[0] == 200
        assert await dribble(second, b"GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 60, 0.05) is False
        await eventually(lambda: site.stats.open == 0)


async def test_connections_beyond_the_cap_are_closed_at_once_while_existing_ones_keep_working(tls: TlsFiles) -> None:
    limits = ConnectionLimits(max_connections=8, tls_handshake_timeout_s=3.0, request_head_timeout_s=3.0,
                              idle_timeout_s=3.0)
    async with serving(tls, limits) as site:
        working = await open_tls(site.port, tls.client(), "localhost")
        hogs = await open_raw(site.port, 7)
        await eventually(lambda: site.stats.open == 8)
        refused = await open_raw(site.port, 5)
        waits = await asyncio.gather(*(closed_within(stream, 2.0) for stream in refused))
        assert max(waits) < 1.0  # not after a timeout: at once
        assert site.stats.dropped[DropReason.OVER_LIMIT] == 5
        assert await get(working, "/hello") == (200, b"hello")
        close_all(hogs)
        await eventually(lambda: site.stats.open == 1)
        again = await open_tls(site.port, tls.client(), "localhost")
        assert (await get(again, "/hello"))[0] == 200
        close_all([working, again])
        await eventually(lambda: site.stats.open == 0)


async def test_plain_http_on_the_tls_port_is_a_failed_handshake_and_releases_its_slot(tls: TlsFiles) -> None:
    async with serving(tls) as site:
        (stream,) = await open_raw(site.port, 1)
        stream[1].write(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await closed_within(stream, 2.0)
        await eventually(lambda: site.stats.dropped[DropReason.TLS_HANDSHAKE_FAILED] == 1)
        await eventually(lambda: site.stats.open == 0)


async def test_plain_http_listeners_get_the_cap_and_the_head_timeout_too() -> None:
    async with serving(None) as site:
        silent = await open_raw(site.port, 3)
        assert await get((await open_raw(site.port, 1))[0], "/hello") == (200, b"hello")
        await asyncio.gather(*(closed_within(stream, 2.0) for stream in silent))
        assert site.stats.dropped[DropReason.REQUEST_HEAD_TIMEOUT] == 3
        assert site.stats.dropped[DropReason.TLS_HANDSHAKE_TIMEOUT] == 0


async def test_shutdown_with_handshakes_pending_releases_every_slot(tls: TlsFiles) -> None:
    limits = ConnectionLimits(tls_handshake_timeout_s=30.0)
    async with serving(tls, limits) as site:
        raw = await open_raw(site.port, 10)
        await eventually(lambda: site.stats.open == 10)
    assert site.stats.open == 0
    await asyncio.gather(*(closed_within(stream, 2.0) for stream in raw))


def test_the_collector_exports_every_reason_for_every_listener() -> None:
    stats = ConnectionStats()
    stats.drop(DropReason.OVER_LIMIT)
    registry = CollectorRegistry()
    registry.register(ConnectionCollector("temper_test", {"serving": stats, "metrics": ConnectionStats()}))
    text = generate_latest(registry).decode()
    assert 'temper_test_connections_dropped_total{listener="serving",reason="over_limit"} 1.0' in text
    for reason in DropReason:
        assert f'temper_test_connections_dropped_total{{listener="metrics",reason="{reason.value}"}} 0.0' in text
    assert 'temper_test_connections_open{listener="serving"} 0.0' in text
    assert 'temper_test_connections_accepted_total{listener="serving"} 0.0' in text


def test_limits_load_from_a_config_section_and_reject_nonsense() -> None:
    assert parse_connection_limits({}, "x") == ConnectionLimits()
    loaded = parse_connection_limits({"maxConnections": 10, "tlsHandshakeTimeoutSeconds": 1,
                                      "requestHeadTimeoutSeconds": 2.5, "idleTimeoutSeconds": 30}, "x")
    assert loaded == ConnectionLimits(10, 1.0, 2.5, 30.0)
    for bad in ({"maxConnections": 0}, {"idleTimeoutSeconds": 0}, {"maxConnections": "many"},
                {"tlsHandshakeTimeoutSeconds": True}):
        with pytest.raises(ConfigError, match="x"):
            parse_connection_limits(bad, "x")


@pytest.mark.parametrize(("text", "expected"), [("0.0.0.0:8443", ("0.0.0.0", 8443)), (":9", ("0.0.0.0", 9)),
                                                ("[::1]:443", ("::1", 443))])
def test_host_port_parses(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["8443", "host:", "host:http", "host:65536", "host:0"])
def test_host_port_rejects_what_is_not_one(text: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_host_port(text)
    assert parse_host_port("h:0", allow_port_zero=True) == ("h", 0)
