"""``temper console serve|openapi``."""

from __future__ import annotations

import argparse
import json
import os
import secrets

from aiohttp import web

from console.app import Settings, create_app, token_digest
from console.openapi import spec
from temper.kube.client import ApiClient, ApiConfig, auto_config


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="temper console")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--cluster-name", default="local")
    serve.add_argument("--api-url", help="API server URL (default: in-cluster or kubeconfig)")
    serve.add_argument("--token", action="append", default=[], help="NAME:ROLE:SECRET bootstrap token")
    sub.add_parser("openapi")
    args = parser.parse_args(argv)
    if args.command == "openapi":
        print(json.dumps(spec(), indent=2))
        return 0
    secret = os.environ.get("CONSOLE_SECRET", "").encode() or secrets.token_bytes(32)
    tokens = {}
    for entry in args.token:
        name, role, value = entry.split(":", 2)
        tokens[token_digest(secret, value)] = (name, role)
    config = ApiConfig(base_url=args.api_url) if args.api_url else auto_config()
    web.run_app(create_app(ApiClient(config), Settings(args.cluster_name, tokens, secret)),
                host=args.host, port=args.port)
    return 0
