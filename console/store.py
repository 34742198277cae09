"""The console's embedded store: one SQLite file holding the audit log and the named tokens.

Why SQLite (stdlib ``sqlite3``): the console is one replica with a PVC; an embedded database
gives transactions and crash safety with no server to run. Design and invariants:

- WAL journal, ``synchronous=NORMAL``: a killed process loses at most the transaction in
  flight, never a committed one, and never leaves a half-written row (every write is one
  transaction). Readers never block the writer.
- Schema versioned with ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes version i to i+1 and
  runs inside one transaction, so an interrupted upgrade leaves the old version intact.
- The audit table is append-only by trigger: UPDATE always aborts; DELETE aborts unless the
  ``pruning`` flag in ``meta`` is set, which only ``prune_audit`` does, inside the same
  transaction that records the hash of the last pruned row as the chain's new ``anchor``.
- One connection guarded by a lock; every call is synchronous and meant to run off the event
  loop (``asyncio.to_thread``; ``console.audit`` and ``console.tokens`` do that).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, time REAL NOT NULL, token TEXT NOT NULL, role TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL, parameters TEXT NOT NULL, result TEXT NOT NULL,
        detail TEXT NOT NULL, previous TEXT, hash TEXT NOT NULL);
    CREATE INDEX audit_time ON audit (time);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        WHEN (SELECT v FROM meta WHERE k = 'pruning') IS NOT '1'
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, digest TEXT NOT NULL UNIQUE, created REAL NOT NULL,
        last_used REAL, revoked INTEGER NOT NULL DEFAULT 0);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
AUDIT_COLUMNS = ("id", "time", "token", "role", "action", "target", "parameters", "result", "detail",
                 "previous", "hash")


class StoreError(Exception):
    """The store file is unusable (newer schema than this build, or not a database)."""


@dataclass(frozen=True)
class TokenRow:
    name: str
    role: str
    digest: str
    created: float
    last_used: float | None
    revoked: bool


def _audit_row(row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(AUDIT_COLUMNS, row, strict=True))
    record["parameters"] = json.loads(record["parameters"])
    record["previous"] = None if record["previous"] is None else json.loads(record["previous"])
    return record


class Store:
    """The SQLite file (``":memory:"`` for tests). Thread-safe; every method is one transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: {exc}") from None
        self._lock = threading.Lock()
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        with self._lock:
            try:
                version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: {exc}") from None
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version} is newer than this build's "
                                 f"{SCHEMA_VERSION}")
            for step in range(version, SCHEMA_VERSION):
                try:
                    self._db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[step]}; PRAGMA user_version = {step + 1}; "
                                           "COMMIT;")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # ---- meta ------------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def meta_setdefault(self, key: str, value: str) -> str:
        """The stored value of ``key``, storing ``value`` first when there is none."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO meta (k, v) VALUES (?, ?)", (key, value))
            return str(self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()[0])

    # ---- audit -----------------------------------------------------------------------------
    def last_audit(self) -> tuple[int, str]:
        """(id, hash) of the newest record, or (0, anchor) when the log is empty."""
        with self._lock:
            return self._last_audit()

    def _last_audit(self) -> tuple[int, str]:
        row = self._db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        anchor = self._db.execute("SELECT v FROM meta WHERE k = 'anchor'").fetchone()
        last = self._db.execute("SELECT v FROM meta WHERE k = 'last_id'").fetchone()
        return (int(last[0]) if last else 0), (str(anchor[0]) if anchor else "")

    def append_audit(self, build: Any) -> dict[str, Any]:
        """Insert the record ``build(next_id, previous_hash)`` returns (a dict with AUDIT_COLUMNS).

        The id and the previous hash are read inside the same write transaction, so concurrent
        appends can never fork the chain.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                last_id, last_hash = self._last_audit()
                record: dict[str, Any] = build(last_id + 1, last_hash)
                values = [record[c] for c in AUDIT_COLUMNS]
                values[6] = json.dumps(record["parameters"], sort_keys=True)
                values[9] = None if record["previous"] is None else json.dumps(record["previous"], sort_keys=True)
                self._db.execute(f"INSERT INTO audit ({', '.join(AUDIT_COLUMNS)}) VALUES "
                                 f"({', '.join('?' * len(AUDIT_COLUMNS))})", values)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return record

    def audit_page(self, before: int | None, limit: int, since: float | None, until: float | None
                   ) -> list[dict[str, Any]]:
        """Newest first: records with id < ``before`` inside [since, until)."""
        where, args = _time_filter(since, until)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        sql = (f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit"
               f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, [*args, limit]).fetchall()
        return [_audit_row(r) for r in rows]

    def audit_range(self, since: float | None, until: float | None, batch: int = 1000, after: int = 0
                    ) -> Iterator[list[dict[str, Any]]]:
        """Oldest first, ids above ``after``, in batches (the lock is held per batch only)."""
        where, args = _time_filter(since, until)
        sql = (f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE {' AND '.join([*where, 'id > ?'])} "
               "ORDER BY id LIMIT ?")
        while True:
            with self._lock:
                rows = self._db.execute(sql, [*args, after, batch]).fetchall()
            if not rows:
                return
            after = int(rows[-1][0])
            yield [_audit_row(r) for r in rows]

    def audit_hash(self, record_id: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT hash FROM audit WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else str(row[0])

    def prune_audit(self, before_time: float) -> int:
        """Delete records older than ``before_time``; the last deleted hash becomes the anchor."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT id, hash FROM audit WHERE time < ? ORDER BY id DESC LIMIT 1",
                                       (before_time,)).fetchone()
                if row is None:
                    self._db.execute("ROLLBACK")
                    return 0
                newest = self._db.execute("SELECT MAX(id) FROM audit").fetchone()[0]
                self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('pruning', '1')")
                count = self._db.execute("DELETE FROM audit WHERE id <= ?", (row[0],)).rowcount
                self._db.execute("DELETE FROM meta WHERE k = 'pruning'")
                self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('anchor', ?)", (row[1],))
                self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('last_id', ?)", (str(newest),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return int(count)

    def anchor(self) -> str:
        """The hash the oldest kept record chains from ("" until something was pruned)."""
        return self.meta("anchor", "") or ""

    # ---- tokens ----------------------------------------------------------------------------
    def tokens(self) -> list[TokenRow]:
        with self._lock:
            rows = self._db.execute("SELECT name, role, digest, created, last_used, revoked FROM tokens "
                                    "ORDER BY name").fetchall()
        return [TokenRow(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def put_token(self, row: TokenRow) -> bool:
        """Insert, or replace a *revoked* token of the same name; False when the name is live."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                live = self._db.execute("SELECT 1 FROM tokens WHERE name = ? AND revoked = 0",
                                        (row.name,)).fetchone()
                if live is None:
                    self._db.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?, ?, ?)",
                                     (row.name, row.role, row.digest, row.created, row.last_used, int(row.revoked)))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return live is None

    def revoke_token(self, name: str) -> bool:
        """True when a live token of that name was revoked."""
        with self._lock:
            cursor = self._db.execute("UPDATE tokens SET revoked = 1 WHERE name = ? AND revoked = 0", (name,))
        return cursor.rowcount == 1

    def touch_tokens(self, last_used: dict[str, float]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("UPDATE tokens SET last_used = MAX(COALESCE(last_used, 0), ?) WHERE name = ?",
                                 [(t, n) for n, t in last_used.items()])
            self._db.execute("COMMIT")


def _time_filter(since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if since is not None:
        where.append("time >= ?")
        args.append(since)
    if until is not None:
        where.append("time < ?")
        args.append(until)
    return where, args

