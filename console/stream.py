"""Live updates: one server-sent-events stream per client, multiplexing nodes, pods, workloads.

Why it exists: the UI keeps its lists current from a single ``EventSource`` per tab
(``/api/v1/events``) instead of polling, and must survive reconnects without re-listing 30,000
pods each time.

Design:
- ``EventRing`` (pure): a fixed-capacity circular buffer of serialized events, numbered by a
  sequence that only grows. An event's SSE id is ``EPOCH-SEQ``; ``EPOCH`` is random per
  process, so an id from before a restart is recognised as foreign.
- ``EventHub``: the cache publishes every change once (serialised once, shared by all
  clients) and a ``reset`` marker when a kind was re-listed wholesale (its changes were not
  itemised). Writers wait on one ``asyncio.Condition``-like event that is replaced on every
  publish, so a publish is O(1) whatever the number of clients.
- A client is a *cursor* into the ring, not a queue: memory is the ring (shared) plus at most
  ``MAX_BATCH`` events being written per client, never a per-client backlog.
- Resume: a ``Last-Event-ID`` inside the ring replays exactly the events after it; one that is
  older than the ring, from another epoch, in the future, or unparsable gets ``event: reset``
  (the client re-lists) and the stream continues from the newest event.
- Slow clients: a write that cannot drain within ``WRITE_TIMEOUT_S`` closes the stream; a
  client whose cursor the ring has overtaken (it fell ``capacity`` events behind) gets a reset
  and skips to the newest event. Either way nothing queues up for it.
- Heartbeat: a ``: keep-alive`` comment every ``HEARTBEAT_S`` without events, so proxies keep
  the connection and a vanished client is noticed.
- Shutdown: ``close()`` wakes every writer, which ends its response (``on_shutdown``).

Wire format (text/event-stream)::

    retry: 2000
    id: 3f2a9c1e-1042
    event: pods
    data: {"type":"MODIFIED","cluster":"local","object":{...PodSummary...}}

    event: reset
    id: 3f2a9c1e-1042
    data: {"reason":"resume point 3f2a9c1e-17 is older than the retained events"}
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from console import models as m

KINDS = ("nodes", "pods", "workloads")
RESET = "reset"
DEFAULT_CAPACITY = 20_000
"""Events retained for resume: a rolling restart of 5,000 pods (~3 events each) fits."""
MAX_BATCH = 500
"""Events written per wake-up per client (bounds per-client memory to one batch)."""
HEARTBEAT_S = 15.0
WRITE_TIMEOUT_S = 30.0
RETRY_MS = 2000


@dataclass(frozen=True)
class StreamEvent:
    seq: int
    kind: str
    data: bytes
    frame: bytes
    """The whole SSE frame, built once at append (every client writes the same bytes)."""


class EventRing:
    """A bounded, numbered event log (pure). ``seq`` starts at 1; 0 means "before any event"."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, epoch: str | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.epoch = epoch or secrets.token_hex(4)
        self._slots: list[StreamEvent | None] = [None] * capacity
        self.newest = 0

    @property
    def oldest(self) -> int:
        """The sequence of the oldest retained event (newest + 1 when empty)."""
        return max(1, self.newest - self.capacity + 1) if self.newest else 1

    def append(self, kind: str, data: bytes) -> StreamEvent:
        self.newest += 1
        frame = b"id: %s\nevent: %s\ndata: %s\n\n" % (self.event_id(self.newest).encode(), kind.encode(), data)
        event = StreamEvent(self.newest, kind, data, frame)
        self._slots[self.newest % self.capacity] = event
        return event

    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def parse_id(self, text: str) -> int | None:
        """The sequence of an id this ring issued, or None (foreign epoch, junk, future)."""
        epoch, sep, seq = text.strip().rpartition("-")
        if not sep or epoch != self.epoch or not seq.isdigit() or len(seq) > 18:
            return None
        value = int(seq)
        return value if value <= self.newest else None

    def after(self, seq: int, limit: int = MAX_BATCH) -> list[StreamEvent] | None:
        """Up to ``limit`` events after ``seq``; None when events after ``seq`` were dropped."""
        if seq < self.oldest - 1 or seq > self.newest:
            return None
        out: list[StreamEvent] = []
        for s in range(seq + 1, min(self.newest, seq + limit) + 1):
            event = self._slots[s % self.capacity]
            assert event is not None and event.seq == s  # guaranteed by the bounds check above
            out.append(event)
        return out


