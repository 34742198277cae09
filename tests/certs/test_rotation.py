"""A rotated serving certificate is picked up by a running server without dropping connections.

Real TLS on a real loopback socket (see ``tests/certs/pki_helpers.py``); the rotation is the
same file replacement ``temper certs rotate`` does, and the reload is ``CertReloader``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from certs.main import main as certs_main
from certs.pki import cert_pem, issue_serving_cert, key_pem, load_cert, write_atomic
from temper.tls import CertReloader
from tests.certs.pki_helpers import HOST, NAMES, client_context, mint, peer_serial, post_mutate, serving


async def test_rotation_is_served_to_new_connections_while_a_keep_alive_connection_keeps_working(
        tmp_path: Path) -> None:
    first = mint(tmp_path)
    async with serving(tmp_path) as (port, context):
        reloader = CertReloader(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"), context)
        ca = client_context(tmp_path / "ca.crt")
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ca, server_hostname=HOST)
        await post_mutate(reader, writer)
        assert peer_serial(writer) == first.cert.serial_number

        assert certs_main(["rotate", "--out-dir", str(tmp_path), "--force"]) == 0
        assert reloader.maybe_reload() is True

        await post_mutate(reader, writer)  # same connection, still served
        assert peer_serial(writer) == first.cert.serial_number
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", port, ssl=ca, server_hostname=HOST)
        await post_mutate(reader2, writer2)
        assert peer_serial(writer2) == load_cert(tmp_path / "tls.crt").serial_number != first.cert.serial_number
        writer.close()
        writer2.close()


async def test_the_watch_task_reloads_without_being_asked(tmp_path: Path) -> None:
    mint(tmp_path)
    async with serving(tmp_path) as (_, context):
        reloader = CertReloader(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"), context)
        task = asyncio.create_task(reloader.watch(0.02))
        assert certs_main(["rotate", "--out-dir", str(tmp_path), "--force"]) == 0
        for _ in range(200):
            if reloader.reloads:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        assert reloader.reloads == 1


async def test_a_half_written_pair_is_rejected_and_the_old_certificate_stays_in_use(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = mint(tmp_path)
    async with serving(tmp_path) as (port, context):
        reloader = CertReloader(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"), context)
        new_key, new_cert = issue_serving_cert(first.ca_key, first.ca_cert, NAMES)
        write_atomic(tmp_path / "tls.crt", cert_pem(new_cert))  # the key is still the old one
        with caplog.at_level(logging.ERROR):
            assert reloader.maybe_reload() is False
        assert "keeping the current certificate" in caplog.text
        assert "PRIVATE KEY" not in caplog.text
        assert reloader.maybe_reload() is False  # unchanged bad pair: not retried, not re-logged
        assert reloader.failures == 1

        ca = client_context(tmp_path / "ca.crt")
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ca, server_hostname=HOST)
        assert peer_serial(writer) == first.cert.serial_number
        writer.close()

        write_atomic(tmp_path / "tls.key", key_pem(new_key), 0o600)  # rotation completes
        assert reloader.maybe_reload() is True
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ca, server_hostname=HOST)
        await post_mutate(reader, writer)
        assert peer_serial(writer) == new_cert.serial_number
        writer.close()


def test_a_truncated_certificate_file_is_rejected(tmp_path: Path) -> None:
    mint(tmp_path)
    import ssl

    from temper.tls import server_ssl_context
    context = server_ssl_context(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
    reloader = CertReloader(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"), context)
    text = (tmp_path / "tls.crt").read_bytes()
    (tmp_path / "tls.crt").write_bytes(text[: len(text) // 2])
    assert reloader.maybe_reload() is False
    assert isinstance(context, ssl.SSLContext)
