"""Server-side TLS for Temper's HTTPS services (webhook, scheduler extender), with hot reload.

Why this module exists: the kube-apiserver calls the webhook and kube-scheduler calls the
extender over TLS, and the serving certificate rotates (``temper certs rotate``, cert-manager).
Both services need the same hardened context and the same "pick up the new files without a
restart" behaviour, so it is written once here.

Design:
- ``server_ssl_context`` builds a server-purpose ``ssl.SSLContext``: TLS 1.2 minimum (1.0/1.1
  clients fail the handshake), forward-secret AEAD ciphers only for TLS 1.2 (TLS 1.3 suites
  are always AEAD), no compression, no renegotiation, optional client-certificate
  verification against ``client_ca_file`` (mutual TLS).
- ``CertReloader`` reloads the chain *into the existing context*: ``SSLContext.load_cert_chain``
  replaces the context's certificate and key, and every handshake that starts afterwards uses
  the new pair. Established connections keep their session (TLS never re-reads the cert after
  the handshake), so rotation drops nothing.

Invariants:
- A pair is only loaded after it was validated on a *scratch* context: a half-written file or a
  key that does not match the certificate is rejected, logged (paths, never key material),
  and the old pair stays in use. A rejected pair is retried as soon as either file changes
  again, so a rotation that was caught half-way is picked up once both files are complete
  (and an unchanged bad pair is logged once, not on every poll).
- Change detection is by (mtime_ns, size, content digest) of both files, so a rotation that
  keeps the mtime (``cp -p``, Kubernetes Secret volume symlink swaps) is still seen.
- ``CertReloader.not_after`` is the expiry of the certificate the context serves (read when a
  pair goes live); ``serving_problem`` says why it cannot serve (none loaded, expired), and
  the webhook's ``/readyz`` is 503 with that reason.

Exceptions: ``TlsConfigError`` (a ``ValueError``) when the *initial* files are unusable —
callers treat it as a startup failure. ``CertReloader`` never raises on reload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

log = logging.getLogger(__name__)

TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!RC4:!3DES"
"""TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only.
TLS 1.3 suites are configured by OpenSSL separately and are all AEAD."""


class TlsConfigError(ValueError):
    """Certificate, key or CA files that cannot be loaded (message names the file)."""


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str | None = None) -> ssl.SSLContext:
    """A server context serving ``cert_file``/``key_file``; mutual TLS when a CA file is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    _load_pair(context, cert_file, key_file)
    if client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"cannot load client CA {client_ca_file}: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _load_pair(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    try:
        context.load_cert_chain(cert_file, key_file)
    except FileNotFoundError:
        # ssl's FileNotFoundError does not say which of the two files is missing.
        missing = [f for f in (cert_file, key_file) if not Path(f).exists()] or [cert_file]
        raise TlsConfigError(f"cannot read {', '.join(missing)}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        # ssl errors describe the failure ("key values mismatch", "PEM lib"), never the key.
        raise TlsConfigError(f"cannot load certificate {cert_file} with key {key_file}: {exc}") from None


@dataclass(frozen=True)
class _Fingerprint:
    cert: tuple[int, int, str]
    key: tuple[int, int, str]


def _file_fingerprint(path: str) -> tuple[int, int, str]:
    p = Path(path)
    stat = p.stat()
    return (stat.st_mtime_ns, stat.st_size, hashlib.sha256(p.read_bytes()).hexdigest())


def _not_after(cert_file: str) -> dt.datetime | None:
    """Expiry of the first (leaf) certificate in ``cert_file``; None if it cannot be read."""
    try:
        return x509.load_pem_x509_certificate(Path(cert_file).read_bytes()).not_valid_after_utc
    except (OSError, ValueError):
        return None


class CertReloader:
    """Reload ``cert_file``/``key_file`` into ``context`` when either file changes.

    ``context`` must already serve that pair (``server_ssl_context`` loads it)."""

    def __init__(self, cert_file: str, key_file: str, context: ssl.SSLContext) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = context
        self.reloads = 0
        self.failures = 0
        self._current: _Fingerprint | None = self._fingerprint()
        self._rejected: _Fingerprint | None = None
        self.not_after: dt.datetime | None = _not_after(cert_file)
        """Expiry of the served certificate; None: no pair known to be loaded."""

    def serving_problem(self, now: dt.datetime | None = None) -> str | None:
        """Why the context cannot serve a usable certificate, or None when it can."""
        if self.not_after is None:
            return "no serving certificate loaded"
        now = now or dt.datetime.now(dt.UTC)
        if now >= self.not_after:
            return f"serving certificate {self.cert_file} expired at {self.not_after.isoformat()}"
        return None

    def _fingerprint(self) -> _Fingerprint | None:
        try:
            return _Fingerprint(_file_fingerprint(self.cert_file), _file_fingerprint(self.key_file))
        except OSError:
            return None

    def maybe_reload(self) -> bool:
        """Reload if the files changed and form a valid pair; True when a new pair went live."""
        seen = self._fingerprint()
        if seen is None:
            if self._current is not None:
                log.error("TLS files %s / %s unreadable; keeping the current certificate",
                          self.cert_file, self.key_file)
                self.failures += 1
                self._current = None
            return False
        if seen == self._current or seen == self._rejected:
            return False
        scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            _load_pair(scratch, self.cert_file, self.key_file)
            # Files may have changed between the check and now; load what we just validated
            # only if the fingerprint is still the same, else try again on the next poll.
            if self._fingerprint() != seen:
                return False
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (TlsConfigError, OSError, ssl.SSLError) as exc:
            log.error("rejected new TLS pair, keeping the current certificate: %s", exc)
            self.failures += 1
            self._rejected = seen
            return False
        self._current = seen
        self.not_after = _not_after(self.cert_file)
        self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.cert_file)
        return True

    async def watch(self, interval_s: float = 5.0) -> None:
        """Poll forever (cancel the task to stop); run with ``asyncio.create_task``."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.maybe_reload()
            except Exception:  # a watcher that dies silently would freeze rotation forever
                log.exception("TLS reload check failed")
