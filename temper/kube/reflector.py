"""List+watch: keep a local cache of API objects in step with the server.

The loop (as client-go's reflector does it):
  1. LIST (with selectors) -> ``on_replace(items)``; remember ``metadata.resourceVersion``.
  2. WATCH from that version -> ``on_event(type, object)`` for ADDED / MODIFIED / DELETED;
     BOOKMARK events only advance the version.
  3. A watch that ends normally resumes from the last version; 410 Gone (as an HTTP status or
     an ERROR event) goes back to 1; any other failure (API, network, or an exception raised by a callback) is reported
     to ``on_error`` and backs off exponentially (0.5 s doubling
     to 30 s, reset after a successful list) and goes back to 1.
Invariant: callbacks see events in server order and never a half-listed state (``on_replace``
gets the whole list at once). ``on_error`` is told every failure (for logs and metrics).
Paging (``page_size``): the LIST is read in pages of that many items (``limit`` / ``continue``,
as client-go's pager does), so the API server never renders 30,000 pods into one response; the
watch starts from the *first* page's resourceVersion (the snapshot every page belongs to on a
real API server), so nothing between pages is missed — at worst an event is seen twice, which
``on_event`` applies as an idempotent upsert. A 410 on a continue token re-lists from the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from temper.kube.client import ApiClient, ApiError, WatchExpired

log = logging.getLogger(__name__)

OnReplace = Callable[[list[dict[str, Any]]], Awaitable[None] | None]
OnEvent = Callable[[str, dict[str, Any]], Awaitable[None] | None]
OnError = Callable[[Exception], None]


@dataclass
class Backoff:
    initial_s: float = 0.5
    maximum_s: float = 30.0
    current_s: float = field(default=0.0, init=False)

    def next(self) -> float:
        self.current_s = self.initial_s if self.current_s == 0 else min(self.maximum_s, self.current_s * 2)
        return self.current_s

    def reset(self) -> None:
        self.current_s = 0.0


async def _call(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


async def list_all(client: ApiClient, path: str, params: Mapping[str, str],
                   page_size: int | None = None) -> tuple[list[dict[str, Any]], str]:
    """Every item of a LIST (in pages when ``page_size``) and the resourceVersion to watch from."""
    items: list[dict[str, Any]] = []
    version = ""
    token = ""
    while True:
        query = dict(params)
        if page_size:
            query["limit"] = str(page_size)
        if token:
            query["continue"] = token
        listing = await client.get(path, query)
        items += [i for i in listing.get("items") or [] if isinstance(i, dict)]
        meta = listing.get("metadata") or {}
        if not version:
            version = str(meta.get("resourceVersion", ""))
        token = str(meta.get("continue") or "") if page_size else ""
        if not token:
            return items, version


async def reflect(client: ApiClient, path: str, params: Mapping[str, str], on_replace: OnReplace,
                  on_event: OnEvent, on_error: OnError, backoff: Backoff | None = None,
                  watch_timeout_s: int = 300, page_size: int | None = None) -> None:
    """Run the list+watch loop forever (cancel the task to stop it)."""
    backoff = backoff or Backoff()
    while True:
        try:
            items, version = await list_all(client, path, params, page_size)
            await _call(on_replace(items))
            backoff.reset()
            while True:
                async for event in client.watch(path, {**params, "resourceVersion": version}, watch_timeout_s):
                    kind = event.get("type")
                    obj = event.get("object")
                    if not isinstance(obj, dict):
                        continue
                    if kind == "ERROR":
                        code = obj.get("code")
                        if code == 410:
                            raise WatchExpired(410, str(obj.get("message", "resource version too old")))
                        raise ApiError(int(code) if isinstance(code, int) else 0, str(obj.get("message", obj)))
                    new_version = (obj.get("metadata") or {}).get("resourceVersion")
                    if new_version:
                        version = str(new_version)
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        await _call(on_event(kind, obj))
        except asyncio.CancelledError:
            raise
        except WatchExpired as exc:
            on_error(exc)
            continue
        except Exception as exc:  # the loop must never die silently (a callback's bug too)
            try:
                on_error(exc)
            except Exception:  # a failing reporter must not end the watch either
                log.exception("reflector on_error failed")
            await asyncio.sleep(backoff.next())
