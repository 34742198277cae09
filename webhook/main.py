"""``temper webhook serve|config``: run the overcommit admission webhook, or print its registration.

Why this module exists: the process wiring — config file, TLS context with hot certificate
reload (``temper.tls``), the namespace source (``webhook.namespaces``: a Namespace watch with
the in-cluster or ``--kubeconfig`` credentials, unless ``namespaceCheck: off``), the HTTPS
admission app and the plain-HTTP metrics app, both behind ``temper.serving``'s connection
limits — kept out of the handlers so they stay testable through the app factories.

Usage (flags override the config file's ``webhook:`` section)::

    temper webhook serve [--config FILE] [--listen H:P] [--metrics-listen H:P] [--kubeconfig F]
                         [--tls-cert F --tls-key F [--client-ca F]] [--max-connections N]
                         [--tls-handshake-timeout S] [--request-head-timeout S] [--idle-timeout S]
    temper webhook config [--config FILE] [--ca-data-from ca.crt]   # MutatingWebhookConfiguration YAML

Deprecated, for one release (they work and warn on stderr): no subcommand or the subcommand
after the options (``temper webhook --config F [serve]``), ``--cert-file``/``--key-file``
(now ``--tls-cert``/``--tls-key``) and ``config --ca-file`` (now ``--ca-data-from``).

Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 2 bad configuration, unusable TLS files, or no
Kubernetes configuration while ``namespaceCheck`` is ``api``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import ssl
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from aiohttp import web

from temper import clikit
from temper.config import ConfigError
from temper.kube.client import auto_config
from temper.serving import GuardedSite, parse_host_port, start_guarded, wait_for_stop_signal
from temper.tls import CertReloader, TlsConfigError, server_ssl_context
from webhook.app import make_app, make_metrics_app
from webhook.manifest import mutating_webhook_configuration
from webhook.metrics import WebhookMetrics
from webhook.namespaces import NamespaceSource, RegistrationOnly, WatchedNamespaces
from webhook.settings import NamespaceCheck, WebhookSettings, load_webhook_settings

log = logging.getLogger("temper.webhook")
PROG = "temper webhook"


def cli() -> clikit.ComponentCli:
    tool = clikit.ComponentCli(PROG, "Run the overcommit admission webhook, or print its registration.", [
        "temper webhook serve --config /etc/temper/config.yaml --tls-cert tls.crt --tls-key tls.key",
        "temper webhook config --ca-data-from ca.crt | kubectl apply -f -",
    ])
    serve = tool.command("serve", "serve POST /mutate over HTTPS, /metrics /healthz /readyz over HTTP", [
        "temper webhook serve --config temper.yaml --tls-cert ./tls/tls.crt --tls-key ./tls/tls.key",
        "temper webhook serve --listen 0.0.0.0:9443 --metrics-listen 0.0.0.0:9472 --max-connections 256",
        "temper webhook serve --config temper.yaml --tls-cert tls.crt --tls-key tls.key --kubeconfig ~/.kube/config",
    ])
    clikit.add_config(serve, "the webhook: section")
    clikit.add_listen(serve, None, "HTTPS /mutate (overrides webhook.listen; default 0.0.0.0:8443)")
    clikit.add_metrics_listen(serve, None, "/metrics, /healthz, /readyz (overrides webhook.metricsListen; "
                                           "default 0.0.0.0:9471)")
    clikit.add_tls(serve, " (overrides webhook.certFile)")
    clikit.add_deprecated(serve, "--cert-file", "--tls-cert")
    clikit.add_deprecated(serve, "--key-file", "--tls-key")
    clikit.add_kubeconfig(serve)
    clikit.add_connection_limits(serve, "the webhook: section")
    clikit.add_log_level(serve)
    config = tool.command("config", "print the MutatingWebhookConfiguration (YAML) for kubectl apply", [
        "temper webhook config --ca-data-from ./tls/ca.crt | kubectl apply -f -",
        "temper webhook config --config temper.yaml   # namespace and service from the file",
    ])
    clikit.add_config(config, "namespace and serviceName of the webhook: section")
    clikit.add_ca_data_from(config, "clientConfig.caBundle")
    clikit.add_deprecated(config, "--ca-file", "--ca-data-from")
    return tool


def _parser() -> argparse.ArgumentParser:
    return cli().parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    return cli().parse(argv, legacy_default="serve")


def _settings(args: argparse.Namespace) -> WebhookSettings:
    settings = load_webhook_settings(args.config)
    if args.command != "serve":
        return settings
    overrides = {"cert_file": args.tls_cert, "key_file": args.tls_key, "client_ca_file": args.client_ca,
                 "listen": args.listen, "metrics_listen": args.metrics_listen}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None},
                       limits=clikit.limits_from_args(args, settings.limits))
    parse_host_port(settings.listen, "--listen")
    parse_host_port(settings.metrics_listen, "--metrics-listen")
    return settings


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "config":
            ca = Path(args.ca_data_from).read_bytes() if args.ca_data_from else None
            document = mutating_webhook_configuration(settings.namespace, settings.service_name, ca)
            sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
            return 0
        clikit.setup_logging(args.log_level)
        context = server_ssl_context(settings.cert_file, settings.key_file, settings.client_ca_file)
        namespaces = _namespace_source(settings, args.kubeconfig)
    except (ConfigError, TlsConfigError, OSError) as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
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


@dataclass
class Running:
    """The started webhook: both runners (clean up in order) and both sites."""

    runners: list[web.AppRunner]
    admission: GuardedSite
    metrics_site: GuardedSite
    reloader: CertReloader
    metrics: WebhookMetrics

    async def cleanup(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


async def start(settings: WebhookSettings, context: ssl.SSLContext, namespaces: NamespaceSource) -> Running:
    """HTTPS first, then the metrics port: a reachable ``/readyz`` implies TLS is listening.
    The admission app owns ``namespaces``' lifetime (its watch starts with the HTTPS runner)."""
    metrics = WebhookMetrics()
    reloader = CertReloader(settings.cert_file, settings.key_file, context)
    host, port = parse_host_port(settings.listen, "listen", allow_port_zero=True)
    mhost, mport = parse_host_port(settings.metrics_listen, "metricsListen", allow_port_zero=True)
    admission_runner, admission = await start_guarded(
        make_app(settings.policy, metrics, namespaces), host, port, ssl_context=context, limits=settings.limits,
        stats=metrics.serving_connections)
    try:
        metrics_runner, metrics_site = await start_guarded(
            make_metrics_app(metrics, namespaces, reloader), mhost, mport, limits=settings.limits,
            stats=metrics.metrics_connections)
    except BaseException:
        await admission_runner.cleanup()
        raise
    return Running([admission_runner, metrics_runner], admission, metrics_site, reloader, metrics)


async def serve(settings: WebhookSettings, context: ssl.SSLContext, namespaces: NamespaceSource) -> None:
    running = await start(settings, context, namespaces)
    log.info("serving /mutate on %s, metrics on %s (at most %d connections each; namespace check: %s)",
             running.admission.name, running.metrics_site.name, settings.limits.max_connections,
             settings.namespace_check.value)
    watcher = asyncio.create_task(running.reloader.watch(settings.reload_interval_s))
    try:
        await wait_for_stop_signal()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await running.cleanup()
