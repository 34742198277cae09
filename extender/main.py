"""``temper extender``: serve the kube-scheduler extender, or print the scheduler configuration.

Why it exists: the extender is independently deployable; this is its only entry point
(``temper.cli`` dispatches ``temper extender ...`` here).

    temper extender serve  --listen HOST:PORT [--tls-cert F --tls-key F [--client-ca F]]
                           [--filter] [--stale-after SECONDS] [--max-body-mib N]
                           [--kubeconfig PATH | --no-watch]
    temper extender config --url URL [--weight N] [--ca-file PATH | --ca-data-from PATH]
                           [--server-name NAME] [--filter] [--complement] [--http-timeout 1s]

Bad flags exit 2 with a message naming the flag; an unusable TLS pair or kubeconfig exits 1.
"""

from __future__ import annotations

import argparse
import logging
import sys

from extender.schedconfig import DEFAULT_HTTP_TIMEOUT, DEFAULT_WEIGHT, render_yaml, scheduler_configuration
from extender.scoring import DEFAULT_STALE_AFTER_S

DEFAULT_LISTEN = "0.0.0.0:8888"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); raises ``ValueError``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"--listen must be HOST:PORT, got {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="temper extender", description="Density-aware kube-scheduler extender")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve /prioritize (and /filter) over HTTP or HTTPS")
    serve.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN})")
    serve.add_argument("--tls-cert", help="serving certificate (PEM); HTTPS when given with --tls-key")
    serve.add_argument("--tls-key", help="serving key (PEM)")
    serve.add_argument("--client-ca", help="require client certificates signed by this CA (mutual TLS)")
    serve.add_argument("--filter", action="store_true", help="also serve /filter (off by default)")
    serve.add_argument("--stale-after", type=float, default=DEFAULT_STALE_AFTER_S,
                       help=f"annotations older than this many seconds score neutral (default {DEFAULT_STALE_AFTER_S})")
    serve.add_argument("--max-body-mib", type=int, default=128, help="request body cap (default 128)")
    serve.add_argument("--kubeconfig", help="kubeconfig for the node watch (default: in-cluster, then ~/.kube/config)")
    serve.add_argument("--no-watch", action="store_true",
                       help="no node watch: only nodeCacheCapable=false (full Node objects) requests can be scored")
    serve.add_argument("--log-level", default="INFO")
    config = sub.add_parser("config", help="print the KubeSchedulerConfiguration for the infera-scheduler profile")
    config.add_argument("--url", required=True, help="the extender's urlPrefix (http:// or https://)")
    config.add_argument("--weight", type=int, default=DEFAULT_WEIGHT)
    config.add_argument("--ca-file", help="tlsConfig.caFile: path of the CA inside the scheduler's pod")
    config.add_argument("--ca-data-from", help="tlsConfig.caData: read this PEM file and embed it")
    config.add_argument("--server-name", help="tlsConfig.serverName")
    config.add_argument("--filter", action="store_true", help="add filterVerb (never with --complement)")
    config.add_argument("--complement", action="store_true",
                        help="Karpenter / Cast AI keep placement: score only, never filter")
    config.add_argument("--http-timeout", default=DEFAULT_HTTP_TIMEOUT)
    config.add_argument("--lease-namespace", default="kube-system")
    return parser


def _config(args: argparse.Namespace) -> int:
    ca_data = None
    if args.ca_data_from:
        try:
            with open(args.ca_data_from, "rb") as handle:
                ca_data = handle.read()
        except OSError as exc:
            sys.stderr.write(f"temper extender config: cannot read {args.ca_data_from}: {exc.strerror}\n")
            return 1
    try:
        document = scheduler_configuration(
            args.url, weight=args.weight, filter_enabled=args.filter, complement=args.complement,
            ca_file=args.ca_file, ca_data=ca_data, server_name=args.server_name,
            http_timeout=args.http_timeout, lease_namespace=args.lease_namespace)
    except ValueError as exc:
        sys.stderr.write(f"temper extender config: {exc}\n")
        return 2
    sys.stdout.write(render_yaml(document))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from extender.app import Settings, make_app
    from temper.kube.client import ApiError, auto_config
    from temper.tls import CertReloader, TlsConfigError, server_ssl_context

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        sys.stderr.write(f"temper extender serve: {exc}\n")
        return 2
    if bool(args.tls_cert) != bool(args.tls_key) or (args.client_ca and not args.tls_cert):
        sys.stderr.write("temper extender serve: --tls-cert and --tls-key go together (--client-ca needs both)\n")
        return 2
    if not 1 <= args.stale_after <= 86400 or not 1 <= args.max_body_mib <= 1024:
        sys.stderr.write("temper extender serve: --stale-after must be 1..86400, --max-body-mib 1..1024\n")
        return 2
    settings = Settings(filter_enabled=args.filter, stale_after_s=args.stale_after,
                        max_body_bytes=args.max_body_mib * 1024 * 1024)
    ssl_context = None
    if args.tls_cert:
        try:
            ssl_context = server_ssl_context(args.tls_cert, args.tls_key, args.client_ca)
        except TlsConfigError as exc:
            sys.stderr.write(f"temper extender serve: {exc}\n")
            return 1
        settings.reloader = CertReloader(args.tls_cert, args.tls_key, ssl_context)
    if not args.no_watch:
        try:
            settings.kube = auto_config(args.kubeconfig)
        except (ApiError, OSError, ValueError) as exc:
            sys.stderr.write(f"temper extender serve: no Kubernetes configuration ({exc}); "
                             "use --kubeconfig, run in-cluster, or --no-watch\n")
            return 1
        except Exception as exc:  # the kubernetes loader raises its own ConfigException types
            sys.stderr.write(f"temper extender serve: cannot load kubeconfig: {exc}\n")
            return 1
    web.run_app(make_app(settings), host=host, port=port, ssl_context=ssl_context, access_log=None,
                print=lambda text: logging.getLogger("extender").info("%s", text))
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config":
        return _config(args)
    return _serve(args)
