"""``temper console serve`` flags for savings and the hub, and the dialer's start (wiring only).

Why it exists: keeps ``console.main`` short. The flags:

    --data-dir DIR         the console's PVC: the store (``console.db``, unless ``--store`` names
                           another file), the savings baseline and the tunnel socket
    --prices FILE          the price-book ConfigMap, mounted (console.pricing)
    --peers FILE           hub mode: the peer-registry ConfigMap, mounted (console.peers)
    --hub-url URL          outbound-only: dial this hub and serve it over the tunnel
    --hub-token-file F     ... with this token (a token of this plane: the hub acts with its role)
    --hub-ca F             ... verifying the hub with this CA bundle (default: system trust)

The usage sampler reaches the agents through ``console.main``'s ``--agent-url`` (one flag, read
by ``console.agents`` for the trace actions and the sampler alike). The dialer reaches its own
plane over a Unix socket next to the listener (same runner, same auth), so it needs no loopback
TLS name; the socket lives in ``--data-dir`` or a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from console.hub import dial_hub
from console.peers import HubConfig
from console.savings import SavingsConfig
from temper.config import ConfigError

STORE_FILE = "console.db"


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prices", default="", help="price book (YAML) mounted from a ConfigMap")
    parser.add_argument("--data-dir", default="",
                        help="persistent directory: the store (unless --store), the savings baseline")
    parser.add_argument("--peers", default="", help="hub mode: peer registry (YAML) mounted from a ConfigMap")
    parser.add_argument("--hub-url", default="", help="outbound-only: the hub to dial")
    parser.add_argument("--hub-token-file", default="", help="outbound-only: the token presented to the hub")
    parser.add_argument("--hub-ca", default="", help="outbound-only: CA bundle verifying the hub")


def store_path(args: argparse.Namespace) -> str:
    """``--store``; by default ``STORE_FILE`` in ``--data-dir``, and in memory without either."""
    if args.store:
        return str(args.store)
    return str(Path(args.data_dir) / STORE_FILE) if args.data_dir else ":memory:"


def prepare_data_dir(args: argparse.Namespace) -> None:
    """Create ``--data-dir`` if missing (a fresh PVC mount exists; a host path may not)."""
    if args.data_dir:
        try:
            Path(args.data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--data-dir {args.data_dir}: {exc.strerror}") from None


def savings_config(args: argparse.Namespace) -> SavingsConfig:
    return SavingsConfig(prices_file=args.prices, data_dir=args.data_dir)


def hub_config(args: argparse.Namespace) -> HubConfig:
    if bool(args.hub_url) != bool(args.hub_token_file):
        raise ConfigError("--hub-url and --hub-token-file go together")
    return HubConfig(peers_file=args.peers, hub_url=args.hub_url, hub_token_file=args.hub_token_file,
                     hub_ca_file=args.hub_ca)


def document(args: argparse.Namespace) -> dict[str, Any]:
    """The part of ``temper console config`` these flags decide (file paths, never a token)."""
    return {"dataDir": args.data_dir or None, "savings": {"prices": args.prices or None},
            "hub": {"peers": args.peers or None, "dial": {"url": args.hub_url, "tokenFile": args.hub_token_file,
                                                          "ca": args.hub_ca or None} if args.hub_url else None}}


async def start_dialer(runner: web.AppRunner, config: HubConfig, cluster_name: str, data_dir: str
                       ) -> asyncio.Task[None] | None:
    """Serve the plane on a Unix socket too, and dial the hub through it (None: not configured)."""
    if not config.hub_url:
        return None
    try:
        token = Path(config.hub_token_file).read_text(encoding="utf-8").strip()
        context = ssl.create_default_context(cafile=config.hub_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"outbound-only dialing: {exc}") from None
    directory = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="temper-console-"))
    socket_path = str(directory / "console-tunnel.sock")
    Path(socket_path).unlink(missing_ok=True)
    await web.UnixSite(runner, socket_path).start()
    return asyncio.create_task(dial_hub(config.hub_url, cluster_name, token, context, "http://localhost",
                                        aiohttp.UnixConnector(socket_path)))
