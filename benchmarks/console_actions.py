"""Round-trip of an audited console action (cordon), next to floors measured in the same run.

Why: every mutation costs an auth check, a GET and a PATCH to the API server, and one audit
record committed to SQLite (WAL, a file in a temporary directory) plus a stdout line. The
floors separate what is the console's from what is the transport's:

- ``floor: aiohttp no-op``   a GET to an aiohttp handler that returns a constant;
- ``floor: GET+PATCH``      the same two calls to the fake API server, made directly;
- ``console: cordon``        ``POST /api/v1/clusters/local/nodes/N/cordon`` end to end;
- ``audit append``           ``AuditLog.append`` alone (SQLite transaction + hash + echo);
- ``audit page``             ``GET /api/v1/audit?limit=100`` over ``--records`` records: with the
                             default incremental chain check, and with ``verify=full`` (what a
                             full re-hash costs as the log grows; the plane runs one every 10 min).

All servers run in this process on loopback (the fake API server is ``tests.console.fakeapi``;
there is no kube-apiserver here). Phases alternate in ``--rounds`` rounds so bursts of load
from other jobs on a shared host land on every arm.

Run: ``python benchmarks/console_actions.py [--count 300] [--rounds 3] [--records 10000]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

from console.app import Settings, create_app, token_digest
from console.audit import Entry, build_record
from console.plane import PLANE, ActionConfig
from temper.kube.client import ApiClient, ApiConfig
from tests.console.actions_harness import serve
from tests.console.fakeapi import FakeApi, populate

HEADERS = {"Authorization": "Bearer bench-secret"}


async def timed(count: int, call: Callable[[int], Awaitable[None]]) -> list[float]:
    samples = []
    for i in range(count):
        start = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.99) - 1)]


async def main(count: int, rounds: int, records: int) -> None:
    api = FakeApi()
    populate(api, nodes=50, pods=200)
    await api.start()
    floor_app = web.Application()

    async def noop(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
    floor_app.router.add_get("/noop", noop)
    floor_runner, floor_url = await serve(floor_app)
    workdir = tempfile.TemporaryDirectory()
    actions = ActionConfig(store_path=str(Path(workdir.name) / "console.db"), audit_out=io.StringIO())
    app = create_app(ApiClient(ApiConfig(api.url)),
                     Settings(tokens={token_digest(b"console", "bench-secret"): ("bench", "admin")}, actions=actions))
    console_runner, console_url = await serve(app)
    plane = app[PLANE]
    session = aiohttp.ClientSession()
    direct = ApiClient(ApiConfig(api.url))
    await direct.__aenter__()

    async def floor(i: int) -> None:
        async with session.get(f"{floor_url}/noop") as response:
            await response.read()

    async def get_patch(i: int) -> None:
        path = f"/api/v1/nodes/node-{i % 50:05d}"
        await direct.get(path)
        await direct.patch(path, {"spec": {"unschedulable": True}})

    async def cordon(i: int) -> None:
        async with session.post(f"{console_url}/api/v1/clusters/local/nodes/node-{i % 50:05d}/cordon",
                                headers=HEADERS) as response:
            assert response.status == 200, await response.text()
            await response.read()

    async def append(i: int) -> None:
        await plane.audit.append(Entry("bench", "admin", "cordon", f"local/node/n{i}", {"unschedulable": True}))

    arms: dict[str, list[float]] = {"floor: aiohttp no-op": [], "floor: GET+PATCH (direct)": [],
                                    "console: cordon": [], "audit append": []}
    calls = dict(zip(arms, (floor, get_patch, cordon, append), strict=True))
    for _ in range(rounds):
        for name, call in calls.items():
            arms[name] += await timed(count, call)
    written = plane.audit.store.last_audit()[0]
    await asyncio.to_thread(lambda: [plane.audit.store.append_audit(
        lambda n, h: build_record(Entry("bench", "admin", "cordon", "x"), n, h, time.time()))
        for _ in range(max(0, records - written))])

    def page(query: str) -> Callable[[int], Awaitable[None]]:
        async def call(i: int) -> None:
            async with session.get(f"{console_url}/api/v1/audit?limit=100{query}", headers=HEADERS) as response:
                assert (await response.json())["chain_ok"]
        return call
    total = max(records, written)
    await plane.audit.verify()  # the first check after a bulk insert hashes all of it (see the full arm)
    arms[f"audit page, incremental verify ({total} records)"] = await timed(max(5, count // 10), page(""))
    arms[f"audit page, verify=full ({total} records)"] = await timed(3, page("&verify=full"))
    print("| arm | n | median ms | p99 ms |\n|---|---:|---:|---:|")
    for name, samples in arms.items():
        print(f"| {name} | {len(samples)} | {statistics.median(samples):.2f} | {p99(samples):.2f} |")
    await session.close()
    await direct.close()
    await console_runner.cleanup()
    await floor_runner.cleanup()
    await api.stop()
    workdir.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="requests per arm per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=10000, help="audit records when measuring the page")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.rounds, args.records))
