"""``temper certs generate`` / ``rotate`` produce a usable CA, serving cert, Secret and caBundle."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs.main import EXIT_ERROR, EXIT_NOT_DUE, EXIT_OK, parse_duration
from certs.main import main as certs_main
from certs.pki import CertError, dns_names_of, load_cert, load_key, needs_renewal, service_dns_names, write_atomic


def _generate(out: Path, *extra: str) -> int:
    return certs_main(["generate", "--out-dir", str(out), "--service", "temper-webhook",
                       "--namespace", "temper-system", *extra])


def test_the_serving_certificate_names_the_service_four_ways_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    assert _generate(tmp_path) == EXIT_OK
    cert, ca = load_cert(tmp_path / "tls.crt"), load_cert(tmp_path / "ca.crt")
    assert dns_names_of(cert) == ["temper-webhook", "temper-webhook.temper-system",
                                  "temper-webhook.temper-system.svc",
                                  "temper-webhook.temper-system.svc.cluster.local"]
    cert.verify_directly_issued_by(ca)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    key = load_key(tmp_path / "tls.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


def test_private_keys_and_the_secret_manifest_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    assert _generate(tmp_path) == EXIT_OK
    for name, mode in (("ca.key", 0o600), ("tls.key", 0o600), ("secret.yaml", 0o600), ("tls.crt", 0o644)):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert not list(tmp_path.glob(".*")), "no temporary files are left behind"


def test_the_secret_manifest_is_a_kubernetes_tls_secret_with_the_ca(tmp_path: Path) -> None:
    assert _generate(tmp_path, "--secret-name", "webhook-tls") == EXIT_OK
    secret = yaml.safe_load((tmp_path / "secret.yaml").read_text())
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"] == {**secret["metadata"], "name": "webhook-tls", "namespace": "temper-system"}
    assert base64.b64decode(secret["data"]["tls.crt"]) == (tmp_path / "tls.crt").read_bytes()
    assert base64.b64decode(secret["data"]["tls.key"]) == (tmp_path / "tls.key").read_bytes()
    assert base64.b64decode(secret["data"]["ca.crt"]) == (tmp_path / "ca.crt").read_bytes()


def test_the_ca_bundle_is_the_base64_of_the_ca_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _generate(tmp_path) == EXIT_OK
    bundle = (tmp_path / "ca-bundle.b64").read_text().strip()
    assert base64.b64decode(bundle) == (tmp_path / "ca.crt").read_bytes()
    out = capsys.readouterr().out
    assert f"caBundle: {bundle}" in out
    assert "PRIVATE KEY" not in out


def test_generate_refuses_to_replace_an_existing_ca_without_force(tmp_path: Path) -> None:
    assert _generate(tmp_path) == EXIT_OK
    before = (tmp_path / "ca.crt").read_bytes()
    assert _generate(tmp_path) == EXIT_ERROR
    assert (tmp_path / "ca.crt").read_bytes() == before
    assert _generate(tmp_path, "--force") == EXIT_OK
    assert (tmp_path / "ca.crt").read_bytes() != before


def test_rsa_keys_are_available_on_request(tmp_path: Path) -> None:
    assert _generate(tmp_path, "--key-type", "rsa") == EXIT_OK
    assert load_cert(tmp_path / "tls.crt").public_key().key_size == 3072  # type: ignore[union-attr]


def test_rotate_is_a_no_op_with_its_own_exit_code_when_not_due(tmp_path: Path) -> None:
    assert _generate(tmp_path, "--days", "365") == EXIT_OK
    before = (tmp_path / "tls.crt").read_bytes()
    assert certs_main(["rotate", "--out-dir", str(tmp_path), "--renew-before", "30d"]) == EXIT_NOT_DUE
    assert (tmp_path / "tls.crt").read_bytes() == before


def test_rotate_issues_a_new_certificate_from_the_same_ca_for_the_same_names_when_due(tmp_path: Path) -> None:
    assert _generate(tmp_path, "--days", "10") == EXIT_OK
    old = load_cert(tmp_path / "tls.crt")
    ca_before = (tmp_path / "ca.crt").read_bytes()
    assert certs_main(["rotate", "--out-dir", str(tmp_path), "--renew-before", "30d"]) == EXIT_OK
    new = load_cert(tmp_path / "tls.crt")
    assert new.serial_number != old.serial_number
    assert dns_names_of(new) == dns_names_of(old)
    assert (tmp_path / "ca.crt").read_bytes() == ca_before
    new.verify_directly_issued_by(load_cert(tmp_path / "ca.crt"))
    assert new.not_valid_after_utc > old.not_valid_after_utc


def test_rotate_without_a_certificate_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert certs_main(["rotate", "--out-dir", str(tmp_path)]) == EXIT_ERROR
    assert "tls.crt" in capsys.readouterr().err


def test_a_corrupt_key_file_is_reported_without_echoing_its_content(tmp_path: Path) -> None:
    (tmp_path / "bad.key").write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n")
    with pytest.raises(CertError) as info:
        load_key(tmp_path / "bad.key")
    assert "c2VjcmV0" not in str(info.value)


def test_renewal_is_due_inside_the_window_and_not_before() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    class Fake:
        not_valid_after_utc = now + dt.timedelta(days=20)

    assert needs_renewal(Fake(), dt.timedelta(days=30), now)  # type: ignore[arg-type]
    assert not needs_renewal(Fake(), dt.timedelta(days=10), now)  # type: ignore[arg-type]
    assert parse_duration("720h") == dt.timedelta(days=30) == parse_duration("30")


def test_service_names_must_be_dns_labels() -> None:
    with pytest.raises(CertError):
        service_dns_names("Bad_Name", "ns")


def test_the_output_directory_is_private_even_under_umask_000(tmp_path: Path) -> None:
    """Issue 15 §4: ``certs generate`` created its directory 0777 under umask 000."""
    target = tmp_path / "fresh" / "tls.key"
    old = os.umask(0)
    try:
        write_atomic(target, b"key", mode=0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
