"""/prioritize latency and throughput of the scheduler extender, next to an HTTP floor.

Why: kube-scheduler waits for the extender inside every scheduling cycle. Target at 5,000
nodes in NodeNames (nodeCacheCapable) mode: p99 <= floor p99 + 1 ms and >= 1,000 calls/s on
one core. The floor is measured in the same run: an aiohttp handler that reads the same
request body and returns a constant, pre-encoded HostPriorityList of the same length — the
cost of HTTP and the bytes on the wire, with no decoding or scoring.

Method: both servers (the real ``extender.app`` with a pre-filled node table, and the floor)
run at once, each in its own subprocess (one event loop = one core); this process is a
closed-loop client with one request in flight over keep-alive loopback connections, sending
every call's body to both servers in turn (the order alternating), so the two see the same
background load on a shared machine. ``calls/s`` is 1 / mean latency. Each cell is bounded by
a request count and a time budget. The pod is
Critical (the request-dependent view; other tiers are the same lookups) and is a full Pod
object as kube-scheduler sends it (~4 KiB with managedFields and status).

The node table is realistic too: 2 % of the nodes have no Temper annotations (no agent) and
1 % are stale (a dead agent), so neutral counting runs; and while serving, the real server
applies ``--churn`` watch events per second (default 83: every node republishing once a
minute), each a Node object parsed from JSON, reduced and upserted, as ``NodeWatch`` does.

Cells (all at 5,000 nodes unless named):
- ``NodeNames`` at 100, 1,000 and 5,000 nodes: the same full list on every call (a quiet
  cluster with ``percentageOfNodesToScore: 100``);
- ``subset`` 10 %, 50 %, 100 %: a new random subset of that size, in shuffled order, on every
  call (what kube-scheduler sends at scale: with the default percentageOfNodesToScore it
  scores ~10 % of 5,000 nodes, found by parallel filtering from a rotating start). The bodies
  are generated before the timed loop, from one seed, and the floor gets the same ones;
- ``full Nodes``: ``nodeCacheCapable: false``, 5,000 full Node objects per call.

``cpu us`` is each server process's CPU time per timed call (``/proc/PID/stat``; the real
server's includes its churn): on a shared, loaded host latency percentiles mostly measure the
other tenants, while CPU time per call still shows what a call costs. The load average at the
start and end is printed with the table.

Run: ``python benchmarks/extender_latency.py`` (``--requests``, ``--budget``, ``--churn``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
TARGET_NODES = 5000
TARGET_P99_DELTA_MS = 1.0
TARGET_CALLS_PER_S = 1000
SEED = 15


def node_name(i: int) -> str:
    return f"node-{i:05d}"


def node_annotations(i: int, ts: int = NOW, generation: int = 0) -> dict[str, str]:
    """Temper's annotations for node ``i``: none on 2 % (no agent), stale on 1 % (dead agent)."""
    if i % 50 == 7:
        return {}
    if i % 100 == 3:
        ts = NOW - 3600
    g = generation
    load = NodeLoad(timestamp=ts, cpus=8 + i % 56, fenced=frozenset(range(i % 4)),
                    free_protected_milli=(i * 37 + g * 101) % 4000,
                    tiers={t: TierLoad((i * 13 + t + g) % 6000, (i * 7 + t + g * 53) % 5000, (i % 17) / 2)
                           for t in Tier})
    state = EnforcementState.ENFORCING if i % 10 else EnforcementState.OBSERVE_ONLY
    return {TIER_LOAD_KEY: encode_node_load(load), ENFORCEMENT_KEY: encode_enforcement(EnforcementStatus(state))}


def node_object(i: int, annotations: dict[str, str] | None = None) -> dict[str, object]:
    name = node_name(i)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-{i}", "resourceVersion": str(1000 + i),
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "topology.kubernetes.io/zone": f"zone-{i % 3}"},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         **(node_annotations(i) if annotations is None else annotations)}},
            "status": {"capacity": {"cpu": "8", "memory": "32Gi"}, "allocatable": {"cpu": "7910m"},
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "images": [{"names": [f"registry.example/img-{k}:v{k}"], "sizeBytes": 1000 * k}
                                  for k in range(5)]}}


