"""The audit log: every mutation through /api/v1 — allowed, denied or failed — is one record.

Why one module: it is the only writer of audit records (STYLE §12). A record is written to the
SQLite store (``console.store``, append-only by trigger) and, once committed, printed to
stdout as one JSON line for the cluster's log pipeline.

Tamper evidence: records form a hash chain. ``hash = sha256(previous_hash + canonical(record))``
where ``canonical`` is the sorted-key compact JSON of every field but ``hash``; the first record
chains from the store's anchor ("" on a fresh store, the hash of the last pruned record after
retention ran). ``verify_chain`` recomputes it: editing, inserting, deleting or reordering a
record in the file breaks the chain at that point. (Someone who can rewrite the whole file can
rewrite the whole chain; the stdout copy in the log pipeline is the outside witness.)

Pure parts (``chain_hash``, ``verify_chain``, ``to_jsonl``, ``to_csv``) take and return plain
data; ``AuditLog`` is the thin async adapter that runs the store off the event loop.
Parameters never hold secrets: callers put request *parameters* here, never a token.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from console.models import AuditRecord
from console.store import AUDIT_COLUMNS, Store

RESULTS = ("allowed", "denied", "failed")
CSV_COLUMNS = AUDIT_COLUMNS


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes the hash covers: every field except ``hash``, sorted keys, compact."""
    body = {k: record[k] for k in AUDIT_COLUMNS if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(previous_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(previous_hash.encode() + canonical(record)).hexdigest()


def verify_chain(anchor: str, records: Iterable[dict[str, Any]]) -> bool:
    """True when ``records`` (oldest first) each chain from the one before, starting at ``anchor``,
    with consecutive ids."""
    previous, last_id = anchor, None
    for record in records:
        if last_id is not None and record["id"] != last_id + 1:
            return False
        if record["hash"] != chain_hash(previous, record):
            return False
        previous, last_id = record["hash"], record["id"]
    return True


def to_jsonl(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def to_csv(records: Iterable[dict[str, Any]], header: bool = True) -> Iterator[str]:
    """RFC 4180 CSV; ``parameters`` and ``previous`` as JSON text in their cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def row(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    if header:
        yield row(CSV_COLUMNS)
    for record in records:
        yield row(json.dumps(record[c], sort_keys=True) if c in ("parameters", "previous")
                  and record[c] is not None else record[c] for c in CSV_COLUMNS)


@dataclass
class Entry:
    """What a caller knows about one mutation; ``AuditLog.append`` turns it into a record."""

    token: str
    role: str
    action: str
    target: str
    parameters: dict[str, Any] = field(default_factory=dict)
    result: str = "allowed"
    detail: str = ""
    previous: dict[str, Any] | None = None


def build_record(entry: Entry, record_id: int, previous_hash: str, now: float) -> dict[str, Any]:
    """Pure: the stored record for ``entry`` as record ``record_id`` after ``previous_hash``."""
    if entry.result not in RESULTS:
        raise ValueError(f"audit result must be one of {RESULTS}")
    record: dict[str, Any] = {
        "id": record_id, "time": now, "token": entry.token, "role": entry.role, "action": entry.action,
        "target": entry.target, "parameters": json.loads(json.dumps(entry.parameters, default=str)),
        "result": entry.result, "detail": entry.detail[:2000],
        "previous": None if entry.previous is None else json.loads(json.dumps(entry.previous, default=str)),
    }
    record["hash"] = chain_hash(previous_hash, record)
    return record


class AuditLog:
    """Async facade over the store: append (then echo to ``out``), page, export, verify, prune."""

    def __init__(self, store: Store, out: TextIO | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.out = out if out is not None else sys.stdout
        self.clock = clock
        self.chain_ok = True
        self._verified: tuple[int, str] = (0, "")
        """(id, hash) of a verified record the next incremental check starts after (the second
        newest at the last check, so the newest is always re-hashed)."""
        self._verify_lock = threading.Lock()

    async def append(self, entry: Entry) -> AuditRecord:
        """Write one record; shielded, so a client that hangs up cannot cancel it half-way."""
        record = await asyncio.shield(asyncio.to_thread(
            self.store.append_audit, lambda i, h: build_record(entry, i, h, self.clock())))
        self.out.write(json.dumps({"audit": record}, sort_keys=True, separators=(",", ":")) + "\n")
        self.out.flush()
        return AuditRecord.model_validate(record)

    async def page(self, before: int | None, limit: int, since: float | None, until: float | None
                   ) -> list[AuditRecord]:
        rows = await asyncio.to_thread(self.store.audit_page, before, limit, since, until)
        return [AuditRecord.model_validate(r) for r in rows]

    def _verify(self, full: bool) -> bool:
        with self._verify_lock:
            start_id, start_hash = self._verified
            if full or not start_id or self.store.audit_hash(start_id) != start_hash:
                start_id, start_hash = 0, self.store.anchor()
            if not self.chain_ok:
                return False
            seen: list[dict[str, Any]] = []

            def records() -> Iterator[dict[str, Any]]:
                for batch in self.store.audit_range(None, None, after=start_id):
                    seen[:] = [*seen[-1:], *batch][-2:]
                    yield from batch
            ok = verify_chain(start_hash, records())
            if ok and len(seen) == 2:  # start after the second newest, so the newest is re-hashed next time
                self._verified = (seen[0]["id"], seen[0]["hash"])
            self.chain_ok = ok
            return ok

    async def verify(self, full: bool = False) -> bool:
        """Is the chain intact? Incremental by default: the records since the last check and the
        newest one before them are re-hashed; ``full`` re-hashes everything (the plane does that
        at startup and every ``FULL_VERIFY_S``). A broken chain stays reported until restart."""
        return await asyncio.to_thread(self._verify, full)

    async def batches(self, since: float | None, until: float | None) -> AsyncIterator[list[dict[str, Any]]]:
        """Export: every record in the window, oldest first, one batch per read off the loop."""
        source = self.store.audit_range(since, until)
        while True:
            batch = await asyncio.to_thread(next, source, None)
            if batch is None:
                return
            yield batch

    async def prune(self, retention_s: float) -> int:
        """Drop records older than ``retention_s``, then re-verify in full (the anchor moved)."""
        count = await asyncio.to_thread(self.store.prune_audit, self.clock() - retention_s)
        if count:
            await self.verify(full=True)
        return count
