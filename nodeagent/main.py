"""``temper agent serve|config``: parse flags, assemble the agent from its parts, serve until
SIGTERM; or print the effective configuration file.

Why it exists: wiring only — every decision lives in the modules it assembles.

    temper agent serve [--config FILE] [--node-name N] [--pods-file F] [--kubeconfig F]
                       [--observe-only] [--listen HOST:PORT] [--configmap NS/NAME] ...
    temper agent config [--config FILE]     # the file with every default filled in (YAML)

``temper agent [flags]`` without a subcommand still means ``serve`` for one release, with a
deprecation line on stderr (``temper.clikit``).

Two ways to run:
- cluster: pods from the API (in-cluster service account, or ``--kubeconfig``), annotations
  published on the Node, safe mode polled on the Node and on ``--configmap NAMESPACE/NAME``;
- standalone / kernel lab: ``--pods-file`` — no API server at all. On that path nothing
  imports ``temper.kube`` or the ``kubernetes`` package's API modules, no annotations are
  published and safe mode is not polled;
- hybrid: ``--pods-file`` with ``--kubeconfig``: pods from the file, annotations published and
  safe mode polled through the API server (standalone nodes managed by hand; the kernel lab
  uses it against a small in-guest API server).

The enforcer: ``ObserveOnly`` when ``--observe-only`` (flag or config) or when the kernel
probe says unsupported; otherwise ``nodeagent.bpf_enforcer.BpfEnforcer`` (imported lazily; if
it cannot be imported or constructed, ``ObserveOnly("enforcer unavailable: ...")``).

Exit codes: 0 after SIGTERM/SIGINT (the scheduler stood down first), 2 for bad flags or
configuration (``ConfigError``, an unreadable topology), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from nodeagent.agent import Agent, AgentState
from nodeagent.enforcement import Enforcer, ObserveOnly, Probe
from nodeagent.podsource import FilePodSource, PodSource
from nodeagent.server import Background, create_app
from nodeagent.sysfs import SysfsError, kernel_forwards_cgroup_bandwidth, probe_kernel, read_topology
from temper import clikit
from temper.config import AgentConfig, ConfigError, agent_config_document, load_agent_config
from temper.serving import parse_host_port

if TYPE_CHECKING:
    from nodeagent.publish import Publisher
    from temper.kube.client import ApiClient

log = logging.getLogger("nodeagent")


PROG = "temper agent"


def cli() -> clikit.ComponentCli:
    tool = clikit.ComponentCli(PROG, "Run the Temper node agent, or print its effective configuration.", [
        "temper agent serve --config /etc/temper/config.yaml --configmap infera/infera-agent",
        "temper agent config --config /etc/temper/config.yaml",
    ])
    serve = tool.command("serve", "run the node agent (observe or enforce) until SIGTERM", [
        "temper agent serve --config /etc/temper/config.yaml --configmap infera/infera-agent",
        "temper agent serve --pods-file pods.json --observe-only --listen 127.0.0.1:0   # no API server",
    ])
    clikit.add_config(serve, "the agent's ConfigMap content")
    serve.add_argument("--node-name", default=os.environ.get("NODE_NAME", ""),
                       help="this node's name (default: $NODE_NAME)")
    serve.add_argument("--pods-file", help="read pods from this kubectl JSON file instead of the API")
    clikit.add_kubeconfig(serve)
    serve.add_argument("--observe-only", action="store_true", help="never enforce; observe and publish only")
    clikit.add_listen(serve, None, "/metrics, /observe, /healthz, /readyz "
                                   "(default from config: 0.0.0.0:9470; port 0 picks one)")
    serve.add_argument("--configmap", help="NAMESPACE/NAME of the agent ConfigMap (fleet safe mode)")
    serve.add_argument("--sysfs-root", default="/", help="root under which sys/ and proc/ are read")
    serve.add_argument("--no-threads", action="store_true",
                       help="read no per-thread telemetry (other pods' threads need the host PID namespace)")
    serve.add_argument("--cgroup-root", help="cgroup v2 mount (default from config: /sys/fs/cgroup)")
    serve.add_argument("--bpftool", default="bpftool", help="bpftool binary (name on PATH or path)")
    clikit.add_log_level(serve)
    config = tool.command("config", "print the effective configuration file (every default filled in)", [
        "temper agent config --config /etc/temper/config.yaml",
        "temper agent config > config.yaml   # the defaults, to start a ConfigMap from",
    ])
    clikit.add_config(config, "the agent's ConfigMap content")
    return tool


def parse_args(argv: list[str]) -> argparse.Namespace:
    return cli().parse(argv, legacy_default="serve")


KERNEL_BW_OBJECT = "temper_kbw.bpf.o"
"""Built next to temper.bpf.o: the same scheduler plus the 6.17+ cgroup bandwidth callbacks."""


def pick_scheduler_object(configured: str, kernel_bw: bool) -> str:
    """The object to load: the configured one, or - when the kernel forwards cpu.max to the
    BPF scheduler and the configured object is the stock ``temper.bpf.o`` - its
    ``temper_kbw.bpf.o`` sibling if it was built. A custom object is never swapped."""
    path = Path(configured)
    sibling = path.with_name(KERNEL_BW_OBJECT)
    if kernel_bw and path.name == "temper.bpf.o" and sibling.is_file():
        return str(sibling)
    return configured


def choose_enforcer(config: AgentConfig, observe_only: bool, probe: Probe, bpftool: str,
                    bpf_object: str | None = None) -> Enforcer:
    if observe_only:
        return ObserveOnly("observe-only configured", probe.kernel)
    if not probe.supported:
        return ObserveOnly(probe.reason, probe.kernel)
    try:
        from nodeagent.bpf_enforcer import (  # type: ignore[import-not-found,unused-ignore]  # written concurrently
            BpfEnforcer,
        )

        enforcer: Enforcer = BpfEnforcer(bpf_object or config.bpf_object, config.pin_dir, bpftool)
    except Exception as exc:  # ImportError, or any constructor failure: observe, never crash
        return ObserveOnly(f"enforcer unavailable: {type(exc).__name__}: {exc}"[:300], probe.kernel)
    return enforcer


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event) -> None:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        for address in runner.addresses:
            log.info("listening on http://%s:%s", address[0], address[1])
        await stop.wait()
    finally:
        await runner.cleanup()  # cancels the loop, then stand_down("agent stopping")


async def run(args: argparse.Namespace, config: AgentConfig) -> int:
    host, port = parse_host_port(args.listen or config.listen, "listen", allow_port_zero=True)
    topology = read_topology(args.sysfs_root)
    observe_only = args.observe_only or config.observe_only
    probe = probe_kernel(args.sysfs_root, args.bpftool)  # read-only; its kernel release is reported either way
    bpf_object = pick_scheduler_object(config.bpf_object, kernel_forwards_cgroup_bandwidth(args.sysfs_root))
    if bpf_object != config.bpf_object:
        log.info("kernel forwards cgroup CPU limits to sched_ext: loading %s", bpf_object)
    enforcer = choose_enforcer(config, observe_only, probe, args.bpftool, bpf_object)
    state = AgentState(node_name=args.node_name, topology=topology, observe_only=observe_only)
    cgroup_root = args.cgroup_root or config.cgroup_root
    background: list[Background] = []
    client: ApiClient | None = None
    publisher = None
    if args.pods_file:
        file_source = FilePodSource(args.pods_file, args.node_name, poll_s=min(1.0, config.scan_interval_s))
        file_source.refresh()
        source: PodSource = file_source
        background.append(file_source.run)
    if not args.pods_file or args.kubeconfig:
        client, api_source, publisher = await _api_parts(args, config, state, background)
        if not args.pods_file:
            source = api_source
    agent = Agent(config, state, source, enforcer, cgroup_root, publisher, sysfs_root=args.sysfs_root,
                  proc_root=os.path.join(args.sysfs_root, "proc"), read_threads=not args.no_threads)
    if client is not None:
        _start_safe_mode_poller(args, config, state, client, agent, background)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(create_app(agent, background), host, port, stop)
    finally:
        if client is not None:
            await client.close()
    log.info("stopped")
    return 0


async def _api_parts(args: argparse.Namespace, config: AgentConfig, state: AgentState,
                     background: list[Background]) -> tuple[ApiClient, PodSource, Publisher]:
    """The API client, the API pod source and the node annotation publisher."""
    from nodeagent.podsource import ApiPodSource
    from nodeagent.publish import Publisher
    from temper.kube.client import ApiClient, auto_config

    if not args.node_name:
        raise ConfigError("--node-name (or $NODE_NAME) is required with an API server")
    client = ApiClient(auto_config(args.kubeconfig))
    await client.__aenter__()
    source = ApiPodSource(client, args.node_name, _error_counter(state))
    if not args.pods_file:
        background.append(source.run)
    return client, source, Publisher(client, args.node_name, config.publish)


def _error_counter(state: AgentState) -> Callable[[Exception], None]:
    def count_error(exc: Exception) -> None:
        state.api_errors += 1
        log.warning("API call failed: %s: %s", type(exc).__name__, exc)
    return count_error


def _start_safe_mode_poller(args: argparse.Namespace, config: AgentConfig, state: AgentState, client: ApiClient,
                            agent: Agent, background: list[Background]) -> None:
    from nodeagent.safemode import SafeModePoller, parse_configmap_ref

    configmap = parse_configmap_ref(args.configmap) if args.configmap else None
    poller = SafeModePoller(client, args.node_name, configmap, config.safe_mode_poll_s, agent.on_safe_mode,
                            on_error=_error_counter(state))
    background.append(poller.run)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        config = load_agent_config(args.config)
        if args.command == "config":
            import yaml

            sys.stdout.write(yaml.safe_dump(agent_config_document(config), sort_keys=False))
            return 0
        clikit.setup_logging(args.log_level)
        return asyncio.run(run(args, config))
    except (ConfigError, SysfsError, ValueError) as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2
