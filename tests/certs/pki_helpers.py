"""Helpers for the certificate tests: mint bundles into a directory and serve over real TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from certs.pki import (
    Bundle,
    PrivateKey,
    generate_ca,
    issue_serving_cert,
    service_dns_names,
    tls_secret_manifest,
    write_bundle,
)
from temper.tls import CertReloader, server_ssl_context
from webhook.app import make_app
from webhook.metrics import WebhookMetrics
from webhook.namespaces import RegistrationOnly
from webhook.policy import PolicyConfig

HOST = "temper-webhook.temper-system.svc"
NAMES = service_dns_names("temper-webhook", "temper-system")


def mint(out: Path, names: list[str] = NAMES, now: dt.datetime | None = None, days: int = 365,
         ca: tuple[PrivateKey, object] | None = None) -> Bundle:
    ca_key, ca_cert = ca if ca is not None else generate_ca()
    from cryptography import x509
    assert isinstance(ca_cert, x509.Certificate)
    key, cert = issue_serving_cert(ca_key, ca_cert, names, days=days, now=now)
    bundle = Bundle(ca_key, ca_cert, key, cert)
    write_bundle(out, bundle, tls_secret_manifest("s", "temper-system", cert, key, ca_cert))
    return bundle


def loaded_reloader(directory: Path) -> CertReloader:
    """A freshly minted serving pair in ``directory``, loaded: ``serving_problem()`` is None."""
    mint(directory)
    cert, key = str(directory / "tls.crt"), str(directory / "tls.key")
    return CertReloader(cert, key, server_ssl_context(cert, key))


def client_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@asynccontextmanager
async def serving(directory: Path) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    """The real webhook app on a real loopback TLS socket; yields (port, server context)."""
    context = server_ssl_context(str(directory / "tls.crt"), str(directory / "tls.key"))
    runner = web.AppRunner(make_app(PolicyConfig(), WebhookMetrics(), RegistrationOnly()))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port, context
    finally:
        await runner.cleanup()


REVIEW = (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",'
          b'"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","object":{}}}')


async def post_mutate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One HTTP/1.1 keep-alive request on an open connection; returns the response body."""
    writer.write(b"POST /mutate HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(REVIEW)).encode() + b"\r\n\r\n" + REVIEW)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    return await reader.readexactly(length)


def peer_serial(writer: asyncio.StreamWriter) -> int:
    from cryptography import x509
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number
