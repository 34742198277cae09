"""``temper certs``: mint the webhook's CA and serving certificate, or rotate the latter.

Why this module exists: the command-line face of ``certs.pki`` for clusters without
cert-manager. Usage::

    temper certs generate --out-dir DIR [--service temper-webhook] [--namespace temper-system]
                          [--days 365] [--ca-days 3650] [--key-type ecdsa|rsa]
                          [--secret-name temper-webhook-tls] [--force]
    temper certs rotate   --out-dir DIR [--renew-before 30d] [--days 365] [--force]

``generate`` writes ``ca.crt``, ``ca.key`` (0600), ``tls.crt``, ``tls.key`` (0600),
``secret.yaml`` (0600: it holds the key) and ``ca-bundle.b64`` (the webhook configuration's
``caBundle``), and refuses to overwrite an existing CA unless ``--force`` (losing a CA breaks
every webhook configuration that trusts it). ``rotate`` issues a new serving certificate from
the same CA, for the same names, when the current one expires within ``--renew-before``;
the running webhook picks the files up without a restart (``temper.tls.CertReloader``).

Exit codes: 0 written/rotated, 3 rotation not due (nothing written), 2 error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

from certs.pki import (
    CA_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    Bundle,
    CertError,
    KeyType,
    ca_bundle,
    dns_names_of,
    generate_ca,
    issue_serving_cert,
    load_cert,
    load_key,
    needs_renewal,
    service_dns_names,
    tls_secret_manifest,
    write_bundle,
)

EXIT_OK, EXIT_ERROR, EXIT_NOT_DUE = 0, 2, 3
_DURATION = re.compile(r"^(\d+)([dh]?)$")


def parse_duration(text: str) -> dt.timedelta:
    """``30d``, ``720h`` or a bare number of days."""
    match = _DURATION.match(text.strip())
    if not match:
        raise CertError(f"duration {text!r}: expected e.g. 30d or 720h")
    amount, unit = int(match.group(1)), match.group(2)
    return dt.timedelta(hours=amount) if unit == "h" else dt.timedelta(days=amount)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="temper certs", description="webhook TLS certificates")
    sub = parser.add_subparsers(dest="action", required=True)
    gen = sub.add_parser("generate", help="new CA and serving certificate")
    gen.add_argument("--out-dir", required=True, type=Path)
    gen.add_argument("--service", default="temper-webhook")
    gen.add_argument("--namespace", default="temper-system")
    gen.add_argument("--days", type=int, default=365, help="serving certificate validity (days)")
    gen.add_argument("--ca-days", type=int, default=3650, help="CA validity (days)")
    gen.add_argument("--key-type", choices=("ecdsa", "rsa"), default="ecdsa")
    gen.add_argument("--secret-name", default="temper-webhook-tls")
    gen.add_argument("--force", action="store_true", help="overwrite an existing CA")
    rot = sub.add_parser("rotate", help="new serving certificate from the same CA when due")
    rot.add_argument("--out-dir", required=True, type=Path)
    rot.add_argument("--renew-before", default="30d", help="rotate when expiring within this (30d, 720h)")
    rot.add_argument("--days", type=int, default=365)
    rot.add_argument("--key-type", choices=("ecdsa", "rsa"), default="ecdsa")
    rot.add_argument("--namespace", default="temper-system", help="namespace of the Secret manifest")
    rot.add_argument("--secret-name", default="temper-webhook-tls")
    rot.add_argument("--force", action="store_true", help="rotate even when not due")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return generate(args) if args.action == "generate" else rotate(args)
    except (CertError, OSError) as exc:
        sys.stderr.write(f"temper certs: {exc}\n")
        return EXIT_ERROR


def generate(args: argparse.Namespace) -> int:
    out: Path = args.out_dir
    if (out / CA_FILE).exists() and not args.force:
        raise CertError(f"{out / CA_FILE} exists; use 'temper certs rotate', or --force to replace the CA")
    key_type: KeyType = args.key_type
    names = service_dns_names(args.service, args.namespace)
    ca_key, ca_cert = generate_ca(days=args.ca_days, key_type=key_type)
    key, cert = issue_serving_cert(ca_key, ca_cert, names, days=args.days, key_type=key_type)
    secret = tls_secret_manifest(args.secret_name, args.namespace, cert, key, ca_cert)
    written = write_bundle(out, Bundle(ca_key, ca_cert, key, cert), secret)
    print("wrote " + ", ".join(str(p) for p in written))
    print(f"serving certificate for {', '.join(names)}, valid until {cert.not_valid_after_utc:%Y-%m-%dT%H:%MZ}")
    print(f"caBundle: {ca_bundle(ca_cert)}")
    return EXIT_OK


def rotate(args: argparse.Namespace) -> int:
    out: Path = args.out_dir
    current = load_cert(out / CERT_FILE)
    window = parse_duration(args.renew_before)
    if not args.force and not needs_renewal(current, window):
        print(f"not due: {out / CERT_FILE} is valid until {current.not_valid_after_utc:%Y-%m-%dT%H:%MZ}, "
              f"more than {args.renew_before} away")
        return EXIT_NOT_DUE
    ca_key, ca_cert = load_key(out / CA_KEY_FILE), load_cert(out / CA_FILE)
    names = dns_names_of(current)
    if not names:
        raise CertError(f"{out / CERT_FILE} has no DNS names to reissue for")
    key_type: KeyType = args.key_type
    key, cert = issue_serving_cert(ca_key, ca_cert, names, days=args.days, key_type=key_type)
    secret = tls_secret_manifest(args.secret_name, args.namespace, cert, key, ca_cert)
    write_bundle(out, Bundle(ca_key, ca_cert, key, cert), secret)
    print(f"rotated {out / CERT_FILE}: valid until {cert.not_valid_after_utc:%Y-%m-%dT%H:%MZ} (same CA)")
    return EXIT_OK
