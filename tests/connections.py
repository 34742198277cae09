"""Real-socket helpers for the connection-limit tests (core, webhook, extender): raw TCP
clients that never send a ClientHello, TLS clients that dribble a head, and a wait for the
server to close a connection. Nothing here is faked: every client is a loopback socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from certs.pki import cert_pem, generate_ca, issue_serving_cert, key_pem

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def client(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def mint_localhost(directory: Path) -> TlsFiles:
    """A fresh CA and a serving pair for ``localhost``, written as PEM files."""
    ca_key, ca = generate_ca("temper-test-ca", now=dt.datetime.now(dt.UTC))
    key, cert = issue_serving_cert(ca_key, ca, ["localhost"])
    files = TlsFiles(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    files.ca.write_bytes(cert_pem(ca))
    files.cert.write_bytes(cert_pem(cert))
    files.key.write_bytes(key_pem(key))
    return files


async def open_raw(port: int, count: int) -> list[Stream]:
    """``count`` TCP connections that send nothing (no ClientHello, no request)."""
    return [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]


async def open_tls(port: int, context: ssl.SSLContext, server_hostname: str) -> Stream:
    return await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_hostname)


async def closed_within(stream: Stream, timeout_s: float) -> float:
    """Seconds until the server closed ``stream`` (EOF or reset); fails after ``timeout_s``."""
    reader, writer = stream
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            while await reader.read(65536):
                pass
    except (ConnectionError, ssl.SSLError):
        pass
    except TimeoutError:
        raise AssertionError(f"connection still open after {timeout_s} s") from None
    finally:
        writer.close()
    return time.monotonic() - started


async def dribble(stream: Stream, data: bytes, every_s: float) -> bool:
    """Send ``data`` one byte every ``every_s``; False when the server cut the connection."""
    _, writer = stream
    for byte in data:
        if writer.is_closing() or writer.transport.is_closing():
            return False
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            return False
        await asyncio.sleep(every_s)
    return True


async def get(stream: Stream, path: str, host: str = "localhost") -> tuple[int, bytes]:
    """One keep-alive ``GET`` on an open connection: (status, body)."""
    reader, writer = stream
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    return int(lines[0].split()[1]), await reader.readexactly(length)


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def close_all(streams: list[Stream]) -> None:
    for _, writer in streams:
        writer.close()
