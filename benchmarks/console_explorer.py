"""The console explorer at fleet scale: list pages at 5,000 nodes / 30,000 pods, and SSE
fan-out to 100 clients — each next to an aiohttp floor measured in the same run.

Why: the explorer promises lists that stay fast at that size (bisect + slice on sorted,
faceted indexes, no scan per request) and one live stream per browser tab. "Fast" is measured
against the cheapest aiohttp server that returns the same bytes, so the table shows what the
console adds, on this host, now.

Setup (each server in its own child process, the client in the parent):
- console: ``tests.console.fakeapi`` (no kube-apiserver exists here) populated with
  ``--nodes`` nodes and ``--pods`` pods, the console's list+watch cache synced from it over
  HTTP; its sync time and the child's RSS are reported.
- floor: an aiohttp handler returning a pre-rendered body of the same size as the console's
  answer for each URL (JSON encoded once at start).
- lists: closed loop, one keep-alive connection, ``--requests`` per URL per round, servers
  alternating in ``--rounds`` rounds.
- SSE (``--rounds`` rounds, servers alternating): ``--clients`` streams open on each server;
  the server publishes ``--events`` events at ``--rate``/s (console: into its ``EventHub``, the
  path every cache change takes; floor: a bare per-client ``asyncio.Queue`` fan-out writing the
  same frames). Latency is publish time
  (in the event) to receipt at every client.

Run: ``nice -n 19 python benchmarks/console_explorer.py [--nodes 5000] [--pods 30000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

TOKEN = "bench-token"
URLS = [
    "/api/v1/clusters/local/nodes?limit=100",
    "/api/v1/clusters/local/nodes?limit=100&continue=node-02500",
    "/api/v1/clusters/local/pods?limit=100",
    "/api/v1/clusters/local/pods?limit=500&continue=ns-005/app0-015000",
    "/api/v1/clusters/local/pods?node=node-01234",
    "/api/v1/clusters/local/pods?namespace=ns-007&limit=100",
    "/api/v1/clusters/local/workloads?kind=Deployment&limit=100",
]


def _publisher_object(i: int) -> Any:
    from console.models import NodeSummary

    return NodeSummary(name=f"bench-{time.time():.6f}-{i}", cpus=8, enforcement=None, fenced="6,7", free_m=0,
                       tiers={}, unschedulable=False, instance_type="m6i.xlarge", pods=6)


def console_child(port_queue: Any, nodes: int, pods: int) -> None:
    from console.app import Settings, create_app, token_digest
    from console.explorer_api import EXPLORER, HUB
    from temper.kube.client import ApiClient, ApiConfig
    from tests.console.fakeapi import FakeApi, populate

    async def main() -> None:
        api = FakeApi()
        populate(api, nodes=nodes, pods=pods, namespaces=10)
        await api.start()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        app = create_app(ApiClient(ApiConfig(api.url)),
                         Settings(tokens={token_digest(b"console", TOKEN): ("bench", "viewer")}))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        started = time.monotonic()
        await site.start()
        while not {"nodes", "pods", "replicasets", "Deployment"} <= app[EXPLORER].synced:
            await asyncio.sleep(0.05)
        sync_s = time.monotonic() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps it private
        control = web.Application()

        async def publish(request: web.Request) -> web.Response:
            count, rate = int(request.query["count"]), float(request.query["rate"])
            for i in range(count):
                app[HUB].publish("nodes", "MODIFIED", _publisher_object(i))
                await asyncio.sleep(1 / rate)
            return web.Response(text="ok")

        control.router.add_post("/publish", publish)
        control_runner = web.AppRunner(control)
        await control_runner.setup()
        control_site = web.TCPSite(control_runner, "127.0.0.1", 0)
        await control_site.start()
        control_port = control_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        port_queue.put({"port": port, "control": control_port, "sync_s": sync_s,
                        "cache_rss_mib": (rss - rss_before) / 1024, "rss_mib": rss / 1024})
        await asyncio.Event().wait()

    asyncio.run(main())


def floor_child(port_queue: Any, bodies: dict[str, bytes]) -> None:
    async def main() -> None:
        app = web.Application()
        queues: set[asyncio.Queue[bytes]] = set()

        async def page(request: web.Request) -> web.Response:
            return web.Response(body=bodies[request.path_qs], content_type="application/json")

        async def events(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            queues.add(queue)
            try:
                await response.write(b"retry: 2000\n\n")
                while True:
                    await response.write(await queue.get())
            except ConnectionError:
                return response  # the client went
            finally:
                queues.discard(queue)

        async def publish(request: web.Request) -> web.Response:
            count, rate = int(request.query["count"]), float(request.query["rate"])
            for i in range(count):
                obj = _publisher_object(i)
                data = json.dumps({"type": "MODIFIED", "cluster": "local", "object": obj.model_dump()}).encode()
                frame = b"id: x-%d\nevent: nodes\ndata: %s\n\n" % (i, data)
                for queue in queues:
                    queue.put_nowait(frame)
                await asyncio.sleep(1 / rate)
            return web.Response(text="ok")

        for path in {p.split("?")[0] for p in bodies}:
            app.router.add_get(path, page)
        app.router.add_get("/api/v1/events", events)
        app.router.add_post("/publish", publish)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        port_queue.put({"port": port, "control": port})
        await asyncio.Event().wait()

    asyncio.run(main())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def time_lists(base: str, count: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        for url in URLS:
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                async with session.get(base + url) as response:
                    await response.read()
                    assert response.status == 200, (url, response.status)
                samples.append((time.perf_counter() - started) * 1000)
            out[url] = samples
    return out


async def fan_out(port: int, control: int, clients: int, events: int, rate: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    received = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"},
                                     connector=aiohttp.TCPConnector(limit=0)) as session:
        async def client() -> None:
            nonlocal received
            async with session.get(f"http://127.0.0.1:{port}/api/v1/events?kinds=nodes",
                                   timeout=aiohttp.ClientTimeout(total=None)) as response:
                got = 0
                async for line in response.content:
                    if line.startswith(b"data: "):
                        name = json.loads(line[6:])["object"]["name"]
                        latencies.append((time.time() - float(name.split("-")[1])) * 1000)
                        got += 1
                        received += 1
                        if got == events:
                            return

        tasks = [asyncio.create_task(client()) for _ in range(clients)]
        await asyncio.sleep(1.0)
        async with session.post(f"http://127.0.0.1:{control}/publish?count={events}&rate={rate}") as response:
            await response.read()
        await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            task.cancel()
    return latencies, received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=30000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    console = ctx.Process(target=console_child, args=(queue, args.nodes, args.pods), daemon=True)
    console.start()
    info = queue.get(timeout=600)
    base = f"http://127.0.0.1:{info['port']}"

    async def bodies() -> dict[str, bytes]:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            out = {}
            for url in URLS:
                async with session.get(base + url) as response:
                    out[url] = await response.read()
            return out

    pages = asyncio.run(bodies())
    floor = ctx.Process(target=floor_child, args=(queue, pages), daemon=True)
    floor.start()
    floor_info = queue.get(timeout=60)
    floor_base = f"http://127.0.0.1:{floor_info['port']}"
    results: dict[str, dict[str, list[float]]] = {"console": {u: [] for u in URLS}, "floor": {u: [] for u in URLS}}
    for _ in range(args.rounds):
        for name, url_base in (("floor", floor_base), ("console", base)):
            for url, samples in asyncio.run(time_lists(url_base, args.requests)).items():
                results[name][url] += samples
    print(f"console: {args.nodes} nodes, {args.pods} pods; cache synced in {info['sync_s']:.1f} s; "
          f"console process RSS {info['rss_mib']:.0f} MiB (+{info['cache_rss_mib']:.0f} MiB while syncing, "
          f"fake API in the same process)\n")
    print("| request | bytes | console p50 / p99 ms | floor p50 / p99 ms | p99 ratio |")
    print("|---|---:|---:|---:|---:|")
    for url in URLS:
        c, f = results["console"][url], results["floor"][url]
        print(f"| `{url.removeprefix('/api/v1/clusters/local')}` | {len(pages[url])} | "
              f"{statistics.median(c):.2f} / {pct(c, 99):.2f} | {statistics.median(f):.2f} / {pct(f, 99):.2f} | "
              f"{pct(c, 99) / pct(f, 99):.1f}x |")
    print(f"\nSSE fan-out: {args.clients} clients, {args.events} events at {args.rate:g}/s, {args.rounds} rounds "
          "(servers alternating)\n")
    print("| server | delivered | p50 ms | p99 ms | max ms | p99 per round ms |")
    print("|---|---:|---:|---:|---:|---|")
    servers = (("floor (bare queue fan-out)", floor_info), ("console (EventHub + serve_stream)", info))
    sse: dict[str, tuple[list[float], int, list[float]]] = {name: ([], 0, []) for name, _ in servers}
    for _ in range(args.rounds):
        for name, server in servers:
            latencies, received = asyncio.run(fan_out(server["port"], server["control"], args.clients,
                                                      args.events, args.rate))
            all_latencies, total, per_round = sse[name]
            sse[name] = (all_latencies + latencies, total + received, [*per_round, pct(latencies, 99)])
    for name, (latencies, received, per_round) in sse.items():
        print(f"| {name} | {received}/{args.rounds * args.clients * args.events} | {pct(latencies, 50):.2f} | "
              f"{pct(latencies, 99):.2f} | {max(latencies):.2f} | {', '.join(f'{v:.0f}' for v in per_round)} |")
    console.kill()
    floor.kill()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
