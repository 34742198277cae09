"""``temper webhook``: run the overcommit admission webhook, or print its registration.

Why this module exists: the process wiring — config file, TLS context with hot certificate
reload (``temper.tls``), the namespace source (``webhook.namespaces``: a Namespace watch with
the in-cluster or ``--kubeconfig`` credentials, unless ``namespaceCheck: off``), the HTTPS
admission app and the plain-HTTP metrics app — kept out of the handlers so they stay testable
through the app factories.

Usage::

    temper webhook [serve] [--config FILE] [--cert-file F --key-file F] [--listen H:P] [--kubeconfig F]
    temper webhook config [--config FILE] [--ca-file ca.crt]   # MutatingWebhookConfiguration YAML

Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 2 bad configuration, unusable TLS files, or no
Kubernetes configuration while ``namespaceCheck`` is ``api``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from dataclasses import replace
from pathlib import Path

import yaml
from aiohttp import web

from temper.config import ConfigError
from temper.kube.client import auto_config
from temper.tls import CertReloader, TlsConfigError, server_ssl_context
from webhook.app import make_app, make_metrics_app
from webhook.manifest import mutating_webhook_configuration
from webhook.metrics import WebhookMetrics
from webhook.namespaces import NamespaceSource, RegistrationOnly, WatchedNamespaces
from webhook.settings import NamespaceCheck, WebhookSettings, load_webhook_settings, split_host_port

log = logging.getLogger("temper.webhook")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="temper webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", choices=("serve", "config"), default="serve")
    parser.add_argument("--config", help="Temper config file (YAML; the webhook: section)")
    parser.add_argument("--cert-file", help="serving certificate (overrides webhook.certFile)")
    parser.add_argument("--key-file", help="serving key (overrides webhook.keyFile)")
    parser.add_argument("--listen", help="HTTPS address host:port (overrides webhook.listen)")
    parser.add_argument("--metrics-listen", help="metrics address host:port (overrides webhook.metricsListen)")
    parser.add_argument("--ca-file", help="config: CA certificate whose base64 becomes caBundle")
    parser.add_argument("--kubeconfig", help="serve: kubeconfig for the namespace watch "
                                             "(default: in-cluster, then ~/.kube/config)")
    parser.add_argument("--log-level", default="INFO")
    return parser


def _settings(args: argparse.Namespace) -> WebhookSettings:
    settings = load_webhook_settings(args.config)
    overrides = {"cert_file": args.cert_file, "key_file": args.key_file,
                 "listen": args.listen, "metrics_listen": args.metrics_listen}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    split_host_port(settings.listen, "--listen")
    split_host_port(settings.metrics_listen, "--metrics-listen")
    return settings


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = _settings(args)
        if args.action == "config":
            ca = Path(args.ca_file).read_bytes() if args.ca_file else None
            document = mutating_webhook_configuration(settings.namespace, settings.service_name, ca)
            sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
            return 0
        context = server_ssl_context(settings.cert_file, settings.key_file, settings.client_ca_file)
        namespaces = _namespace_source(settings, args.kubeconfig)
    except (ConfigError, TlsConfigError, OSError) as exc:
        sys.stderr.write(f"temper webhook: {exc}\n")
        return 2
    asyncio.run(serve(settings, context, namespaces))
    return 0


def _namespace_source(settings: WebhookSettings, kubeconfig: str | None) -> NamespaceSource:
    if settings.namespace_check is NamespaceCheck.OFF:
        return RegistrationOnly()
    try:
        return WatchedNamespaces(auto_config(kubeconfig))
    except Exception as exc:  # ApiError, OSError, or the kubernetes loader's own ConfigException types
        raise ConfigError(f"namespaceCheck api needs Kubernetes credentials ({type(exc).__name__}: {exc}); "
                          "run in-cluster, pass --kubeconfig, or set webhook.namespaceCheck: off") from None


async def serve(settings: WebhookSettings, context: ssl.SSLContext, namespaces: NamespaceSource) -> None:
    metrics = WebhookMetrics()
    reloader = CertReloader(settings.cert_file, settings.key_file, context)
    runners = [web.AppRunner(make_app(settings.policy, metrics, namespaces), access_log=None),
               web.AppRunner(make_metrics_app(metrics, namespaces), access_log=None)]
    for runner in runners:
        await runner.setup()
    host, port = split_host_port(settings.listen, "listen")
    mhost, mport = split_host_port(settings.metrics_listen, "metricsListen")
    await web.TCPSite(runners[0], host, port, ssl_context=context).start()
    await web.TCPSite(runners[1], mhost, mport).start()
    log.info("serving /mutate on https://%s:%d, metrics on http://%s:%d (namespace check: %s)",
             host, port, mhost, mport, settings.namespace_check.value)
    watcher = asyncio.create_task(reloader.watch(settings.reload_interval_s))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for runner in runners:
            await runner.cleanup()
