"""``temper extender serve|config``: serve the kube-scheduler extender, or print the scheduler configuration.

Why it exists: the extender is independently deployable; this is its only entry point
(``temper.cli`` dispatches ``temper extender ...`` here).

    temper extender serve  [--listen HOST:PORT] [--tls-cert F --tls-key F [--client-ca F]]
                           [--filter] [--stale-after SECONDS] [--max-body-mib N]
                           [--kubeconfig PATH | --no-watch] [--max-connections N]
                           [--tls-handshake-timeout S] [--request-head-timeout S] [--idle-timeout S]
    temper extender config --url URL [--weight N] [--ca-file PATH | --ca-data-from PATH]
                           [--server-name NAME] [--filter] [--complement] [--http-timeout 1s]

The listener is ``temper.serving``'s: at most ``--max-connections`` open, a TLS handshake cut
after ``--tls-handshake-timeout``, a request head after ``--request-head-timeout``.

Bad flags exit 2 with a message naming the flag; an unusable TLS pair or kubeconfig exits 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from extender.schedconfig import DEFAULT_HTTP_TIMEOUT, DEFAULT_WEIGHT, render_yaml, scheduler_configuration
from extender.scoring import DEFAULT_STALE_AFTER_S
from temper import clikit
from temper.config import ConfigError

if TYPE_CHECKING:
    import ssl

    from aiohttp import web

    from extender.app import Settings
    from temper.serving import ConnectionLimits

log = logging.getLogger("extender")
DEFAULT_LISTEN = "0.0.0.0:8888"
PROG = "temper extender"


def cli() -> clikit.ComponentCli:
    tool = clikit.ComponentCli(PROG, "Density-aware kube-scheduler extender.", [
        "temper extender serve --tls-cert tls.crt --tls-key tls.key",
        "temper extender config --url https://infera-extender.infera.svc:9471 --ca-file /etc/temper/ca.crt",
    ])
    serve = tool.command("serve", "serve /prioritize (and /filter) over HTTP or HTTPS", [
        "temper extender serve --listen 0.0.0.0:9471 --tls-cert /etc/temper/tls/tls.crt "
        "--tls-key /etc/temper/tls/tls.key",
        "temper extender serve --listen 127.0.0.1:8888 --no-watch   # full-Node requests only, plain HTTP",
    ])
    clikit.add_listen(serve, DEFAULT_LISTEN, "/prioritize, /filter, /healthz, /readyz, /metrics")
    clikit.add_metrics_listen(serve, None, "/metrics, /healthz and /readyz on a port of their own "
                                           "(they stay on --listen too)")
    clikit.add_tls(serve, "; HTTPS when given with --tls-key")
    serve.add_argument("--filter", action="store_true", help="also serve /filter (off by default)")
    serve.add_argument("--stale-after", type=float, default=DEFAULT_STALE_AFTER_S,
                       help=f"annotations older than this many seconds score neutral (default {DEFAULT_STALE_AFTER_S})")
    serve.add_argument("--max-body-mib", type=int, default=128, help="request body cap (default 128)")
    clikit.add_kubeconfig(serve)
    serve.add_argument("--no-watch", action="store_true",
                       help="no node watch: only nodeCacheCapable=false (full Node objects) requests can be scored")
    clikit.add_connection_limits(serve)
    clikit.add_log_level(serve)
    config = tool.command("config", "print the KubeSchedulerConfiguration for the infera-scheduler profile", [
        "temper extender config --url http://infera-extender.infera.svc:9471 --complement",
        "temper extender config --url https://infera-extender.infera.svc:9471 --ca-data-from ca.crt "
        "--server-name infera-extender.infera.svc",
    ])
    config.add_argument("--url", required=True, help="the extender's urlPrefix (http:// or https://)")
    config.add_argument("--weight", type=int, default=DEFAULT_WEIGHT)
    config.add_argument("--ca-file", help="tlsConfig.caFile: path of the CA inside the scheduler's pod")
    clikit.add_ca_data_from(config, "tlsConfig.caData")
    config.add_argument("--server-name", help="tlsConfig.serverName")
    config.add_argument("--filter", action="store_true", help="add filterVerb (never with --complement)")
    config.add_argument("--complement", action="store_true",
                        help="Karpenter / Cast AI keep placement: score only, never filter")
    config.add_argument("--http-timeout", default=DEFAULT_HTTP_TIMEOUT)
    config.add_argument("--lease-namespace", default="kube-system")
    return tool


def _parser() -> argparse.ArgumentParser:
    return cli().parser


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
    import asyncio

    from extender.app import Settings, make_app
    from temper.kube.client import ApiError, auto_config
    from temper.serving import parse_host_port
    from temper.tls import CertReloader, TlsConfigError, server_ssl_context

    clikit.setup_logging(args.log_level)
    try:
        host, port = parse_host_port(args.listen)
        metrics_address = parse_host_port(args.metrics_listen, "--metrics-listen") if args.metrics_listen else None
        limits = clikit.limits_from_args(args)
    except ConfigError as exc:
        sys.stderr.write(f"{PROG} serve: {exc}\n")
        return 2
    if bool(args.tls_cert) != bool(args.tls_key) or (args.client_ca and not args.tls_cert):
        sys.stderr.write(f"{PROG} serve: --tls-cert and --tls-key go together (--client-ca needs both)\n")
        return 2
    if not 1 <= args.stale_after <= 86400 or not 1 <= args.max_body_mib <= 1024:
        sys.stderr.write(f"{PROG} serve: --stale-after must be 1..86400, --max-body-mib 1..1024\n")
        return 2
    settings = Settings(filter_enabled=args.filter, stale_after_s=args.stale_after,
                        max_body_bytes=args.max_body_mib * 1024 * 1024)
    ssl_context = None
    if args.tls_cert:
        try:
            ssl_context = server_ssl_context(args.tls_cert, args.tls_key, args.client_ca)
        except TlsConfigError as exc:
            sys.stderr.write(f"{PROG} serve: {exc}\n")
            return 1
        settings.reloader = CertReloader(args.tls_cert, args.tls_key, ssl_context)
    if not args.no_watch:
        try:
            settings.kube = auto_config(args.kubeconfig)
        except (ApiError, OSError, ValueError) as exc:
            sys.stderr.write(f"{PROG} serve: no Kubernetes configuration ({exc}); "
                             "use --kubeconfig, run in-cluster, or --no-watch\n")
            return 1
        except Exception as exc:  # the kubernetes loader raises its own ConfigException types
            sys.stderr.write(f"{PROG} serve: cannot load kubeconfig: {exc}\n")
            return 1
    asyncio.run(_run(make_app(settings), (host, port), metrics_address, ssl_context, limits, settings))
    return 0


def _log_backend() -> None:
    from extender.fastreply import BACKEND, NATIVE

    if BACKEND is NATIVE:
        log.info("per-name loop: native backend (extender/_fastreply.c)")
    else:
        log.warning("per-name loop: pure-Python backend (%s): /prioritize is several times slower at "
                    "thousands of nodes", "TEMPER_EXTENDER_BACKEND=python" if NATIVE else "extension not built")


async def _run(app: web.Application, address: tuple[str, int], metrics_address: tuple[str, int] | None,
               ssl_context: ssl.SSLContext | None, limits: ConnectionLimits, settings: Settings) -> None:
    """The serving port, then the probe port: a reachable ``/readyz`` there implies the serving port listens."""
    from extender.app import make_probe_app
    from temper.serving import start_guarded, wait_for_stop_signal

    runner, site = await start_guarded(app, *address, ssl_context=ssl_context, limits=limits,
                                       stats=settings.connections)
    runners = [runner]
    log.info("serving on %s (at most %d connections)", site.name, limits.max_connections)
    _log_backend()
    try:
        if metrics_address is not None:
            probe_runner, probe_site = await start_guarded(make_probe_app(app), *metrics_address, limits=limits,
                                                           stats=settings.metrics_connections)
            runners.append(probe_runner)
            log.info("metrics and probes on %s", probe_site.name)
        await wait_for_stop_signal()
    finally:
        for each in reversed(runners):
            await each.cleanup()


def main(argv: list[str]) -> int:
    args = cli().parse(argv)
    if args.command == "config":
        return _config(args)
    return _serve(args)
