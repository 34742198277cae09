"""The console's mutable runtime for roles, tokens, audit and actions, under one app key.

Why a separate holder: the store opens at startup (``cleanup_ctx``, off the event loop), after
the app is frozen, so the app keeps one ``Plane`` whose parts are bound by ``plane_lifetime``
and read through properties that fail loudly if used before startup. ``ActionConfig`` is the
part of the settings these features add (flags in ``console.main``).

Background work in the lifetime: token last-used times are flushed every ``FLUSH_S`` and at
shutdown; audit retention runs at startup and every ``PRUNE_S``; the whole hash chain is
re-verified at startup and every ``FULL_VERIFY_S`` (lists verify only what is new).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from console.agents import AgentClient
from console.audit import AuditLog
from console.store import Store
from console.tokens import TokenBook, TokenReviewer
from temper.kube.client import ApiClient

log = logging.getLogger(__name__)
FLUSH_S = 5.0
PRUNE_S = 3600.0
FULL_VERIFY_S = 600.0
DAY_S = 86400.0


@dataclass
class ActionConfig:
    store_path: str = ":memory:"
    """The SQLite file (on the PVC in the chart); ":memory:" keeps nothing across restarts."""
    retention_days: float = 365.0
    review_groups: dict[str, str] = field(default_factory=dict)
    """TokenReview group -> role; empty disables TokenReview."""
    agent_url: str = ""
    """Node agent URL template with ``{node}`` and/or ``{ip}`` (the agent pod's IP, else the node's
    InternalIP: ``console.agents.locate``); "" = no agents."""
    agent_configmap: str = ""
    """``NAMESPACE/NAME`` of the agent ConfigMap (fleet-wide safe mode); "" disables it."""
    drain_retry_s: float = 5.0
    converge_poll_s: float = 0.5
    audit_out: TextIO | None = None
    """Where audit records are echoed as JSON lines (stdout when None)."""


class Plane:
    def __init__(self, config: ActionConfig, cluster: str, api: ApiClient, bootstrap: Mapping[str, tuple[str, str]],
                 secret: bytes, nodes: Callable[[], Mapping[str, Any]], agents: AgentClient | None = None) -> None:
        self.config = config
        self.cluster = cluster
        self.api = api
        self.bootstrap = bootstrap
        """HMAC(secret, token) -> (name, role) for ``--token`` entries."""
        self.secret = secret
        self.nodes = nodes
        """The cached node summaries by name (live, from the watch)."""
        self.agents = agents if agents is not None else AgentClient(config.agent_url)
        """The console's one agent locator (and /observe client), shared with the explorer."""
        self.draining: set[str] = set()
        self._store: Store | None = None
        self._audit: AuditLog | None = None
        self._tokens: TokenBook | None = None
        self.reviewer: TokenReviewer | None = None
        self._http: aiohttp.ClientSession | None = None

    def bind(self, store: Store, http: aiohttp.ClientSession) -> None:
        self._store, self._http = store, http
        self._audit = AuditLog(store, self.config.audit_out)
        self._tokens = TokenBook(store)
        if self.config.review_groups:
            self.reviewer = TokenReviewer(self.api, self.config.review_groups, self._tokens.key)

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            raise RuntimeError("the console's store is not open yet")
        return self._audit

    @property
    def http(self) -> aiohttp.ClientSession:
        """The session for node agents (the API server has its own, in ``api``)."""
        if self._http is None:
            raise RuntimeError("the console's store is not open yet")
        return self._http

    @property
    def tokens(self) -> TokenBook:
        if self._tokens is None:
            raise RuntimeError("the console's store is not open yet")
        return self._tokens


PLANE = web.AppKey("plane", Plane)


async def _every(seconds: float, job: Callable[[], Any]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:  # a background job must not die: log it and try again next period
            log.exception("console background job failed")


async def plane_lifetime(app: web.Application) -> AsyncIterator[None]:
    plane = app[PLANE]
    store = await asyncio.to_thread(Store, plane.config.store_path)
    http = aiohttp.ClientSession()
    plane.bind(store, http)
    retention = plane.config.retention_days * DAY_S
    await plane.audit.prune(retention)
    await plane.audit.verify(full=True)
    tasks = [asyncio.create_task(_every(FLUSH_S, plane.tokens.flush)),
             asyncio.create_task(_every(FULL_VERIFY_S, lambda: plane.audit.verify(full=True))),
             asyncio.create_task(_every(PRUNE_S, lambda: plane.audit.prune(retention)))]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await plane.tokens.flush()
    await http.close()
    await asyncio.to_thread(store.close)
