"""The webhook as ``temper webhook serve`` starts it (``webhook.main.start``) drops half-open
connections, slow heads and connections beyond its cap, keeps admitting meanwhile, counts it
all on ``/metrics``, and says on ``/readyz`` whether its serving certificate is usable.

Real TLS on loopback with the generated chain (``tests.certs.pki_helpers``), raw sockets for
the hostile clients (issue 15 §4: 200 connections held open for 30 s)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temper.kube.client import ApiConfig
from temper.serving import ConnectionLimits, DropReason
from temper.tls import server_ssl_context
from tests.certs.pki_helpers import HOST, client_context, mint, post_mutate
from tests.connections import close_all, closed_within, dribble, eventually, get, open_raw, open_tls
from webhook.main import Running, start
from webhook.namespaces import NamespaceSource, RegistrationOnly, WatchedNamespaces
from webhook.settings import WebhookSettings

FAST = ConnectionLimits(max_connections=100, tls_handshake_timeout_s=0.5, request_head_timeout_s=0.5,
                        idle_timeout_s=2.0)


@asynccontextmanager
async def webhook(directory: Path, limits: ConnectionLimits = FAST,
                  namespaces: NamespaceSource | None = None) -> AsyncIterator[Running]:
    settings = WebhookSettings(listen="127.0.0.1:0", metrics_listen="127.0.0.1:0", limits=limits,
                               cert_file=str(directory / "tls.crt"), key_file=str(directory / "tls.key"))
    running = await start(settings, server_ssl_context(settings.cert_file, settings.key_file),
                          namespaces or RegistrationOnly())
    try:
        yield running
    finally:
        await running.cleanup()


async def metrics_text(running: Running) -> str:
    stream = (await open_raw(running.metrics_site.port, 1))[0]
    status, body = await get(stream, "/metrics")
    close_all([stream])
    assert status == 200
    return body.decode()


async def test_connections_without_a_client_hello_are_closed_and_admissions_go_on(tmp_path: Path) -> None:
    mint(tmp_path)
    async with webhook(tmp_path) as running:
        port = running.admission.port
        raw = await open_raw(port, 50)
        reader, writer = await open_tls(port, client_context(tmp_path / "ca.crt"), HOST)
        assert b'"uid":"u-1"' in await post_mutate(reader, writer)
        waits = await asyncio.gather(*(closed_within(stream, 3.0) for stream in raw))
        assert max(waits) < 2.0
        assert b'"uid":"u-1"' in await post_mutate(reader, writer)
        text = await metrics_text(running)
        assert 'temper_webhook_connections_dropped_total{listener="serving",reason="tls_handshake_timeout"} 50.0' \
            in text
        assert 'temper_webhook_connections_open{listener="serving"} 1.0' in text
        close_all([(reader, writer)])


async def test_a_dribbled_admission_head_is_cut_and_counted(tmp_path: Path) -> None:
    mint(tmp_path)
    async with webhook(tmp_path) as running:
        slow = await open_tls(running.admission.port, client_context(tmp_path / "ca.crt"), HOST)
        assert await dribble(slow, b"POST /mutate HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40, 0.05) is False
        assert running.metrics.serving_connections.dropped[DropReason.REQUEST_HEAD_TIMEOUT] == 1


async def test_beyond_the_cap_new_connections_are_closed_while_the_open_one_is_served(tmp_path: Path) -> None:
    mint(tmp_path)
    limits = ConnectionLimits(max_connections=5, tls_handshake_timeout_s=5.0)
    async with webhook(tmp_path, limits) as running:
        port = running.admission.port
        reader, writer = await open_tls(port, client_context(tmp_path / "ca.crt"), HOST)
        hogs = await open_raw(port, 4)
        await eventually(lambda: running.metrics.serving_connections.open == 5)
        refused = await open_raw(port, 3)
        assert max(await asyncio.gather(*(closed_within(stream, 2.0) for stream in refused))) < 1.0
        assert b'"uid":"u-1"' in await post_mutate(reader, writer)
        assert 'reason="over_limit"} 3.0' in await metrics_text(running)
        close_all([*hogs, (reader, writer)])


async def test_readyz_is_ok_with_a_loaded_certificate_and_503_when_it_has_expired(tmp_path: Path) -> None:
    mint(tmp_path)
    async with webhook(tmp_path) as running:
        stream = (await open_raw(running.metrics_site.port, 1))[0]
        assert await get(stream, "/readyz") == (200, b"ok\n")
        running.reloader.not_after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        status, body = await get(stream, "/readyz")
        assert status == 503 and b"expired" in body
        running.reloader.not_after = None
        assert await get(stream, "/readyz") == (503, b"not ready: no serving certificate loaded\n")
        close_all([stream])


async def test_readyz_with_a_loaded_certificate_is_503_while_the_namespace_cache_has_not_synced(
        tmp_path: Path) -> None:
    mint(tmp_path)
    unreachable = WatchedNamespaces(ApiConfig(base_url="http://127.0.0.1:9"))  # nothing listens there
    async with webhook(tmp_path, namespaces=unreachable) as running:
        stream = (await open_raw(running.metrics_site.port, 1))[0]
        status, body = await get(stream, "/readyz")
        assert status == 503 and body.startswith(b"not ready: namespace cache not synced yet")
        running.reloader.not_after = None
        status, body = await get(stream, "/readyz")
        assert status == 503 and body.startswith(b"not ready: no serving certificate loaded; namespace cache")
        close_all([stream])


async def test_readyz_without_a_certificate_reloader_is_503() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from webhook.app import make_metrics_app
    from webhook.metrics import WebhookMetrics

    async with TestClient(TestServer(make_metrics_app(WebhookMetrics(), RegistrationOnly(), None))) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        assert "no serving certificate" in await response.text()
