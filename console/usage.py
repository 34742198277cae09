"""CPU-use samples per pod from the node agents' ``/observe``, for rightsizing recommendations.

Why it exists: "identified" savings need a recommended request per pod, and no Prometheus is
required (brief §02d), so the console samples the agents itself: every ``interval`` seconds it
reads each node's ``/observe`` (``used_m`` per pod) and keeps the last ``keep`` samples of every
pod (``UsageHistory``, a bounded ``array`` per pod: 30,000 pods × 120 samples is about 14 MB).
Pods no longer in the console's cache are forgotten after each sweep, so memory follows the
fleet. After each sweep the recommendations (``console.savings.recommend``) are recomputed
once, so a savings request never sorts samples.

No HTTP here: the sampler reads through the console's one ``console.agents.AgentClient`` (the
caller passes its ``observe``), so agents are located exactly as for the explorer and the trace
actions (the ``--agent-selector`` pod's IP, else the node's InternalIP), and a sweep shares the
explorer's cache and its one-request-per-node rule. An agent that is down or answers garbage
(``AgentStatus``) is skipped for that sweep (its pods keep their earlier samples).
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from console import models as m
from console.agents import Observation
from console.savings import RecommendPolicy, recommend

log = logging.getLogger(__name__)

Observe = Callable[[str], Awaitable[Observation | m.AgentStatus]]
"""node -> its agent's /observe (``AgentClient.observe``)."""


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


def observed_use(observation: Observation) -> dict[str, int]:
    """Pure: ``namespace/name`` -> used_m (pods without a name or a measured use are skipped)."""
    return {f"{p.namespace}/{p.name}": p.used_m for p in observation.pods
            if p.namespace and p.name and p.used_m is not None}


async def sweep(observe: Observe, nodes: Iterable[str], history: UsageHistory, policy: RecommendPolicy,
                alive: Callable[[], set[str]], parallel: int = 32) -> int:
    """One pass over the agents of ``nodes``, then forget pods no longer in ``alive()``; returns
    how many answered."""
    gate = asyncio.Semaphore(parallel)
    reached = 0

    async def one(node: str) -> None:
        nonlocal reached
        async with gate:
            answer = await observe(node)
        if not isinstance(answer, Observation):
            return
        reached += 1
        for pod, used in observed_use(answer).items():
            history.add(pod, used)

    await asyncio.gather(*(one(node) for node in nodes))
    history.retain(alive())
    history.refresh(policy)
    return reached


async def sample_forever(observe: Observe, nodes: Callable[[], list[str]], alive: Callable[[], set[str]],
                         history: UsageHistory, policy: RecommendPolicy, interval: float) -> None:
    while True:
        try:
            reached = await sweep(observe, nodes(), history, policy, alive)
            log.debug("usage sweep: %d agents answered", reached)
        except Exception:  # a sweep must never end the sampler; the next one retries
            log.exception("usage sweep failed")
        await asyncio.sleep(interval)
