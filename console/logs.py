"""Pod logs: the API server's ``pods/{name}/log`` proxied as a streamed ``text/plain`` body.

Why it exists: the UI's log panel (follow, since, tail, container choice) talks only to
``/api/v1``; the console holds the API credentials and forwards the request.

Design:
- ``log_params`` (pure) turns a validated ``LogQuery`` and the pod's container names into the
  API server's parameters, or raises ``LogRequestError``: a pod with several containers needs
  ``container`` (400), and it must be one of them (404; checked against the cache, so a typo
  costs no API call).
- Bounded buffers: bytes are copied chunk by chunk as they arrive (aiohttp's reader pauses the
  API connection past its 64 KiB high-water mark, and each write waits for the client to
  drain), so a follower holds at most a few chunks, never a log. A response that does not
  follow is capped at ``MAX_BYTES`` with the API's own ``limitBytes``.
- A follower whose client went is noticed within ``IDLE_CHECK_S`` even when the log is quiet
  (the transport is checked between reads) and the API connection is closed with it; a client
  that stops reading for ``WRITE_TIMEOUT_S`` is cut.
- Failures before the first byte map to statuses: the API's 400 (e.g. a container not yet
  started) and 404 pass through, anything else is 502. After the first byte the status is
  sent, so a broken upstream just ends the body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
from aiohttp import web

from console import models as m
from console.responses import error
from temper.kube.client import ApiClient, ApiError

MAX_BYTES = 16 * 1024 * 1024
IDLE_CHECK_S = 5.0
WRITE_TIMEOUT_S = 30.0


class LogRequestError(ValueError):
    """A log request that cannot be answered as asked: ``status`` 400 (ambiguous: say which
    container) or 404 (no such container)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def log_params(query: m.LogQuery, containers: Sequence[str]) -> dict[str, str]:
    """Pure: the API server's query parameters for this request."""
    container = query.container
    if not container:
        if len(containers) != 1:
            raise LogRequestError(f"this pod has containers {', '.join(containers) or '(none)'}; choose one "
                                  "with ?container=", 400)
        container = containers[0]
    elif container not in containers:
        raise LogRequestError(f"no container {container!r} in this pod; it has {', '.join(containers)}", 404)
    params = {"container": container}
    if query.follow:
        params["follow"] = "true"
    else:
        params["limitBytes"] = str(MAX_BYTES)
    if query.tailLines is not None:
        params["tailLines"] = str(query.tailLines)
    if query.sinceSeconds is not None:
        params["sinceSeconds"] = str(query.sinceSeconds)
    return params


async def proxy_log(request: web.Request, client: ApiClient, namespace: str, name: str,
                    params: dict[str, str]) -> web.StreamResponse:
    path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8",
                                           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
    try:
        async with client.stream(path, params) as body:
            await response.prepare(request)
            while True:
                try:
                    async with asyncio.timeout(IDLE_CHECK_S):
                        chunk = await body.readany()
                except TimeoutError:
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        break
                    continue
                if not chunk:
                    break
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await response.write(chunk)
    except ApiError as exc:
        if response.prepared:
            return response
        if exc.status in (400, 404):
            raise error(exc.status, "log-unavailable", exc.message) from None
        raise error(502, "api-unavailable", f"the API server answered {exc.status or 'nothing'} for the log") \
            from None
    except (aiohttp.ClientError, TimeoutError, OSError):  # the client or the API connection broke
        if not response.prepared:
            raise error(502, "api-unavailable", "the API server's log stream failed") from None
    return response