def full_pod() -> dict[str, Any]:
    """A Critical Pod as kube-scheduler passes it: metadata with managedFields, a full spec, status."""
    env = [{"name": f"SETTING_{k}", "value": f"value-{k}"} for k in range(30)]
    container = {"name": "app", "image": "registry.example/team/api:1.42.0", "env": env,
                 "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                 "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                               "limits": {"cpu": "1", "memory": "512Mi"}},
                 "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io",
                                   "readOnly": True}],
                 "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 5},
                 "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}
    sidecar = {**container, "name": "proxy", "image": "registry.example/mesh/proxy:1.20", "env": env[:4],
               "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    managed = [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                "time": "2026-12-03T13:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {f"f:label-{k}": {} for k in range(6)},
                                            "f:ownerReferences": {}},
                             "f:spec": {"f:containers": {f'k:{{"name":"{c}"}}': {"f:env": {}, "f:image": {},
                                                                                    "f:resources": {}}
                                                         for c in ("app", "proxy")}}}}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "api-7d9f8c6b5-x2x9q", "generateName": "api-7d9f8c6b5-", "namespace": "shop",
                         "uid": "0f5c2b1e-3a4d-4e8f-9b6a-1c2d3e4f5a6b", "resourceVersion": "81234567",
                         "creationTimestamp": "2026-12-03T13:00:00Z",
                         "labels": {"app": "api", "pod-template-hash": "7d9f8c6b5", "team": "shop",
                                    "version": "1.42.0", "tier": "frontend", "release": "stable"},
                         "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-01T10:00:00Z",
                                         "prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f8c6b5",
                                              "uid": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "controller": True,
                                              "blockOwnerDeletion": True}],
                         "managedFields": managed},
            "spec": {"priorityClassName": "infera-critical", "priority": 1000000, "schedulerName": "infera-scheduler",
                     "containers": [container, sidecar], "restartPolicy": "Always",
                     "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                     "serviceAccountName": "api", "securityContext": {"runAsNonRoot": True},
                     "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                         {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "api"}},
                                                             "topologyKey": "kubernetes.io/hostname"}}]}},
                     "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                      "effect": "NoExecute", "tolerationSeconds": 300}],
                     "volumes": [{"name": "kube-api-access", "projected": {"sources": [
                         {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
                     "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority"},
            "status": {"phase": "Pending", "qosClass": "Burstable",
                       "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}


POD = full_pod()


@dataclass(frozen=True)
class Cell:
    kind: str
    """names (the same full list each call), subset (a new shuffled subset each call), full."""
    nodes: int
    fraction: float = 1.0
    count: int = 0

    @property
    def size(self) -> int:
        """Names per call (and entries in the reply)."""
        return round(self.nodes * self.fraction)

    @property
    def label(self) -> str:
        if self.kind == "subset":
            return f"subset {self.fraction:.0%}"
        return {"names": "NodeNames", "full": "full Nodes"}[self.kind]


def request_bodies(cell: Cell, calls: int) -> list[bytes]:
    """The bodies of the calls, in order (one, repeated, unless the cell is a subset cell)."""
    names = [node_name(i) for i in range(cell.nodes)]
    if cell.kind == "full":
        return [orjson.dumps({"Pod": POD, "Nodes": {"items": [node_object(i) for i in range(cell.nodes)]},
                              "NodeNames": None})]
    if cell.kind == "names":
        return [orjson.dumps({"Pod": POD, "Nodes": None, "NodeNames": names})]
    rng = random.Random(SEED)
    return [orjson.dumps({"Pod": POD, "Nodes": None, "NodeNames": rng.sample(names, cell.size)})
            for _ in range(calls)]


def serve(kind: str, nodes: int, reply_size: int, port: int, churn: float) -> None:
    from collections.abc import AsyncIterator

    from aiohttp import web

    from extender.app import STATE, Settings, make_app
    from extender.table import NodeTable
    from temper.kube.nodecache import NodeMeta, node_meta

    if kind == "floor":
        reply = orjson.dumps([{"Host": node_name(i), "Score": 5} for i in range(reply_size)])

        async def constant(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=reply, content_type="application/json")

        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/prioritize", constant)
    else:
        table = NodeTable.of(NodeMeta(node_name(i), node_annotations(i)) for i in range(nodes)) \
            if kind != "full" else NodeTable()
        app = make_app(Settings(), table)

        async def watch_events(app: web.Application) -> AsyncIterator[None]:
            """``churn`` Node MODIFIED events per second: parse, reduce, upsert (as NodeWatch)."""
            rng = random.Random(SEED)
            sink = app[STATE].table

            async def run() -> None:
                generation = 0
                while True:
                    await asyncio.sleep(1 / churn)
                    generation += 1
                    i = rng.randrange(nodes)
                    event = orjson.dumps({"type": "MODIFIED", "object": node_object(
                        i, node_annotations(i, int(time.time()), generation))})
                    meta = node_meta(orjson.loads(event)["object"])
                    assert meta is not None
                    sink.upsert(meta)

            task = asyncio.create_task(run())
            yield
            task.cancel()

        if churn > 0 and kind != "full":
            app.cleanup_ctx.append(watch_events)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=lambda *_: None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/PID/stat``, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Samples:
    latencies: list[float]
    cpu_s: float
    """The server process's CPU time over the timed calls (its own work, not the waits)."""


async def measure(ports: list[int], pids: list[int], bodies: list[bytes], warmup: int, count: int,
                  budget_s: float) -> list[Samples]:
    """Latencies per server (in ``ports`` order) of ``count`` calls each (fewer if the budget
    runs out), after ``warmup`` calls each, and each server's CPU time over them. Call k sends
    ``bodies[k % len(bodies)]`` to every server in turn, the order alternating, so the servers
    see the same background load."""
    import aiohttp

    headers = {"Content-Type": "application/json"}
    urls = [f"http://127.0.0.1:{port}/prioritize" for port in ports]
    async with aiohttp.ClientSession() as session:

        async def call(url: str, body: bytes) -> float:
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            return time.perf_counter() - started

        for url in urls:  # wait for each server (the real one builds its table first)
            for _ in range(150):
                try:
                    await call(url, bodies[0])
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.2)
        for i in range(warmup):
            for url in urls:
                await call(url, bodies[i % len(bodies)])
        samples: list[list[float]] = [[] for _ in urls]
        cpu = [cpu_seconds(pid) for pid in pids]
        deadline = time.perf_counter() + budget_s
        for k in range(count):
            if time.perf_counter() > deadline:
                break
            body = bodies[(warmup + k) % len(bodies)]
            order = range(len(urls)) if k % 2 == 0 else range(len(urls) - 1, -1, -1)
            for i in order:
                samples[i].append(await call(urls[i], body))
        cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
    return [Samples(latencies, spent) for latencies, spent in zip(samples, cpu, strict=True)]


def run_cell(cell: Cell, bodies: list[bytes], budget_s: float, churn: float) -> tuple[Samples, Samples]:
    """(floor, real) latencies, measured interleaved: both servers run, each in its own
    process, and every body goes to both."""
    ports = [free_port(), free_port()]
    kinds = ("floor", cell.kind)
    servers = [subprocess.Popen([sys.executable, __file__, "--serve", kind, str(cell.nodes), str(cell.size),
                                 str(port), str(churn)]) for kind, port in zip(kinds, ports, strict=True)]
    try:
        warmup = max(3, cell.count // 10)
        floor, real = asyncio.run(measure(ports, [server.pid for server in servers], bodies, warmup, cell.count,
                                          budget_s))
        return floor, real
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def verdict(cell: Cell, floor: list[float], real: list[float]) -> str:
    if cell.nodes != TARGET_NODES or cell.kind == "full":
        return ""
    delta = pct(real, .99) - pct(floor, .99)
    calls = 1 / statistics.mean(real)
    return "met" if delta <= TARGET_P99_DELTA_MS and calls >= TARGET_CALLS_PER_S else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--serve", nargs=5, metavar=("KIND", "NODES", "REPLY", "PORT", "CHURN"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=2000, help="per cell (NodeNames modes)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per cell at most (both servers)")
    parser.add_argument("--churn", type=float, default=83.0,
                        help="watch events per second applied by the real server while serving (0: none)")
    parser.add_argument("--only", choices=["names", "subset", "full"], action="append",
                        help="run only these kinds of cell (repeatable)")
    args = parser.parse_args()
    if args.serve:
        kind, nodes, reply, port, churn = args.serve
        serve(kind, int(nodes), int(reply), int(port), float(churn))
        return 0
    cells = [Cell("names", n, 1.0, args.requests) for n in (100, 1000, TARGET_NODES)]
    cells += [Cell("subset", TARGET_NODES, f, args.requests) for f in (0.1, 0.5, 1.0)]
    cells += [Cell("full", TARGET_NODES, 1.0, 60)]
    cells = [c for c in cells if not args.only or c.kind in args.only]
    load_before = os.getloadavg()
    rows = []
    for cell in cells:
        bodies = request_bodies(cell, cell.count + max(3, cell.count // 10))
        floor, real = run_cell(cell, bodies, args.budget, args.churn)
        rows.append((cell, floor, real))
    print(f"{'mode':<12}{'nodes':>6}{'names':>6}{'n':>6}  {'floor p50':>9} {'floor p99':>9}  {'p50':>7} {'p99':>7}"
          f"  {'p99-floor':>9}  {'calls/s':>8} {'floor calls/s':>13}  {'cpu us':>7} {'floor cpu us':>12}  target")
    for cell, floor, real in rows:
        f, r = floor.latencies, real.latencies
        print(f"{cell.label:<12}{cell.nodes:>6}{cell.size:>6}{len(r):>6}  {pct(f, .5):>9.3f} "
              f"{pct(f, .99):>9.3f}  {pct(r, .5):>7.3f} {pct(r, .99):>7.3f}  "
              f"{pct(r, .99) - pct(f, .99):>+9.3f}  {1 / statistics.mean(r):>8.0f} "
              f"{1 / statistics.mean(f):>13.0f}  {real.cpu_s / len(r) * 1e6:>7.0f} {floor.cpu_s / len(f) * 1e6:>12.0f}"
              f"  {verdict(cell, f, r)}")
    print(f"(milliseconds; closed loop, one request in flight, floor and extender interleaved, loopback, "
          f"each server on one event loop; "
          f"real server applying {args.churn:g} watch events/s; target at {TARGET_NODES} nodes: "
          f"p99 <= floor + {TARGET_P99_DELTA_MS:g} ms and >= {TARGET_CALLS_PER_S} calls/s; cpu us: the server "
          f"process's CPU time per call, churn included; load average {load_before[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
