"""The node agents, reached over HTTP: where one answers, and a typed reading of its ``/observe``.

Why it exists: three features talk to the node agents — the audited trace actions
(``console.actions``: ``POST /traces``, ``GET /traces/{id}``), the savings usage sampler
(``console.usage``) and the explorer (node detail, per-pod layer and performance) — and all must
find a node's agent the same way, so there is ONE locator and ONE /observe client: the
``AgentClient`` the app builds once (``console.app.create_app``), held by the explorer
(``console.explorer_api.AGENTS``) and the action plane (``Plane.agents``); the sampler reads
/observe through it too, so its answers share the explorer's cache.

Locating (``locate``, pure): the ``--agent-url`` template names the agent of one node with
``{node}`` (the node's name, e.g. a headless Service ``http://{node}.agents:9100``) and/or ``{ip}``.
``{ip}`` is the IP of the agent pod on that node — a pod matching ``--agent-selector``, seen by
the explorer's pod watch (the chart's agent has no hostNetwork/hostPort, so it listens on its pod
IP only) — and, only when no such pod is known, the node's ``InternalIP`` (a hostPort DaemonSet).
The result says which one was used (``AgentAddress.via``) so an error on the fallback says "no
agent pod seen on this node". The caller appends the agent's path.
Invariant: a template that needs ``{ip}`` never yields a URL for a node without one
(``agent_base`` answers None), so no request goes to ``http://:9100``.

The console must not import ``nodeagent``, so the /observe document's shape —
``nodeagent.server.observe_document``: ``node``, ``online``, ``pods[]`` (``uid``, ``namespace``,
``name``, ``tier``, ``request_m``, ``limit_m``, ``used_m``, ``pressure_pct``, ``planned``,
``throttling`` {``nr_periods``, ``nr_throttled``, ``throttled_seconds``} or null), ``plan``
(``temper.render.plan_to_dict``: ``online``, ``fenced``, ``shared``, ``tiers[]`` {``tier``,
``kind``, ``cpus``}, ``members[]`` {``uid``, ``tier``}) or null, ``enforcement`` {``state``,
``reason``, ``kernel``, ``since``, ``exit``} — is read here with pydantic models that ignore
fields they do not know (the agent may add some) and keep absent values ``None`` (absent is
never 0).

``AgentClient`` (every /observe read): one request per node at a time (concurrent callers share
it), answers cached for ``ttl_s`` (the UI polls a pod's performance every 2 s), a timeout of
``timeout_s`` and a body cap of ``MAX_BODY``. Every failure becomes ``AgentStatus(reachable=False,
error=...)``: an unreachable agent degrades a view, never fails a request. No template means no
agents.
"""


from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError

from console import models as m
from temper.cpuset import parse_cpulist

MAX_BODY = 8 * 1024 * 1024
"""An /observe document for 250 pods is ~150 KiB; anything past 8 MiB is refused."""


def internal_ip(node: Mapping[str, Any]) -> str:
    """The node object's first ``InternalIP`` address ("" when it has none)."""
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((str(a.get("address") or "") for a in addresses
                 if isinstance(a, Mapping) and a.get("type") == "InternalIP"), "")


def agent_base(template: str, node: str, ip: str) -> str | None:
    """The agent's base URL (no trailing slash) for ``node``; None when the template needs an IP
    the node does not have. ``template`` must be non-empty (an empty one means no agents)."""
    if "{ip}" in template and not ip:
        return None
    return template.replace("{node}", node).replace("{ip}", ip).rstrip("/")


VIA_POD = "agent pod IP"
VIA_INTERNAL_IP = "node InternalIP (no agent pod matching --agent-selector is known on this node)"
VIA_NAME = "node name"
NO_AGENTS = "no node agent URL is configured (--agent-url)"
NO_ADDRESS = "neither an agent pod nor an InternalIP is known for this node"


@dataclass(frozen=True)
class AgentAddress:
    """Where one node's agent is reached: ``base`` (None: it cannot be addressed, see
    ``problem``) and ``via``, which address filled ``{ip}`` (for error messages)."""

    base: str | None
    via: str = ""
    problem: str = ""


def locate(template: str, node: str, pod_ip: str | None, node_ip: str | None) -> AgentAddress:
    """Pure: the agent of ``node`` — at the agent pod's IP when known, else the node's InternalIP."""
    if not template:
        return AgentAddress(None, problem=NO_AGENTS)
    if "{ip}" not in template:
        return AgentAddress(agent_base(template, node, ""), VIA_NAME)
    for ip, via in ((pod_ip, VIA_POD), (node_ip, VIA_INTERNAL_IP)):
        if ip:
            return AgentAddress(agent_base(template, node, ip), via)
    return AgentAddress(None, problem=NO_ADDRESS)


def no_addresses(node: str) -> tuple[str | None, str | None]:
    """The default address book: nothing known (only ``{node}`` templates work)."""
    return None, None


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ObservedThrottling(_Doc):
    nr_periods: int
    nr_throttled: int
    throttled_seconds: float


class ObservedWait(_Doc):
    """A pod's runqueue-wait summary (the agent's ``temper.waits.summary``; p99 is a bucket's
    upper bound, null when the wait fell in the open last bucket)."""
    count: int = 0
    p99_us: float | None = None


