"""Latency and throughput of ``POST /mutate`` over TLS on loopback, next to a floor.

Why: the webhook sits on every pod CREATE in opted-in namespaces; its cost must be close to
"an aiohttp TLS handler that does nothing". Both servers run in a child process each, with
the same TLS context (``temper.tls``, ECDSA P-256 from ``certs.pki``); the client reuses
keep-alive connections, as the API server does.

Target: p99 <= 1.5x the floor and <= 3 ms at 200 requests/s.

The two servers run side by side and the phases alternate between them in ``--rounds``
rounds (floor, webhook, floor, webhook, ...), so that a burst of load from other jobs on a
shared host lands on both rather than on whichever was measured second.

Run: ``python benchmarks/webhook_latency.py [--rate 200] [--count 1000] [--seconds 10] [--rounds 5]``
Bounded: each mode stops at ``--count`` requests or ``--seconds`` per server, whichever is first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

from certs.pki import Bundle, generate_ca, issue_serving_cert, service_dns_names, tls_secret_manifest, write_bundle
from temper.tls import server_ssl_context
from webhook.app import make_app
from webhook.metrics import WebhookMetrics
from webhook.namespaces import RegistrationOnly
from webhook.policy import PolicyConfig

HOST = "temper-webhook.temper-system.svc"


def _review() -> bytes:
    def c(name: str, cpu: str, limit: str) -> dict[str, object]:
        return {"name": name, "image": "i", "resources": {"requests": {"cpu": cpu, "memory": "256Mi"},
                                                          "limits": {"cpu": limit, "memory": "256Mi"}}}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "web-", "namespace": "shop", "labels": {"app": "web"}},
           "spec": {"priorityClassName": "infera-normal",
                    "containers": [c("app", "500m", "2"), c("envoy", "200m", "1"), c("log", "50m", "200m")]}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "shop",
        "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": pod, "dryRun": False}}).encode()


async def _floor_handler(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                              "response": {"uid": body["request"]["uid"], "allowed": True}})


def _serve(kind: str, directory: str, port_queue: multiprocessing.Queue[int]) -> None:
    async def run() -> None:
        context = server_ssl_context(f"{directory}/tls.crt", f"{directory}/tls.key")
        if kind == "webhook":
            app = make_app(PolicyConfig(), WebhookMetrics(), RegistrationOnly())
        else:
            app = web.Application()
            app.router.add_post("/mutate", _floor_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()
    asyncio.run(run())


async def _phase(port: int, ca: str, body: bytes, rate: float | None, count: int, seconds: float,
                 concurrency: int) -> tuple[list[float], float]:
    context = ssl.create_default_context(cafile=ca)
    connector = aiohttp.TCPConnector(ssl=context, limit=concurrency)
    url = f"https://127.0.0.1:{port}/mutate"
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> None:
            start = time.perf_counter()
            async with session.post(url, data=body, headers={"Content-Type": "application/json"},
                                    server_hostname=HOST) as response:
                await response.read()
                assert response.status == 200
            latencies.append(time.perf_counter() - start)
        for _ in range(20):  # warm-up: handshakes, caches
            await one()
        latencies.clear()
        began = time.perf_counter()
        deadline = began + seconds
        if rate is not None:
            tasks = []
            for i in range(count):
                due = began + i / rate
                now = time.perf_counter()
                if due > deadline:
                    break
                if due > now:
                    await asyncio.sleep(due - now)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
        else:
            sent = 0

            async def worker() -> None:
                nonlocal sent
                while sent < count and time.perf_counter() < deadline:
                    sent += 1
                    await one()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return latencies, len(latencies) / elapsed


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] * 1000 if len(values) > 1 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8, help="saturation: parallel keep-alive clients")
    parser.add_argument("--rounds", type=int, default=5, help="alternations floor/webhook per mode")
    args = parser.parse_args()
    body = _review()
    rows = []
    kinds = ("floor", "webhook")
    with tempfile.TemporaryDirectory() as directory:
        ca_key, ca_cert = generate_ca()
        key, cert = issue_serving_cert(ca_key, ca_cert, service_dns_names("temper-webhook", "temper-system"))
        write_bundle(Path(directory), Bundle(ca_key, ca_cert, key, cert),
                     tls_secret_manifest("s", "temper-system", cert, key, ca_cert))
        processes, ports = [], {}
        try:
            for kind in kinds:
                queue: multiprocessing.Queue[int] = multiprocessing.Queue()
                process = multiprocessing.Process(target=_serve, args=(kind, directory, queue), daemon=True)
                process.start()
                processes.append(process)
                ports[kind] = queue.get(timeout=20)
            for mode, rate in (("fixed", args.rate), ("saturation", None)):
                latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
                elapsed = dict.fromkeys(kinds, 0.0)
                for _ in range(args.rounds):
                    for kind in kinds:
                        lat, rps = asyncio.run(_phase(ports[kind], f"{directory}/ca.crt", body, rate,
                                                      args.count // args.rounds, args.seconds / args.rounds,
                                                      args.concurrency))
                        latencies[kind] += lat
                        elapsed[kind] += len(lat) / rps
                for kind in kinds:
                    lat = latencies[kind]
                    rows.append((kind, mode, len(lat), _pct(lat, 0.5), _pct(lat, 0.99), len(lat) / elapsed[kind]))
        finally:
            for process in processes:
                process.terminate()
                process.join()
    print(f"POST /mutate over TLS on loopback, 3-container pod (fixed rate {args.rate:g}/s; saturation "
          f"{args.concurrency} keep-alive clients; {args.rounds} alternating rounds; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"{'server':<8} {'mode':<11} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for kind, mode, n, p50, p99, rps in rows:
        print(f"{kind:<8} {mode:<11} {n:>6} {p50:>8.3f} {p99:>8.3f} {rps:>8.0f}")
    floor_p99 = next(r[4] for r in rows if r[0] == "floor" and r[1] == "fixed")
    hook_p99 = next(r[4] for r in rows if r[0] == "webhook" and r[1] == "fixed")
    ok = hook_p99 <= 1.5 * floor_p99 and hook_p99 <= 3.0
    print(f"target at {args.rate:g}/s: p99 {hook_p99:.3f} ms <= 1.5 x floor ({1.5 * floor_p99:.3f} ms) and <= 3 ms: "
          f"{'MET' if ok else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
