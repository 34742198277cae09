"""CPU-use samples per pod from the node agents' ``/observe``, for rightsizing recommendations.

Why it exists: "identified" savings need a recommended request per pod, and no Prometheus is
required (brief §02d), so the console samples the agents itself: every ``interval`` seconds it
GETs each node's ``/observe`` (``used_m`` per pod) and keeps the last ``keep`` samples of every
pod (``UsageHistory``, a bounded ``array`` per pod: 30,000 pods × 120 samples is about 14 MB).
Pods no longer in the console's cache are forgotten after each sweep, so memory follows the
fleet. After each sweep the recommendations (``console.savings.recommend``) are recomputed
once, so a savings request never sorts samples.

Agents are addressed by ``--agent-url`` through ``console.agents.agent_base`` (``{node}`` and/or
``{ip}``, the same as the trace actions); the caller passes (node, base URL) pairs and
``/observe`` is appended. An agent that is down or answers garbage is skipped for that sweep
(its pods keep their earlier samples).
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp

from console.savings import RecommendPolicy, recommend

log = logging.getLogger(__name__)


@dataclass
class UsageHistory:
    keep: int = 120
    samples: dict[str, array[int]] = field(default_factory=dict)
    recommended: dict[str, int] = field(default_factory=dict)

    def add(self, pod: str, used_m: int) -> None:
        ring = self.samples.get(pod)
        if ring is None:
            ring = self.samples[pod] = array("I")
        ring.append(max(0, min(used_m, 2**32 - 1)))
        if len(ring) > self.keep:
            del ring[: len(ring) - self.keep]

    def retain(self, alive: set[str]) -> None:
        for pod in [p for p in self.samples if p not in alive]:
            del self.samples[pod]

    def refresh(self, policy: RecommendPolicy) -> None:
        out = {}
        for pod, ring in self.samples.items():
            value = recommend(ring, policy)
            if value is not None:
                out[pod] = value
        self.recommended = out


def observed_use(document: object) -> dict[str, int]:
    """Pure: ``namespace/name`` -> used_m from an ``/observe`` document (bad entries skipped)."""
    pods = document.get("pods") if isinstance(document, dict) else None
    out: dict[str, int] = {}
    for pod in pods if isinstance(pods, list) else []:
        if not isinstance(pod, dict):
            continue
        used, ns, name = pod.get("used_m"), pod.get("namespace"), pod.get("name")
        if isinstance(used, int) and not isinstance(used, bool) and isinstance(ns, str) and isinstance(name, str):
            out[f"{ns}/{name}"] = used
    return out


async def sweep(session: aiohttp.ClientSession, targets: Iterable[tuple[str, str]], history: UsageHistory,
                policy: RecommendPolicy, alive: Callable[[], set[str]], parallel: int = 32) -> int:
    """One pass over the agents (``targets``: node, agent base URL), then forget pods no longer
    in ``alive()``; returns how many answered."""
    gate = asyncio.Semaphore(parallel)
    reached = 0

    async def one(base: str) -> None:
        nonlocal reached
        url = base + "/observe"
        async with gate:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                    if response.status != 200:
                        return
                    document = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return
        reached += 1
        for pod, used in observed_use(document).items():
            history.add(pod, used)

    await asyncio.gather(*(one(base) for _, base in targets))
    history.retain(alive())
    history.refresh(policy)
    return reached


async def sample_forever(targets: Callable[[], list[tuple[str, str]]], alive: Callable[[], set[str]],
                         history: UsageHistory, policy: RecommendPolicy, interval: float) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                reached = await sweep(session, targets(), history, policy, alive)
                log.debug("usage sweep: %d agents answered", reached)
            except Exception:  # a sweep must never end the sampler; the next one retries
                log.exception("usage sweep failed")
            await asyncio.sleep(interval)
