"""Latency and throughput of the console's /api/v1 at 5,000 nodes / 30,000 pods, next to a floor.

Why: the issue asks that paged lists stay fast at fleet scale, and that actions answer quickly;
"fast" is measured against an aiohttp floor in the same run — a trivial handler that returns a
pre-encoded body of exactly the size the console returned for the same case, so the difference
is the console's own work (auth, bisect paging, model encoding, savings arithmetic).

Setup: one child process runs the fake API server (tests/console/fakeapi.py, no kube-apiserver
here) populated with 5,000 nodes and 30,000 pods; a second runs the console app against it
(so the console's heap holds only what it would in a cluster), and the client waits for its
list+watch cache to hold the whole fleet; a third child runs the floor. The savings report is
measured with its 2 s reuse turned off, i.e. the full computation on every request. The client (this
process) drives each case with ``--concurrency`` keep-alive clients for ``--seconds``, and the
phases alternate console / floor for ``--rounds`` rounds so host noise lands on both.

Cases: the first and a deep page of nodes and pods (limit 100, and pods at limit 1000), the
savings report over the whole fleet, and an action round-trip (``POST .../savings/baseline``,
admin: the one mutation on this branch — record the fleet's node baseline to the data dir).
No SSE case: this branch has no stream route (the SSE fan-out is built elsewhere).

Run: ``python benchmarks/console_api.py [--nodes 5000] [--pods 30000] [--seconds 3] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

from console.app import Settings, create_app, token_digest
from console.savings import SavingsConfig
from temper.kube.client import ApiClient, ApiConfig
from tests.console.fakeapi import FakeApi, populate

TOKEN = {"Authorization": "Bearer bench"}
CASES: list[tuple[str, str, str]] = [
    ("nodes, first page (100)", "GET", "/api/v1/clusters/local/nodes?limit=100"),
    ("nodes, deep page (100)", "GET", "/api/v1/clusters/local/nodes?limit=100&continue=node-04000"),
    ("pods, first page (100)", "GET", "/api/v1/clusters/local/pods?limit=100"),
    ("pods, page of 1000", "GET", "/api/v1/clusters/local/pods?limit=1000&continue=ns-005/app0-015000"),
    ("nodes, search q=node-049", "GET", "/api/v1/clusters/local/nodes?limit=100&q=node-049"),
    ("savings, whole fleet (no reuse)", "GET", "/api/v1/clusters/local/savings?window=month"),
    ("action: record baseline", "POST", "/api/v1/clusters/local/savings/baseline"),
]


def _fake_api(nodes: int, pods: int, url_queue: multiprocessing.Queue[str]) -> None:
    async def run() -> None:
        api = FakeApi()
        populate(api, nodes=nodes, pods=pods)
        await api.start()
        url_queue.put(api.url)
        await asyncio.Event().wait()
    asyncio.run(run())


def _console(api_url: str, data_dir: str, port_queue: multiprocessing.Queue[int]) -> None:
    async def run() -> None:
        Path(data_dir, "prices.yaml").write_text("prices:\n  - {instanceType: m6i.xlarge, nodeHour: 0.192}\n"
                                                 "  - {instanceType: c6i.4xlarge, vcpuHour: 0.0425}\n")
        settings = Settings(tokens={token_digest(b"console", "bench"): ("bench", "admin")},
                            savings=SavingsConfig(prices_file=f"{data_dir}/prices.yaml", data_dir=data_dir,
                                                  cache_seconds=0))  # no report reuse: measure the computation
        app = create_app(ApiClient(ApiConfig(api_url)), settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()
    asyncio.run(run())


def _floor(bodies: dict[str, bytes], port_queue: multiprocessing.Queue[int]) -> None:
    async def run() -> None:
        app = web.Application()

        def handler(body: bytes) -> web.Response:
            return web.Response(body=body, content_type="application/json")

        async def answer(request: web.Request) -> web.Response:
            await request.read()
            return handler(bodies[request.match_info["case"]])
        app.router.add_route("*", "/case/{case}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()
    asyncio.run(run())


async def _phase(session: aiohttp.ClientSession, method: str, url: str, seconds: float,
                 concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.request(method, url, headers=TOKEN) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{url}: HTTP {response.status}")
            latencies.append(time.perf_counter() - start)
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, len(latencies) / (time.perf_counter() - began)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000 if len(values) > 1 else float("nan")


async def _wait_synced(session: aiohttp.ClientSession, base: str, nodes: int, pods: int) -> float:
    began = time.perf_counter()
    while True:
        try:
            async with session.get(f"{base}/api/v1/clusters/local/pods?limit=1", headers=TOKEN) as r:
                pods_total = (await r.json())["total"] if r.status == 200 else 0
            async with session.get(f"{base}/api/v1/clusters/local/nodes?limit=1", headers=TOKEN) as r:
                nodes_total = (await r.json())["total"] if r.status == 200 else 0
            if (pods_total, nodes_total) == (pods, nodes):
                return time.perf_counter() - began
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)


async def _run(args: argparse.Namespace, console_port: int) -> None:
    base = f"http://127.0.0.1:{console_port}"
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        synced = await _wait_synced(session, base, args.nodes, args.pods)
        print(f"console cache synced: {args.nodes} nodes, {args.pods} pods ({synced:.1f} s after start)")
        bodies: dict[str, bytes] = {}
        for i, (_, method, path) in enumerate(CASES):
            async with session.request(method, base + path, headers=TOKEN) as response:
                bodies[str(i)] = await response.read()
                assert response.status == 200, (path, response.status, bodies[str(i)][:200])
        queue: multiprocessing.Queue[int] = multiprocessing.Queue()
        floor = multiprocessing.Process(target=_floor, args=(bodies, queue), daemon=True)
        floor.start()
        floor_base = f"http://127.0.0.1:{queue.get(timeout=30)}"
        try:
            rows = []
            for i, (name, method, path) in enumerate(CASES):
                results: dict[str, tuple[list[float], list[float]]] = {"console": ([], []), "floor": ([], [])}
                for _ in range(args.rounds):
                    for kind, url in (("console", base + path), ("floor", f"{floor_base}/case/{i}")):
                        latencies, rate = await _phase(session, method, url, args.seconds, args.concurrency)
                        results[kind][0].extend(latencies)
                        results[kind][1].append(rate)
                row = [name, f"{len(bodies[str(i)]) / 1024:.1f}"]
                for kind in ("console", "floor"):
                    lat, rates = results[kind]
                    row += [f"{_pct(lat, 0.5):.2f}", f"{_pct(lat, 0.99):.2f}", f"{statistics.median(rates):.0f}"]
                row.append(f"{float(row[3]) / float(row[6]):.1f}x")
                rows.append(row)
        finally:
            floor.kill()
    header = ["case", "KiB", "p50 ms", "p99 ms", "req/s", "floor p50", "floor p99", "floor req/s", "p99 ratio"]
    print(f"\nconcurrency {args.concurrency}, {args.rounds} x {args.seconds:g} s per side, loopback HTTP\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if c == "case" else "---:" for c in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=30000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        urls: multiprocessing.Queue[str] = multiprocessing.Queue()
        api = multiprocessing.Process(target=_fake_api, args=(args.nodes, args.pods, urls), daemon=True)
        api.start()
        ports: multiprocessing.Queue[int] = multiprocessing.Queue()
        console = multiprocessing.Process(target=_console, args=(urls.get(timeout=300), data_dir, ports), daemon=True)
        try:
            console.start()
            asyncio.run(_run(args, ports.get(timeout=300)))
        finally:
            console.kill()
            api.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