class ObservedPod(_Doc):
    uid: str
    namespace: str = ""
    name: str = ""
    tier: str = ""
    request_m: int | None = None
    limit_m: int | None = None
    used_m: int | None = None
    pressure_pct: float | None = None
    planned: bool = False
    throttling: ObservedThrottling | None = None
    runqueue_wait: ObservedWait | None = None


class ObservedTier(_Doc):
    tier: str
    kind: str = ""
    cpus: str = ""


class ObservedMember(_Doc):
    uid: str
    tier: str


class ObservedPlan(_Doc):
    online: str = ""
    fenced: str = ""
    shared: str = ""
    tiers: list[ObservedTier] = []
    members: list[ObservedMember] = []


class ObservedEnforcement(m.Enforcement):
    model_config = ConfigDict(extra="ignore")


class Observation(_Doc):
    """One agent's /observe document, as far as the console reads it."""

    node: str = ""
    online: str = ""
    pods: list[ObservedPod] = []
    plan: ObservedPlan | None = None
    enforcement: ObservedEnforcement | None = None

    def pod(self, uid: str) -> ObservedPod | None:
        return next((p for p in self.pods if p.uid == uid), None)


def layer_of(observation: Observation, uid: str) -> str | None:
    """The plan layer a pod landed in, ``"<tier>/<kind>"`` (e.g. ``critical/confined``), or None
    when the agent did not plan it (unknown pod, host pod, or no plan yet)."""
    plan = observation.plan
    if plan is None:
        return None
    member = next((x for x in plan.members if x.uid == uid), None)
    if member is None:
        return None
    tier = next((t for t in plan.tiers if t.tier == member.tier), None)
    return f"{member.tier}/{tier.kind}" if tier is not None and tier.kind else member.tier


def layers(observation: Observation) -> dict[str, str]:
    """uid -> layer for every planned pod (one pass, for a node's pod list)."""
    plan = observation.plan
    if plan is None:
        return {}
    kinds = {t.tier: t.kind for t in plan.tiers}
    return {x.uid: f"{x.tier}/{kinds[x.tier]}" if kinds.get(x.tier) else x.tier for x in plan.members}


def cpu_roles(observation: Observation | None, cpus: int | None, fenced: str) -> list[m.CpuRole]:
    """Every online CPU with its role: from the agent's plan, else from the node annotation
    (``cpus`` CPUs numbered 0..cpus-1, ``fenced`` a comma list)."""
    try:
        if observation is not None and observation.plan is not None:
            plan = observation.plan
            online = parse_cpulist(plan.online or observation.online)
            fence = parse_cpulist(plan.fenced)
        elif cpus is not None:
            online = frozenset(range(cpus))
            fence = frozenset(int(c) for c in fenced.split(",") if c.strip().isdigit())
        else:
            return []
    except ValueError:
        return []
    return [m.CpuRole(cpu=c, role="fenced" if c in fence else "shared") for c in sorted(online)]


def parse_observation(document: bytes) -> Observation:
    """Raises ``ValueError`` (pydantic's ``ValidationError`` is one) on a wrong shape."""
    return Observation.model_validate_json(document)


@dataclass
class _Entry:
    at: float
    result: Observation | m.AgentStatus


@dataclass
class AgentClient:
    """Locates each node's agent and fetches its /observe, with a short cache and one request in
    flight per node. ``addresses(node)`` answers (agent pod IP, node InternalIP), either None;
    the explorer binds it to its cache (``Explorer.agent_addresses``)."""

    url_template: str = ""
    addresses: Callable[[str], tuple[str | None, str | None]] = no_addresses
    timeout_s: float = 2.0
    ttl_s: float = 1.5
    clock: Callable[[], float] = time.monotonic
    _session: aiohttp.ClientSession | None = None
    _cache: dict[str, _Entry] = field(default_factory=dict)
    _inflight: dict[str, asyncio.Future[Observation | m.AgentStatus]] = field(default_factory=dict)

    def locate(self, node: str) -> AgentAddress:
        return locate(self.url_template, node, *self.addresses(node))

    async def observe(self, node: str) -> Observation | m.AgentStatus:
        entry = self._cache.get(node)
        if entry is not None and self.clock() - entry.at < self.ttl_s:
            return entry.result
        pending = self._inflight.get(node)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Observation | m.AgentStatus] = asyncio.get_running_loop().create_future()
        self._inflight[node] = future
        try:
            result = await self._fetch(node)
            self._cache[node] = _Entry(self.clock(), result)
            if len(self._cache) > 10_000:  # forget the oldest half rather than grow without bound
                for key in sorted(self._cache, key=lambda k: self._cache[k].at)[:5_000]:
                    del self._cache[key]
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            with contextlib.suppress(BaseException):
                future.exception()
            raise
        finally:
            del self._inflight[node]

    async def _fetch(self, node: str) -> Observation | m.AgentStatus:
        where = self.locate(node)
        if where.base is None:
            return m.AgentStatus(reachable=False, error=where.problem)
        url = where.base + "/observe"
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with self._session.get(url, timeout=timeout, headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    return m.AgentStatus(reachable=False, error=f"agent answered HTTP {response.status}")
                body = await response.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                return m.AgentStatus(reachable=False, error="agent /observe document exceeds 8 MiB")
            return parse_observation(body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return m.AgentStatus(reachable=False, error=f"agent unreachable at its {where.via}: {type(exc).__name__}")
        except (ValidationError, ValueError):
            return m.AgentStatus(reachable=False, error="agent /observe document has an unexpected shape")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
