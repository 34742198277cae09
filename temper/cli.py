"""The ``temper`` command line: one entry point, one subcommand per component.

Subcommands are looked up in ``COMMANDS`` by *module path* and imported only when invoked,
so the pure core does not import the components (the layering in docs/architecture.md holds)
and ``temper plan`` does not pay for aiohttp or the Kubernetes client. Each target is a
function ``main(argv: list[str]) -> int`` that does its own argument parsing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("temper.plan_cli", "compute a node's layer plan from kubectl JSON"),
    "profile": ("temper.profile_cli", "list, show and lint Workload Profiles"),
    "rightsize": ("temper.rightsize_cli", "recommend CPU requests, limits and exclusive cores from /observe"),
    "agent": ("nodeagent.main", "run the node agent (observe or enforce)"),
    "extender": ("extender.main", "run the kube-scheduler extender, or print its config"),
    "webhook": ("webhook.main", "run the overcommit admission webhook"),
    "overcommit": ("webhook.overcommit_cli", "report or restore pods the webhook scaled"),
    "certs": ("certs.main", "generate or rotate the webhook's TLS certificates"),
    "console": ("console.main", "run the management plane API, or print its OpenAPI spec"),
    "lab": ("kernellab.cli", "the sched_ext kernel lab: fetch, shell, run, demo"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items())
    return f"usage: temper COMMAND [ARGS...]\n\ncommands:\n{rows}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        from temper import __version__
        print(f"temper {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"temper: unknown command {name!r}\n\n{_usage()}")
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    entry = cast(Callable[[list[str]], int], module.main)
    return entry(rest)


if __name__ == "__main__":
    raise SystemExit(main())
