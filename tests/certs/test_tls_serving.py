"""The webhook serves TLS 1.2+ with the generated chain, and refuses what it must refuse.

Real TLS on a real loopback socket: the server is the webhook's own aiohttp app with
``temper.tls.server_ssl_context``; the clients are the ``ssl`` module, verifying the chain
against the generated CA and the Service host name the API server would dial.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest

from tests.certs.pki_helpers import HOST, client_context, mint, post_mutate, serving


async def test_a_client_trusting_the_generated_ca_verifies_the_chain_and_the_service_name(tmp_path: Path) -> None:
    mint(tmp_path)
    async with serving(tmp_path) as (port, _):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(tmp_path / "ca.crt"), server_hostname=HOST)
        body = await post_mutate(reader, writer)
        assert b'"uid":"u-1"' in body
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        writer.close()


async def test_an_expired_serving_certificate_is_rejected_by_the_client(tmp_path: Path) -> None:
    mint(tmp_path, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=30), days=1)
    async with serving(tmp_path) as (port, _):
        with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
            await asyncio.open_connection("127.0.0.1", port, ssl=client_context(tmp_path / "ca.crt"),
                                          server_hostname=HOST)


async def test_a_certificate_for_another_host_is_rejected_by_the_client(tmp_path: Path) -> None:
    mint(tmp_path, names=["other-service.other-namespace.svc"])
    async with serving(tmp_path) as (port, _):
        with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname"):
            await asyncio.open_connection("127.0.0.1", port, ssl=client_context(tmp_path / "ca.crt"),
                                          server_hostname=HOST)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_a_tls_1_1_client_is_refused_by_the_server(tmp_path: Path) -> None:
    mint(tmp_path)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(cafile=str(tmp_path / "ca.crt"))
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL actually offer TLS 1.1
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    async with serving(tmp_path) as (port, _):
        # The server answers a TLS 1.1 ClientHello with a protocol_version alert or a reset.
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            await asyncio.open_connection("127.0.0.1", port, ssl=old, server_hostname=HOST)


async def test_the_server_context_has_tls_1_2_as_its_minimum(tmp_path: Path) -> None:
    mint(tmp_path)
    async with serving(tmp_path) as (_, context):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
