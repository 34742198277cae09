"""/prioritize latency and throughput of the scheduler extender, next to an HTTP floor.

Why: kube-scheduler waits for the extender inside every scheduling cycle. Target at 5,000
nodes in NodeNames (nodeCacheCapable) mode: p99 <= floor p99 + 1 ms and >= 1,000 calls/s on
one core. The floor is measured in the same run: an aiohttp handler that reads the same
request body and returns a constant, pre-encoded HostPriorityList of the same length — the
cost of HTTP and the bytes on the wire, with no decoding or scoring.

Method: each server (the real ``extender.app`` with a pre-filled node table, or the floor)
runs in its own subprocess (one event loop = one core); this process is a closed-loop client
with one request in flight over a keep-alive loopback connection. Each cell is bounded by a
request count and a time budget. The pod is Critical (the per-request arithmetic path; other
tiers use precomputed fragments and are faster). Run: ``python benchmarks/extender_latency.py``.

Two NodeNames shapes: the same list on every call (a quiet cluster where kube-scheduler
scores all nodes in one order: the extender's answer cache hits), and "NodeNames, varied":
64 different rotations of the list, cycled, so no call repeats a recent list (what
kube-scheduler's parallel filtering usually produces: every call decodes and scores).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temper.annotations import (
    ENFORCEMENT_KEY,
    TIER_LOAD_KEY,
    EnforcementState,
    EnforcementStatus,
    NodeLoad,
    TierLoad,
    encode_enforcement,
    encode_node_load,
)
from temper.tiers import Tier

NOW = int(time.time())


def node_annotations(i: int) -> dict[str, str]:
    load = NodeLoad(timestamp=NOW, cpus=8 + i % 56, fenced=frozenset(range(i % 4)),
                    free_protected_milli=(i * 37) % 4000,
                    tiers={t: TierLoad((i * 13 + t) % 6000, (i * 7 + t) % 5000, (i % 17) / 2) for t in Tier})
    state = EnforcementState.ENFORCING if i % 10 else EnforcementState.OBSERVE_ONLY
    return {TIER_LOAD_KEY: encode_node_load(load), ENFORCEMENT_KEY: encode_enforcement(EnforcementStatus(state))}


def node_object(i: int) -> dict[str, object]:
    name = f"node-{i:05d}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-{i}", "labels": {"kubernetes.io/hostname": name},
                         "annotations": node_annotations(i)},
            "status": {"capacity": {"cpu": "8", "memory": "32Gi"}, "allocatable": {"cpu": "7910m"},
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "images": [{"names": [f"registry.example/img-{k}:v{k}"], "sizeBytes": 1000 * k}
                                  for k in range(5)]}}


POD = {"metadata": {"name": "api", "namespace": "default", "uid": "u"},
       "spec": {"priorityClassName": "infera-critical",
                "containers": [{"name": "app", "resources": {"requests": {"cpu": "500m"}}}]}}


VARIED_BODIES = 64
"""More distinct lists than the extender caches answers for (``MAX_CACHED_ANSWERS``)."""


def request_body(nodes: int, full: bool, rotate: int = 0) -> bytes:
    if full:
        return orjson.dumps({"Pod": POD, "Nodes": {"items": [node_object(i) for i in range(nodes)]}, "NodeNames": None})
    names = [f"node-{i:05d}" for i in range(nodes)]
    return orjson.dumps({"Pod": POD, "Nodes": None, "NodeNames": names[rotate:] + names[:rotate]})


def request_bodies(kind: str, nodes: int) -> list[bytes]:
    if kind == "varied":
        return [request_body(nodes, False, k * 7 + 1) for k in range(VARIED_BODIES)]
    return [request_body(nodes, kind == "full")]


def serve(kind: str, nodes: int, port: int) -> None:
    from aiohttp import web

    from extender.app import Settings, make_app
    from extender.table import NodeTable
    from temper.kube.nodecache import NodeMeta

    if kind == "floor":
        reply = orjson.dumps([{"Host": f"node-{i:05d}", "Score": 5} for i in range(nodes)])

        async def constant(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=reply, content_type="application/json")

        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/prioritize", constant)
    else:
        table = NodeTable.of(NodeMeta(f"node-{i:05d}", node_annotations(i)) for i in range(nodes)) \
            if kind in ("names", "varied") else NodeTable()
        app = make_app(Settings(), table)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda *_: None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measure(port: int, bodies: list[bytes], count: int, budget_s: float) -> list[float]:
    import aiohttp

    url = f"http://127.0.0.1:{port}/prioritize"
    headers = {"Content-Type": "application/json"}
    body = bodies[0]
    async with aiohttp.ClientSession() as session:
        for _ in range(60):  # wait for the server, then warm up
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.2)
        for i in range(max(3, count // 10)):
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as response:
                await response.read()
        samples: list[float] = []
        deadline = time.perf_counter() + budget_s
        while len(samples) < count and time.perf_counter() < deadline:
            body = bodies[len(samples) % len(bodies)]
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            samples.append(time.perf_counter() - started)
    return samples


def run_cell(server_kind: str, kind: str, nodes: int, count: int, budget_s: float) -> list[float]:
    """``server_kind``: "floor" or ``kind``; the bodies are always those of ``kind``."""
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", server_kind, str(nodes), str(port)])
    try:
        return asyncio.run(measure(port, request_bodies(kind, nodes), count, budget_s))
    finally:
        server.terminate()
        server.wait(timeout=10)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "NODES", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=2000, help="per cell (NodeNames mode)")
    parser.add_argument("--budget", type=float, default=8.0, help="seconds per cell at most")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return 0
    cells = [("names", n, args.requests) for n in (100, 1000, 5000)] + [("varied", 5000, args.requests),
                                                                       ("full", 5000, 60)]
    rows = []
    for kind, nodes, count in cells:
        floor = run_cell("floor", kind, nodes, count, args.budget)
        real = run_cell(kind, kind, nodes, count, args.budget)
        rows.append((kind, nodes, floor, real))
    print(f"{'mode':<10}{'nodes':>6}{'n':>6}  {'floor p50':>9} {'floor p99':>9}  {'p50':>7} {'p99':>7}"
          f"  {'p99-floor':>9}  {'calls/s':>8} {'floor calls/s':>13}")
    for kind, nodes, floor, real in rows:
        mode = {"names": "NodeNames", "varied": "NN varied", "full": "full Nodes"}[kind]
        print(f"{mode:<10}{nodes:>6}{len(real):>6}  {pct(floor, .5):>9.3f} {pct(floor, .99):>9.3f}  "
              f"{pct(real, .5):>7.3f} {pct(real, .99):>7.3f}  {pct(real, .99) - pct(floor, .99):>+9.3f}  "
              f"{1 / statistics.mean(real):>8.0f} {1 / statistics.mean(floor):>13.0f}")
    print("(milliseconds; closed loop, one request in flight, loopback, server on one event loop)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
