"""The extender behind ``temper.serving`` (as ``temper extender serve`` runs it): raw
connections with no ClientHello are closed after the handshake deadline while kube-scheduler's
/prioritize is answered, a dribbled head is cut, connections beyond the cap are closed at once,
and ``/metrics`` counts each (issue 15 §4). Real TLS on loopback; raw sockets for the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from extender.app import Settings, make_app
from extender.main import cli, main
from temper.serving import ConnectionLimits, DropReason, GuardedSite, start_guarded
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
from tests.extender.factories import NOW, args_names, critical_pod


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return mint_localhost(tmp_path)


@asynccontextmanager
async def extender(tls: TlsFiles, limits: ConnectionLimits) -> AsyncIterator[tuple[GuardedSite, Settings]]:
    settings = Settings(clock=lambda: NOW)
    context = server_ssl_context(str(tls.cert), str(tls.key))
    runner, site = await start_guarded(make_app(settings), "127.0.0.1", 0, ssl_context=context, limits=limits,
                                       stats=settings.connections)
    try:
        yield site, settings
    finally:
        await runner.cleanup()


async def prioritize(tls: TlsFiles, port: int) -> object:
    async with aiohttp.ClientSession() as session, session.post(
            f"https://localhost:{port}/prioritize", json=args_names(critical_pod(), ["x"]),
            ssl=tls.client()) as response:
        return await response.json()


async def test_half_open_connections_are_reaped_while_prioritize_is_answered(tls: TlsFiles) -> None:
    limits = ConnectionLimits(tls_handshake_timeout_s=0.5, request_head_timeout_s=0.5)
    async with extender(tls, limits) as (site, _settings):
        raw = await open_raw(site.port, 60)
        assert await prioritize(tls, site.port) == [{"Host": "x", "Score": 5}]
        waits = await asyncio.gather(*(closed_within(stream, 3.0) for stream in raw))
        assert max(waits) < 2.0
        slow = await open_tls(site.port, tls.client(), "localhost")
        assert await dribble(slow, b"POST /prioritize HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40, 0.05) is False
        metrics = await open_tls(site.port, tls.client(), "localhost")
        status, body = await get(metrics, "/metrics")
        text = body.decode()
        assert status == 200
        assert 'temper_extender_connections_dropped_total{listener="serving",reason="tls_handshake_timeout"} 60.0' \
            in text
        assert 'temper_extender_connections_dropped_total{listener="serving",reason="request_head_timeout"} 1.0' \
            in text
        close_all([metrics])


async def test_connections_beyond_the_cap_are_closed_and_the_scheduler_keeps_its_own(tls: TlsFiles) -> None:
    limits = ConnectionLimits(max_connections=6, tls_handshake_timeout_s=5.0)
    async with extender(tls, limits) as (site, settings):
        scheduler = await open_tls(site.port, tls.client(), "localhost")
        hogs = await open_raw(site.port, 5)
        await eventually(lambda: settings.connections.open == 6)
        refused = await open_raw(site.port, 4)
        assert max(await asyncio.gather(*(closed_within(stream, 2.0) for stream in refused))) < 1.0
        assert settings.connections.dropped[DropReason.OVER_LIMIT] == 4
        assert (await get(scheduler, "/healthz"))[0] == 200
        close_all([*hogs, scheduler])


def test_serve_flags_set_the_connection_limits() -> None:
    from temper.clikit import limits_from_args

    args = cli().parse(["serve", "--max-connections", "64", "--tls-handshake-timeout", "2",
                        "--request-head-timeout", "3", "--idle-timeout", "30"])
    assert limits_from_args(args) == ConnectionLimits(64, 2.0, 3.0, 30.0)


def test_nonsense_limits_exit_2_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--no-watch", "--max-connections", "0"]) == 2
    assert "max_connections" in capsys.readouterr().err


async def test_the_probe_port_serves_health_readiness_and_metrics_of_the_same_extender(tls: TlsFiles) -> None:
    from extender.app import make_probe_app

    settings = Settings(clock=lambda: NOW)
    app = make_app(settings)
    context = server_ssl_context(str(tls.cert), str(tls.key))
    runner, site = await start_guarded(app, "127.0.0.1", 0, ssl_context=context, stats=settings.connections)
    probe_runner, probe_site = await start_guarded(make_probe_app(app), "127.0.0.1", 0,
                                                   stats=settings.metrics_connections)
    try:
        assert await prioritize(tls, site.port) == [{"Host": "x", "Score": 5}]
        plain = (await open_raw(probe_site.port, 1))[0]
        assert await get(plain, "/healthz") == (200, b"ok\n")
        assert await get(plain, "/readyz") == (200, b"ok\n")
        status, body = await get(plain, "/metrics")
        assert status == 200
        assert b'temper_extender_requests_total{outcome="ok",verb="prioritize"} 1.0' in body
        assert b'temper_extender_connections_open{listener="metrics"} 1.0' in body
        close_all([plain])
    finally:
        await probe_runner.cleanup()
        await runner.cleanup()
