"""The live-update stream: ``EventRing`` (pure) keeps exactly the newest events and says when a
resume point is gone; over HTTP (the console against the fake API server — no real
kube-apiserver here) one stream multiplexes kinds, ``Last-Event-ID`` resumes without loss, a
gap too old or an id from another server gets ``event: reset``, and a client that stops
reading is skipped ahead with a reset rather than buffered for."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from aiohttp import ClientResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from console.models import NodeSummary
from console.stream import EventRing
from tests.console.fakeapi import make_pod
from tests.console.harness import AUTH, TOKEN, running_console


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 20), st.integers(0, 60), st.integers(0, 70), st.integers(1, 30))
def test_the_ring_returns_exactly_the_events_after_a_retained_point(capacity: int, appended: int, resume: int,
                                                                    limit: int) -> None:
    ring = EventRing(capacity, epoch="e")
    for i in range(appended):
        ring.append("pods", str(i + 1).encode())
    got = ring.after(resume, limit)
    retained_from = max(1, appended - capacity + 1)
    if resume > appended or resume < retained_from - 1:
        assert got is None
    else:
        assert got is not None
        assert [e.seq for e in got] == list(range(resume + 1, min(appended, resume + limit) + 1))
        assert all(e.data == str(e.seq).encode() for e in got)


def test_ids_from_another_epoch_or_junk_do_not_parse() -> None:
    ring = EventRing(10, epoch="abc")
    ring.append("pods", b"{}")
    assert ring.parse_id(ring.event_id(1)) == 1
    for bad in ("def-1", "abc-2", "abc-x", "", "abc", "-1", "abc-" + "9" * 40):
        assert ring.parse_id(bad) is None


async def read_events(response: ClientResponse, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Parse SSE frames until ``count`` events (comments and retry lines skipped)."""
    events: list[dict[str, Any]] = []
    frame: dict[str, Any] = {}

    async def run() -> None:
        nonlocal frame
        while len(events) < count:
            raw = await response.content.readline()
            assert raw, "stream ended"
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in frame:
                    events.append(frame)
                frame = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                frame[field] = json.loads(value) if field == "data" else value

    await asyncio.wait_for(run(), timeout)
    return events


async def test_one_stream_multiplexes_pods_nodes_and_workloads() -> None:
    async with running_console() as r:
        response = await r.client.get("/api/v1/events?kinds=pods,nodes", headers=AUTH)
        assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"
        r.api.put("pods", make_pod("apps", "fresh-1", "node-00001", 3))
        got = await read_events(response, 2)
        by_kind = {e["event"]: e["data"] for e in got}
        assert by_kind["pods"]["type"] == "ADDED" and by_kind["pods"]["object"]["name"] == "fresh-1"
        assert by_kind["nodes"]["type"] == "MODIFIED" and by_kind["nodes"]["object"]["name"] == "node-00001"
        assert by_kind["nodes"]["cluster"] == "local"
        response.close()


async def test_the_token_may_come_as_access_token_for_event_source_clients() -> None:
    async with running_console() as r:
        assert (await r.client.get("/api/v1/events")).status == 401
        response = await r.client.get(f"/api/v1/events?access_token={TOKEN}")
        assert response.status == 200
        response.close()
        assert (await r.client.get("/api/v1/events?kinds=secrets", headers=AUTH)).status == 400


async def test_last_event_id_resumes_exactly_after_the_last_seen_event() -> None:
    async with running_console() as r:
        first = await r.client.get("/api/v1/events?kinds=pods", headers=AUTH)
        r.api.put("pods", make_pod("apps", "p-0", "node-00000", 1))
        seen = await read_events(first, 1)
        first.close()
        for i in range(1, 6):
            r.api.put("pods", make_pod("apps", f"p-{i}", "node-00000", 1))
        await r.until(lambda: len([k for k in r.explorer.pods.items if k.startswith("apps/p-")]) == 6)
        again = await r.client.get("/api/v1/events?kinds=pods", headers={**AUTH, "Last-Event-ID": seen[0]["id"]})
        resumed = await read_events(again, 5)
        assert [e["data"]["object"]["name"] for e in resumed] == [f"p-{i}" for i in range(1, 6)]
        assert all(e["event"] == "pods" for e in resumed)
        again.close()


async def test_a_gap_older_than_the_ring_or_a_foreign_id_gets_a_reset() -> None:
    async with running_console(stream_capacity=4) as r:
        first = await r.client.get("/api/v1/events?kinds=pods", headers=AUTH)
        r.api.put("pods", make_pod("apps", "q-0", "node-00000", 1))
        seen = await read_events(first, 1)
        first.close()
        for i in range(1, 10):
            r.api.put("pods", make_pod("apps", f"q-{i}", "node-00000", 1))
        await r.until(lambda: "apps/q-9" in r.explorer.pods.items)
        stale = await r.client.get("/api/v1/events", headers={**AUTH, "Last-Event-ID": seen[0]["id"]})
        reset = (await read_events(stale, 1))[0]
        assert reset["event"] == "reset" and "older" in reset["data"]["reason"]
        assert reset["id"] == r.hub.ring.event_id(r.hub.ring.newest)
        r.api.put("pods", make_pod("apps", "q-after", "node-00000", 1))
        after = await read_events(stale, 1)
        assert after[0]["event"] in ("pods", "nodes")
        stale.close()
        foreign = await r.client.get("/api/v1/events", headers={**AUTH, "Last-Event-ID": "deadbeef-3"})
        assert (await read_events(foreign, 1))[0]["event"] == "reset"
        foreign.close()


async def test_a_client_that_stops_reading_is_skipped_ahead_with_a_reset() -> None:
    async with running_console(stream_capacity=50) as r:
        port = r.client.server.port
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(f"GET /api/v1/events?kinds=nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
                     .encode())
        await writer.drain()
        await reader.readuntil(b"retry: 2000\n\n")
        big = NodeSummary(name="x" * 2000, cpus=8, enforcement=None, fenced="", free_m=None, tiers={},
                          unschedulable=False, instance_type=None, pods=0)
        published = 0
        for _ in range(40):  # the client reads nothing while ~4 MB are published
            for _ in range(50):
                r.hub.publish("nodes", "MODIFIED", big)
                published += 1
            await asyncio.sleep(0.01)
        received = b""
        while b"event: reset" not in received:
            received += await asyncio.wait_for(reader.read(1 << 16), 10)
        frames = received.count(b"\n\n")
        assert frames < published, "the slow client was sent every event instead of a reset"
        assert r.hub.resets_sent >= 1
        writer.close()


async def test_a_wholesale_relist_reaches_live_clients_as_a_reset() -> None:
    async with running_console() as r:
        response = await r.client.get("/api/v1/events?kinds=workloads", headers=AUTH)
        await asyncio.sleep(0.1)
        r.explorer.on_pods([make_pod("apps", "only", "node-00000", 1)])  # what the reflector does after a 410
        got = await read_events(response, 1)
        assert got[0]["event"] == "reset" and got[0]["data"] == {"reason": "pods re-listed"}
        assert list(r.explorer.pods.items) == ["apps/only"]
        assert r.explorer.nodes.items["node-00000"].pods == 1
        response.close()