def reset_frame(ring: EventRing, reason: str) -> bytes:
    data = m.StreamReset(reason=reason).model_dump_json().encode()
    return b"id: %s\nevent: reset\ndata: %s\n\n" % (ring.event_id(ring.newest).encode(), data)


class EventHub:
    """The ring plus the wake-up signal for writers; the cache publishes into it."""

    def __init__(self, cluster: str, capacity: int = DEFAULT_CAPACITY) -> None:
        self.cluster = cluster
        self.ring = EventRing(capacity)
        self._changed = asyncio.Event()
        self.closed = False
        self.clients = 0
        self.resets_sent = 0

    def publish(self, kind: str, change: str, obj: BaseModel) -> None:
        """``kind``: nodes | pods | workloads; ``change``: ADDED | MODIFIED | DELETED."""
        event = m.Event.model_validate({"type": change, "cluster": self.cluster, "object": obj})
        self._append(kind, event.model_dump_json(by_alias=True).encode())

    def reset(self, reason: str) -> None:
        self._append(RESET, m.StreamReset(reason=reason).model_dump_json().encode())

    def _append(self, kind: str, data: bytes) -> None:
        self.ring.append(kind, data)
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for the next publish; False on timeout."""
        waiter = self._changed
        try:
            async with asyncio.timeout(timeout):  # a timer, not a task per waiting client (wait_for)
                await waiter.wait()
            return True
        except TimeoutError:
            return False


def parse_kinds(text: str) -> frozenset[str]:
    """``nodes,pods`` -> the kinds; raises ValueError naming an unknown one."""
    kinds = frozenset(k for k in text.split(",") if k)
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    return kinds or frozenset(KINDS)


def select(events: Iterable[StreamEvent], kinds: frozenset[str]) -> bytes:
    """The frames of the events a client asked for (reset markers always pass). ``data`` is
    single-line JSON, so one ``data:`` line per frame suffices."""
    return b"".join(e.frame for e in events if e.kind in kinds or e.kind == RESET)


async def serve_stream(request: web.Request, hub: EventHub, kinds: frozenset[str]) -> web.StreamResponse:
    """Write the stream until the client goes, a write stalls, or the hub closes."""
    ring = hub.ring
    last = request.headers.get("Last-Event-ID")
    cursor = ring.newest
    first = b"retry: %d\n\n" % RETRY_MS
    if last is not None:
        resumed = ring.parse_id(last)
        if resumed is not None and ring.after(resumed, 0) is not None:
            cursor = resumed
        else:
            first += reset_frame(ring, f"cannot resume from {last[:64]!r}: older than the retained events, "
                                       "or from another server")
            hub.resets_sent += 1
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    hub.clients += 1
    try:
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await response.write(first)
        while not hub.closed:
            batch = ring.after(cursor)
            if batch is None:
                chunk = reset_frame(ring, "this client fell behind the retained events")
                hub.resets_sent += 1
                cursor = ring.newest
            elif batch:
                chunk = select(batch, kinds)
                cursor = batch[-1].seq
            elif not await hub.wait(HEARTBEAT_S):
                chunk = b": keep-alive\n\n"
            else:
                continue
            if chunk:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await response.write(chunk)
    except (ConnectionError, TimeoutError):
        pass  # the client went, or stopped reading: end its stream
    finally:
        hub.clients -= 1
    return response
