"""Where ``POST /mutate`` learns the labels of a pod's namespace: the seam between the handler and the API.

Why this module exists: the webhook acts on whatever reaches it, so the policy checks the
namespace's opt-in label itself (``webhook.policy.admit`` takes the labels as input) instead of
trusting that the registration's ``namespaceSelector`` filtered the request — a hand-written
registration, a copy without the selector or a direct call would otherwise get pods scaled in
namespaces that never opted in. An AdmissionReview names the namespace but carries none of
its labels, and a GET per admission would put the API server on the path of every pod CREATE,
so the labels come from a local copy. A ``NamespaceSource`` is that copy, as the handler sees it.

Sources (``webhook.namespaceCheck``, see ``webhook.settings``):

- ``WatchedNamespaces`` (``api``, the default): a list+watch of every Namespace
  (``temper.kube.namespaces``) for the application's lifetime (``running()``, entered from the
  admission app's ``cleanup_ctx``). ``labels`` is ``None`` — unknown, so not scaled — until the
  first LIST has landed, and for a namespace the watch has not reported yet (a pod in a
  namespace created a moment ago may be missed: fail safe). ``not_ready`` says why ``/readyz``
  is 503: no LIST yet, or the watch failing for longer than ``STALE_AFTER_S`` (the labels may
  be stale: a namespace that opted out may still look opted in).
- ``RegistrationOnly`` (``off``): no API access. Every namespace is taken to carry the
  selector's ``matchLabels``, which is exactly what the registration guarantees for the
  requests it sends — for tests and runs outside a cluster, never the chart's choice.

Invariants: ``labels`` never raises and never blocks (a dictionary lookup); sources are read
and updated on the event loop only. Watch failures are logged and retried by the reflector's
backoff; they never reach an admission.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from temper.kube.client import ApiClient, ApiConfig
from temper.kube.namespaces import NamespaceCache, NamespaceWatch
from webhook.manifest import NAMESPACE_SELECTOR

log = logging.getLogger(__name__)

STALE_AFTER_S = 60.0
"""A watch failing this long (no LIST or event since) makes ``/readyz`` 503. Labels change
rarely, so a minute of a failing watch is tolerated before the replica steps out of the
Service (and with ``failurePolicy: Ignore`` an unready webhook means unscaled pods, no harm)."""


class NamespaceSource(Protocol):
    def labels(self, namespace: str) -> Mapping[str, str] | None:
        """The namespace's labels, or ``None`` when they are not known."""
        ...

    def not_ready(self) -> str:
        """Why the webhook should not be ready ("" when it may)."""
        ...

    def running(self) -> AbstractAsyncContextManager[None]:
        """The source's lifetime (an API client and a watch task, or nothing)."""
        ...


class RegistrationOnly:
    """``namespaceCheck: off``: trust the registration's ``namespaceSelector``."""

    def __init__(self) -> None:
        self._implied: Mapping[str, str] = dict(NAMESPACE_SELECTOR.get("matchLabels") or {})

    def labels(self, namespace: str) -> Mapping[str, str] | None:
        return self._implied

    def not_ready(self) -> str:
        return ""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield


class WatchedNamespaces:
    """``namespaceCheck: api``: a list+watch of Namespaces through ``temper.kube``."""

    def __init__(self, api: ApiConfig, stale_after_s: float = STALE_AFTER_S) -> None:
        self.api = api
        self.stale_after_s = stale_after_s
        self.cache = NamespaceCache()
        self.watch = NamespaceWatch(self.cache, self._on_error)

    @staticmethod
    def _on_error(exc: Exception) -> None:
        log.warning("namespace watch: %s", exc)

    def labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.cache.labels(namespace) if self.watch.synced else None

    def not_ready(self) -> str:
        return self.watch.unready_reason("namespace", self.stale_after_s)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with ApiClient(self.api) as client:
            task = asyncio.create_task(self.watch.run(client))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
