"""``temper console serve|config|openapi``: run the management plane, print its effective
settings, or print its OpenAPI document.

Why it exists: wiring only (``console.app`` holds the handlers). The listener is
``temper.serving``'s, with the same connection limits as the webhook and the extender, and
HTTPS when ``--tls-cert``/``--tls-key`` are given (``temper.tls``, hot reload).

    temper console serve [--listen HOST:PORT] [--cluster-name NAME] [--api-url URL | --kubeconfig F]
                         [--token NAME:ROLE:SECRET ...] [--tls-cert F --tls-key F [--client-ca F]]
                         [--store FILE] [--audit-retention-days N] [--tokenreview-group GROUP=ROLE ...]
                         [--agent-url TEMPLATE] [--agent-configmap NAMESPACE/NAME] [--agent-selector k=v,...]
                         [--data-dir D] [--prices F] [--peers F]
                         [--hub-url URL --hub-token-file F [--hub-ca F]]     (console.modes)
    temper console config [same flags]     # what serve would use, as YAML; never a token secret
    temper console openapi                 # the /api/v1 OpenAPI 3.1 document (JSON)

Deprecated, for one release (they work and warn on stderr): ``--host`` and ``--port`` (now
``--listen HOST:PORT``). ``CONSOLE_SECRET`` in the environment keys the token digests.

Exit codes: 0 after SIGTERM/SIGINT, 2 for bad flags, unusable TLS files or an unusable
``--store`` (not a database, or a schema newer than this build).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import sys
from typing import Any

import yaml
from aiohttp import web

from console import modes
from console.app import Settings, create_app, token_digest
from console.explorer import DEFAULT_AGENT_SELECTOR
from console.openapi import spec
from console.plane import ActionConfig
from console.store import Store, StoreError
from console.tokens import parse_group_mapping
from temper import clikit
from temper.config import ConfigError
from temper.kube.client import ApiClient, ApiConfig, auto_config
from temper.serving import ConnectionLimits, parse_host_port, start_guarded, wait_for_stop_signal
from temper.tls import CertReloader, TlsConfigError, server_ssl_context

PROG = "temper console"
DEFAULT_LISTEN = "0.0.0.0:8443"
log = logging.getLogger("console")


def _serve_flags(parser: argparse.ArgumentParser) -> None:
    clikit.add_listen(parser, DEFAULT_LISTEN, "/api/v1 and the UI")
    clikit.add_deprecated(parser, "--host", "--listen", dest="legacy_host")
    clikit.add_deprecated(parser, "--port", "--listen", dest="legacy_port", type=int)
    parser.add_argument("--cluster-name", default="local")
    parser.add_argument("--api-url", help="API server URL (default: in-cluster or kubeconfig)")
    clikit.add_kubeconfig(parser)
    parser.add_argument("--token", action="append", default=[], help="NAME:ROLE:SECRET bootstrap token")
    parser.add_argument("--store", default="",
                        help="SQLite file for named tokens and the audit log (default: console.db in --data-dir; "
                             "without one, in memory, lost on exit)")
    parser.add_argument("--audit-retention-days", type=float, default=365.0, help="audit records kept this long")
    parser.add_argument("--tokenreview-group", action="append", default=[], metavar="GROUP=ROLE",
                        help="accept service-account tokens via TokenReview; members of GROUP get ROLE")
    parser.add_argument("--agent-url", default="", help="node agent URL template, {node} / {ip} substituted")
    parser.add_argument("--agent-configmap", default="", metavar="NAMESPACE/NAME",
                        help="the agent ConfigMap (fleet-wide safe mode)")
    parser.add_argument("--agent-selector", default=DEFAULT_AGENT_SELECTOR,
                        help="labels of the agent pods; every agent request (explorer, traces, savings) puts the "
                             f"agent pod's IP in {{ip}} when one is found (default {DEFAULT_AGENT_SELECTOR})")
    clikit.add_tls(parser, "; HTTPS when given with --tls-key")
    clikit.add_connection_limits(parser)
    clikit.add_log_level(parser)
    modes.add_flags(parser)


def cli() -> clikit.ComponentCli:
    tool = clikit.ComponentCli(PROG, "The management plane: /api/v1 and its web UI.", [
        "temper console serve --listen 0.0.0.0:8443 --token admin:admin:$ADMIN_TOKEN",
        "temper console openapi > openapi.json",
    ])
    serve = tool.command("serve", "serve /api/v1 and the UI", [
        "temper console serve --token alice:viewer:s3cret --kubeconfig ~/.kube/config",
        "temper console serve --listen 127.0.0.1:8443 --tls-cert tls.crt --tls-key tls.key",
    ])
    _serve_flags(serve)
    config = tool.command("config", "print the settings serve would use (YAML; token secrets never shown)", [
        "temper console config --listen 127.0.0.1:9000 --token alice:viewer:s3cret",
    ])
    _serve_flags(config)
    tool.command("openapi", "print the /api/v1 OpenAPI 3.1 document (JSON)", ["temper console openapi | jq .info"])
    return tool


def listen_of(args: argparse.Namespace) -> str:
    """``--listen``, with the deprecated ``--host``/``--port`` replacing their half of it."""
    host, port = parse_host_port(args.listen)
    host = getattr(args, "legacy_host", host)
    port = getattr(args, "legacy_port", port)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tokens(entries: list[str]) -> list[tuple[str, str, str]]:
    parsed = []
    for entry in entries:
        name, sep, rest = entry.partition(":")
        role, sep2, value = rest.partition(":")
        if not (sep and sep2 and name and role and value):
            raise ConfigError(f"--token: expected NAME:ROLE:SECRET, got {entry.split(':')[0]!r}:...")
        parsed.append((name, role, value))
    return parsed


def _positive(value: float, flag: str) -> float:
    if not value > 0:
        raise ConfigError(f"{flag} must be > 0")
    return value


def _groups(entries: list[str]) -> dict[str, str]:
    try:
        return parse_group_mapping(entries)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def effective_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What ``serve`` would use, as plain data (``temper console config`` prints it)."""
    return {
        "listen": listen_of(args),
        "clusterName": args.cluster_name,
        "apiServer": args.api_url or (f"kubeconfig {args.kubeconfig}" if args.kubeconfig else "in-cluster, then "
                                                                                            "~/.kube/config"),
        "tls": {"certFile": args.tls_cert, "keyFile": args.tls_key, "clientCaFile": args.client_ca}
        if args.tls_cert else None,
        "tokens": [{"name": name, "role": role} for name, role, _ in _tokens(args.token)],
        "store": modes.store_path(args),
        "auditRetentionDays": _positive(args.audit_retention_days, "--audit-retention-days"),
        "tokenReviewGroups": _groups(args.tokenreview_group),
        "agentUrl": args.agent_url or None,
        "agentConfigMap": args.agent_configmap or None,
        "agentSelector": args.agent_selector,
        "connectionLimits": vars(clikit.limits_from_args(args)),
        **modes.document(args),
    }


