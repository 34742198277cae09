"""A small PKI for the webhook: one CA, one serving certificate, Secret manifest, caBundle.

Why this module exists: the kube-apiserver only calls a webhook over TLS it can verify against
the configuration's ``caBundle``. Clusters without cert-manager need a self-contained way to
mint that CA and the serving certificate, and to rotate the serving certificate before it
expires (the running webhook reloads it: ``temper.tls.CertReloader``).

Design:
- ECDSA P-256 by default (small, fast handshakes, accepted by every Kubernetes TLS stack);
  RSA-3072 on request. The CA signs with SHA-256.
- The serving certificate names the Service the way the API server dials it:
  ``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``; extendedKeyUsage
  serverAuth only; the CA is ``pathlen:0`` (it cannot mint intermediates).
- Files are written atomically (temporary file in the same directory, fsync, rename): a
  reader sees the old file or the new one, never half of one. Private keys (and the Secret
  manifest, which contains one) are mode 0600 from creation — never briefly world-readable.
- Times are explicit arguments (``now``) so tests can mint expired certificates.

Exceptions::

    CertError (ValueError)   unreadable/invalid PEM, bad argument, refusing to overwrite

Key material never appears in an exception message or a log line.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["ecdsa", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE = "ca.crt", "ca.key", "tls.crt", "tls.key"
SECRET_FILE, CA_BUNDLE_FILE = "secret.yaml", "ca-bundle.b64"
CLOCK_SKEW = dt.timedelta(minutes=5)
"""``notBefore`` is backdated this much so nodes with a slightly slow clock accept a new cert."""


class CertError(ValueError):
    """A certificate operation that cannot proceed; the message names the file or argument."""


def service_dns_names(service: str, namespace: str, cluster_domain: str = "cluster.local") -> list[str]:
    """The names the API server may use to dial ``service`` in ``namespace``."""
    for label, value in (("service", service), ("namespace", namespace)):
        if not value or len(value) > 63 or not value.replace("-", "").isalnum() or value != value.lower():
            raise CertError(f"{label} {value!r} is not a DNS-1123 label")
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.{cluster_domain}"]


def new_key(key_type: KeyType = "ecdsa") -> PrivateKey:
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise CertError(f"unknown key type {key_type!r} (ecdsa or rsa)")


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def generate_ca(common_name: str = "temper-webhook-ca", days: int = 3650, key_type: KeyType = "ecdsa",
                now: dt.datetime | None = None) -> tuple[PrivateKey, x509.Certificate]:
    key = new_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = _now(now) - CLOCK_SKEW
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_serving_cert(ca_key: PrivateKey, ca_cert: x509.Certificate, dns_names: Sequence[str], days: int = 365,
                       key_type: KeyType = "ecdsa", now: dt.datetime | None = None,
                       ) -> tuple[PrivateKey, x509.Certificate]:
    if not dns_names:
        raise CertError("a serving certificate needs at least one DNS name")
    if days < 1:
        raise CertError("validity must be at least one day")
    key = new_key(key_type)
    start = _now(now) - CLOCK_SKEW
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[-1])]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=key_type == "rsa",
                                     content_commitment=False, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=False, crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def dns_names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.get_values_for_type(x509.DNSName)]


def needs_renewal(cert: x509.Certificate, renew_before: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """True when the certificate expires within ``renew_before`` (or already has)."""
    return cert.not_valid_after_utc - _now(now) <= renew_before


# --- encodings -----------------------------------------------------------------------------


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise CertError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise CertError(f"{path} is not a PEM certificate") from None


def load_key(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise CertError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise CertError(f"{path} is not an unencrypted PEM private key") from None  # never echo the content
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise CertError(f"{path}: only ECDSA and RSA keys are supported")
    return key


def ca_bundle(ca_cert: x509.Certificate) -> str:
    """The ``caBundle`` field of a webhook configuration: base64 of the CA's PEM."""
    return base64.b64encode(cert_pem(ca_cert)).decode("ascii")


def tls_secret_manifest(name: str, namespace: str, cert: x509.Certificate, key: PrivateKey,
                        ca_cert: x509.Certificate) -> dict[str, Any]:
    """A ``kubernetes.io/tls`` Secret with ``tls.crt``, ``tls.key`` and ``ca.crt``."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": "temper",
                                "app.kubernetes.io/component": "overcommit-webhook"}},
        "data": {"tls.crt": b64(cert_pem(cert)), "tls.key": b64(key_pem(key)), "ca.crt": b64(cert_pem(ca_cert))},
    }


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; the file has ``mode`` from its creation."""
    directory = path.parent
    # 0700 whatever the caller's umask (it holds private keys); an existing directory is kept as
    # the operator made it.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)  # created 0600
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class Bundle:
    """Everything ``temper certs generate`` writes; file names are the constants above."""

    ca_key: PrivateKey
    ca_cert: x509.Certificate
    key: PrivateKey
    cert: x509.Certificate


def write_bundle(out_dir: Path, bundle: Bundle, secret: dict[str, Any], include_ca_key: bool = True) -> list[Path]:
    """Write the bundle; the serving cert before its key is irrelevant: the reloader only
    accepts a matching pair. Returns the paths written."""
    files: list[tuple[str, bytes, int]] = [(CA_FILE, cert_pem(bundle.ca_cert), 0o644)]
    if include_ca_key:
        files.append((CA_KEY_FILE, key_pem(bundle.ca_key), 0o600))
    files += [
        (CERT_FILE, cert_pem(bundle.cert), 0o644),
        (KEY_FILE, key_pem(bundle.key), 0o600),
        (SECRET_FILE, yaml.safe_dump(secret, sort_keys=False).encode(), 0o600),
        (CA_BUNDLE_FILE, (ca_bundle(bundle.ca_cert) + "\n").encode(), 0o644),
    ]
    written = []
    for name, data, mode in files:
        write_atomic(out_dir / name, data, mode)
        written.append(out_dir / name)
    return written
