"""A list+watch of one kind of API object, reduced on arrival to a small record, with sync state.

Why it exists: several components keep a local copy of *a little* of every object of one kind
— the extender each Node's ``infera.io/*`` annotations (``temper.kube.nodecache``), the
webhook each Namespace's labels (``temper.kube.namespaces``). The loop is the same for all of
them; only the path and the reduction differ. ``ObjectWatch`` is that loop's bookkeeping on
top of ``temper.kube.reflector.reflect``: it reduces every object with the given function,
forwards the records to a ``Sink`` (``replace`` after each LIST, ``upsert`` / ``delete`` per
watch event) and tracks what readiness needs — ``synced`` (a LIST has landed),
``failing_since`` and ``last_error``, summed up by ``unready_reason`` (the one wording of a
cache's ``/readyz`` answer).

Invariants: a sink never sees a half-listed state (``replace`` receives the whole LIST);
objects the reduction refuses (no string ``metadata.name``, ...) are dropped and counted,
never forwarded; callbacks run on the event loop, one at a time, in server order.

Exceptions: none of its own; API failures are ``temper.kube.client.ApiError`` and are handled
by the reflector's backoff (reported through ``on_error``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from temper.kube.client import ApiClient
from temper.kube.reflector import Backoff, reflect


class Named(Protocol):
    """A reduced object: at least its ``metadata.name``."""

    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=Named)


class Sink(Protocol[R]):
    """Receives the reduced objects. Called from the event loop, one call at a time."""

    def replace(self, items: list[R]) -> None: ...

    def upsert(self, item: R) -> None: ...

    def delete(self, name: str) -> None: ...


def name_and_metadata(obj: object) -> tuple[str, Mapping[str, Any]] | None:
    """``(metadata.name, metadata)`` of an API object; ``None`` without a usable name."""
    if not isinstance(obj, Mapping):
        return None
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return None
    return name, metadata


def string_map(value: object, prefix: str = "") -> dict[str, str]:
    """The string-to-string entries of a labels/annotations map whose key starts with ``prefix``."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and k.startswith(prefix) and isinstance(v, str)}


class ObjectWatch(Generic[R]):
    """List+watch ``path`` into a ``Sink``, reducing each object; ``synced`` once a LIST has landed."""

    def __init__(self, path: str, reduce: Callable[[object], R | None], sink: Sink[R],
                 on_error: Callable[[Exception], None] | None = None, label_selector: str = "") -> None:
        self.path = path
        self.sink = sink
        self.synced = False
        self.dropped = 0
        """Objects the reduction refused (counted, never forwarded)."""
        self.errors = 0
        self.failing_since: float | None = None
        """Monotonic time of the first failure since the last successful LIST or event."""
        self.last_error = ""
        self._reduce = reduce
        self._on_error = on_error
        self._params = {"labelSelector": label_selector} if label_selector else {}

    def _replace(self, items: list[dict[str, Any]]) -> None:
        records: list[R] = []
        for item in items:
            record = self._reduce(item)
            if record is None:
                self.dropped += 1
            else:
                records.append(record)
        self.sink.replace(records)
        self.synced = True
        self.failing_since = None

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        self.failing_since = None
        record = self._reduce(obj)
        if record is None:
            self.dropped += 1
        elif kind == "DELETED":
            self.sink.delete(record.name)
        else:
            self.sink.upsert(record)

    def _error(self, exc: Exception) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:200]
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        if self._on_error is not None:
            self._on_error(exc)

    def unready_reason(self, what: str, failing_limit_s: float) -> str:
        """Why a reader should not be ready ("" when it may): no LIST has landed yet, or the
        watch has been failing (no LIST or event) for longer than ``failing_limit_s`` — the
        copy is going stale."""
        if not self.synced:
            detail = f": {self.last_error}" if self.last_error else ""
            return f"{what} cache not synced yet{detail}"
        if self.failing_since is not None:
            failing_s = time.monotonic() - self.failing_since
            if failing_s > failing_limit_s:
                return f"{what} watch failing for {failing_s:.0f}s: {self.last_error}"
        return ""

    async def run(self, client: ApiClient, backoff: Backoff | None = None, watch_timeout_s: int = 300) -> None:
        """Run forever (cancel the task to stop)."""
        await reflect(client, self.path, self._params, self._replace, self._event, self._error,
                      backoff=backoff, watch_timeout_s=watch_timeout_s)