def main(argv: list[str]) -> int:
    args = cli().parse(argv)
    if args.command == "openapi":
        print(json.dumps(spec(), indent=2))
        return 0
    try:
        document = effective_settings(args)
        if args.command == "config":
            sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
            return 0
        if bool(args.tls_cert) != bool(args.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        context = server_ssl_context(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
        hub = modes.hub_config(args)
        modes.prepare_data_dir(args)
        Store(document["store"]).close()  # an unusable store file is a bad flag, found before serving
    except (ConfigError, TlsConfigError, StoreError) as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2
    clikit.setup_logging(args.log_level)
    secret = os.environ.get("CONSOLE_SECRET", "").encode() or secrets.token_bytes(32)
    tokens = {token_digest(secret, value): (name, role) for name, role, value in _tokens(args.token)}
    config = ApiConfig(base_url=args.api_url) if args.api_url else auto_config(args.kubeconfig)
    actions = ActionConfig(store_path=document["store"], retention_days=document["auditRetentionDays"],
                           review_groups=document["tokenReviewGroups"], agent_url=args.agent_url,
                           agent_configmap=args.agent_configmap)
    settings = Settings(args.cluster_name, tokens, secret, actions, modes.savings_config(args), hub,
                        agent_selector=args.agent_selector)
    host, port = parse_host_port(document["listen"])
    reloader = CertReloader(args.tls_cert, args.tls_key, context) if context is not None else None
    app = create_app(ApiClient(config), settings)
    try:
        asyncio.run(_serve(app, settings, host, port, reloader, clikit.limits_from_args(args)))
    except ConfigError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2
    return 0


async def _serve(app: web.Application, settings: Settings, host: str, port: int, reloader: CertReloader | None,
                 limits: ConnectionLimits) -> None:
    context = reloader.context if reloader is not None else None
    runner, site = await start_guarded(app, host, port, ssl_context=context, limits=limits)
    log.info("console on %s", site.name)
    try:
        dialer = await modes.start_dialer(runner, settings.hub, settings.cluster_name, settings.savings.data_dir)
    except ConfigError:
        await runner.cleanup()
        raise
    watcher = asyncio.create_task(reloader.watch()) if reloader is not None else None
    try:
        await wait_for_stop_signal()
    finally:
        if dialer is not None:
            dialer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dialer
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await runner.cleanup()
