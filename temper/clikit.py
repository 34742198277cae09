"""The command-line vocabulary every component shares: ``temper COMPONENT serve|config``, one
flag name per concept, and old spellings that keep working for one release.

Why this module exists (issue 15 §5): ``temper webhook [serve]`` took its subcommand as an
optional positional and spelled the serving pair ``--cert-file``/``--key-file`` while
``temper extender serve`` said ``--tls-cert``/``--tls-key``, and the console took
``--host``/``--port`` where everyone else took ``--listen``. The flags are now added here, by
concept, so a component cannot spell one differently; ``tests/test_cli_vocabulary.py``
walks every component's parser and checks it.

The vocabulary (``FLAGS``, concept -> flag)::

    --listen HOST:PORT         where the component serves (its API, or all of it)
    --metrics-listen HOST:PORT a separate plain-HTTP port for /metrics and probes
    --tls-cert / --tls-key     the serving certificate and key (PEM), hot-reloaded
    --client-ca                require client certificates signed by this CA (mutual TLS)
    --config FILE              Temper's config file (the component's section)
    --kubeconfig FILE          API server access (default: in-cluster, then ~/.kube/config)
    --log-level LEVEL          DEBUG | INFO | WARNING | ERROR (any case)
    --max-connections N, --tls-handshake-timeout S, --request-head-timeout S, --idle-timeout S
                               ``temper.serving.ConnectionLimits``
    --ca-data-from FILE        config: embed this CA (PEM) in the printed configuration

Deprecated spellings (``add_deprecated``) are hidden from ``--help``, still parse into the new
flag's destination, and print one line to stderr naming the replacement. A component whose
subcommand used to be optional (``temper webhook``, ``temper agent``) passes
``legacy_default="serve"`` to ``ComponentCli.parse``: no subcommand, or a subcommand after the
options (``temper webhook --config F serve``), still works and warns.

Exceptions: none of its own. argparse exits 2 on bad flags, as it always does.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from typing import Any

from temper.config import ConfigError
from temper.serving import ConnectionLimits

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FLAGS: dict[str, str] = {
    "listen": "--listen",
    "metrics_listen": "--metrics-listen",
    "tls_cert": "--tls-cert",
    "tls_key": "--tls-key",
    "client_ca": "--client-ca",
    "config": "--config",
    "kubeconfig": "--kubeconfig",
    "log_level": "--log-level",
    "max_connections": "--max-connections",
    "tls_handshake_timeout_s": "--tls-handshake-timeout",
    "request_head_timeout_s": "--request-head-timeout",
    "idle_timeout_s": "--idle-timeout",
    "ca_data_from": "--ca-data-from",
}
"""Concept (the argparse destination) -> the one flag that spells it, in every component."""
REMOVAL = "the old spelling goes away in the next release"


def warn_deprecated(prog: str, old: str, new: str) -> None:
    sys.stderr.write(f"{prog}: {old} is deprecated, use {new} ({REMOVAL})\n")


class DeprecatedAlias(argparse.Action):
    """An old flag: stores into the new flag's destination and warns once per use."""

    def __init__(self, option_strings: Sequence[str], dest: str, replacement: str = "", prog: str = "",
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement
        self.prog = prog

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        warn_deprecated(self.prog, option_string or self.option_strings[0], self.replacement)
        setattr(namespace, self.dest, values)


def add_deprecated(parser: argparse.ArgumentParser, old: str, new: str, *, dest: str | None = None,
                   type: Any = None) -> None:
    """``old`` parses like ``new`` into ``dest`` (default: the new flag's destination)."""
    target = dest or FLAGS_BY_NAME.get(new, new.lstrip("-").replace("-", "_"))
    parser.add_argument(old, action=DeprecatedAlias, dest=target, replacement=new, prog=parser.prog,
                        type=type, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


FLAGS_BY_NAME = {flag: concept for concept, flag in FLAGS.items()}


def add_listen(parser: argparse.ArgumentParser, default: str | None, what: str) -> None:
    shown = f" (default {default})" if default else ""
    parser.add_argument(FLAGS["listen"], default=default, metavar="HOST:PORT", help=f"serve {what} here{shown}")


def add_metrics_listen(parser: argparse.ArgumentParser, default: str | None, what: str) -> None:
    shown = f" (default {default})" if default else ""
    parser.add_argument(FLAGS["metrics_listen"], default=default, metavar="HOST:PORT",
                        help=f"plain HTTP for {what}{shown}")


def add_tls(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument(FLAGS["tls_cert"], metavar="FILE", help=f"serving certificate (PEM){note}")
    parser.add_argument(FLAGS["tls_key"], metavar="FILE", help="serving key (PEM)")
    parser.add_argument(FLAGS["client_ca"], metavar="FILE",
                        help="require client certificates signed by this CA (mutual TLS)")


def add_config(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(FLAGS["config"], metavar="FILE", help=f"Temper config file (YAML/JSON; {what})")


def add_kubeconfig(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(FLAGS["kubeconfig"], metavar="FILE",
                        help="kubeconfig for the API server (default: in-cluster, then ~/.kube/config)")


def add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(FLAGS["log_level"], default="INFO", type=str.upper, choices=LOG_LEVELS,
                        help="log level (default INFO)")


def add_ca_data_from(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(FLAGS["ca_data_from"], metavar="FILE", help=f"read this CA (PEM) and embed it as {what}")


def add_connection_limits(parser: argparse.ArgumentParser, source: str = "") -> None:
    """The ``ConnectionLimits`` flags; unset ones keep ``source``'s value (a config file) or the default."""
    defaults = ConnectionLimits()
    origin = f"default: {source}, else " if source else "default "
    group = parser.add_argument_group("connection limits (temper.serving)")
    group.add_argument(FLAGS["max_connections"], type=int, dest="max_connections", metavar="N",
                       help=f"close new connections beyond N open ones ({origin}{defaults.max_connections})")
    group.add_argument(FLAGS["tls_handshake_timeout_s"], type=float, dest="tls_handshake_timeout_s", metavar="SECONDS",
                       help=f"close a TLS handshake not done by then ({origin}{defaults.tls_handshake_timeout_s})")
    group.add_argument(FLAGS["request_head_timeout_s"], type=float, dest="request_head_timeout_s", metavar="SECONDS",
                       help=f"close a connection whose request head is not complete by then "
                            f"({origin}{defaults.request_head_timeout_s})")
    group.add_argument(FLAGS["idle_timeout_s"], type=float, dest="idle_timeout_s", metavar="SECONDS",
                       help=f"close an idle keep-alive connection ({origin}{defaults.idle_timeout_s})")


def limits_from_args(args: argparse.Namespace, base: ConnectionLimits | None = None) -> ConnectionLimits:
    """``base`` (or the defaults) with the connection-limit flags that were given."""
    given = {name: getattr(args, name) for name in
             ("max_connections", "tls_handshake_timeout_s", "request_head_timeout_s", "idle_timeout_s")
             if getattr(args, name, None) is not None}
    try:
        return dataclasses.replace(base or ConnectionLimits(), **given)
    except ValueError as exc:
        raise ConfigError(f"connection limits: {exc}") from None


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _examples(lines: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


class ComponentCli:
    """``temper COMPONENT COMMAND [flags]``: one parser per command, help with examples."""

    def __init__(self, prog: str, description: str, examples: Sequence[str] = ()) -> None:
        self.prog = prog
        self.parser = argparse.ArgumentParser(prog=prog, description=description, epilog=_examples(examples),
                                              formatter_class=argparse.RawDescriptionHelpFormatter)
        self._sub = self.parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def command(self, name: str, help_text: str, examples: Sequence[str]) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, help=help_text, description=help_text, epilog=_examples(examples),
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        self.commands[name] = parser
        return parser

    def parse(self, argv: Sequence[str], legacy_default: str | None = None) -> argparse.Namespace:
        """Parse ``argv``; with ``legacy_default``, a missing or misplaced command is the
        deprecated old form (warned) rather than an error."""
        args = list(argv)
        if legacy_default is not None and (not args or args[0] not in self.commands) \
                and not {"-h", "--help"} & set(args[:1]):
            args = self._legacy(args, legacy_default)
        return self.parser.parse_args(args)

    def _legacy(self, args: list[str], default: str) -> list[str]:
        takes_value = {flag for parser in self.commands.values()
                       for flag, action in parser._option_string_actions.items() if action.nargs != 0}
        index = 0
        while index < len(args):
            token = args[index]
            if token == "--":
                break
            if token in self.commands:
                sys.stderr.write(f"{self.prog}: the command after the options is deprecated, use "
                                 f"`{self.prog} {token} [options]` ({REMOVAL})\n")
                return [token, *args[:index], *args[index + 1:]]
            if token in takes_value:
                index += 1  # skip the flag's value: `--config serve` names a file called serve
            index += 1
        sys.stderr.write(f"{self.prog}: no command is deprecated, use `{self.prog} {default} [options]` "
                         f"({REMOVAL})\n")
        return [default, *args]
