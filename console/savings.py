"""Savings, realized and identified, as one pure function of the fleet, a baseline and a price book.

Why it exists: the console's savings view must add up — the UI's totals checkable against the
API and against each other, as in OpenCost's spec — so every bucket is defined by a formula
here and nothing else computes money. No I/O: the adapters (``console.savings_api``) pass in
node and pod facts from the cache, the recorded baseline and the parsed price book.

Pools. Nodes are grouped by pool = (instance type, capacity type, region), the key prices are
looked up by (``console.pricing``). For a pool, in millicores (m):

    C  = Σ CPU capacity of the pool's nodes now
    B  = the pool's capacity in the recorded baseline (0 when none was recorded)
    R  = max(0, B − C)                                    removed capacity
    U  = C + R                                            what the pool would run without removals
    I₀ = Σ over pods on the pool's nodes of max(0, request − recommended)  (pods with a recommendation)
    P₀ = Σ over pods on the pool's nodes of max(0, original request − request)   (webhook packing)
    I  = min(C, I₀)                                       identified: slack inside current requests
    Pk = min(max(0, P₀ − R), C − I)                       packing not already counted as removal
    realized   = R + Pk
    identified = I

Per pod the millicores below its original request split into disjoint ranges:
[0, recommended) needed, [recommended, request) identified, [request, original) packed — so a
millicore is never in two buckets. Packing is what let nodes go, so the first R millicores of
P₀ are the removed capacity itself and are counted once, as removal; the rest is capacity freed
on the running nodes. Hence realized + identified ≤ U (property-tested) and

    money(bucket) = bucket m × hours × price per millicore-hour of the pool
    total_cost    = Σ U × hours × price      (the cost of the capacity without Temper's savings)

over the requested window (a run-rate at the current state: ``hours`` of it). Node-hours
removed = R / (capacity per node) × hours. Pools without a price are never priced at 0: they
are left out of every money figure and listed in ``unpriced``.

Recommendations (``recommend``): the ``quantile`` (p95) of a pod's sampled CPU use × headroom,
rounded up, never below ``floor_m`` — and none at all until ``min_samples`` samples exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from console import models as m
from console.pricing import PriceBook

Pool = tuple[str, str, str]
"""(instance type, capacity type, region)."""


class NodeFacts(NamedTuple):
    name: str
    pool: Pool
    capacity_m: int


class PodFacts(NamedTuple):
    node: str
    request_m: int
    original_m: int | None
    recommended_m: int | None


@dataclass(frozen=True)
class BaselinePool:
    pool: Pool
    nodes: int
    capacity_m: int


@dataclass(frozen=True)
class PoolMillis:
    """One pool's millicore accounting (see the module docstring for the formulas)."""

    pool: Pool
    nodes: int
    capacity_m: int
    removed_m: int
    packed_m: int
    identified_m: int
    per_node_m: int

    @property
    def universe_m(self) -> int:
        return self.capacity_m + self.removed_m

    @property
    def realized_m(self) -> int:
        return self.removed_m + self.packed_m


@dataclass(frozen=True)
class RecommendPolicy:
    quantile: float = 0.95
    headroom: float = 1.15
    floor_m: int = 10
    min_samples: int = 12


@dataclass(frozen=True)
class SavingsConfig:
    """The savings routes' inputs (``temper console serve --prices/--data-dir``; the agents come
    from ``--agent-url``, shared with the trace actions: ``console.plane.ActionConfig``)."""

    prices_file: str = ""
    data_dir: str = ""
    sample_seconds: float = 60.0
    policy: RecommendPolicy = field(default_factory=RecommendPolicy)
    cache_seconds: float = 2.0
    """A report is reused this long (it walks every pod: ~0.1 s at 30,000 on a busy 2-core host)."""


def recommend(samples: Sequence[int], policy: RecommendPolicy = RecommendPolicy()) -> int | None:
    """The recommended request from sampled use (millicores), or None with too few samples."""
    if len(samples) < max(1, policy.min_samples):
        return None
    ordered = sorted(samples)
    rank = max(0, math.ceil(policy.quantile * len(ordered)) - 1)
    return max(policy.floor_m, math.ceil(ordered[rank] * policy.headroom))


def pool_millis(nodes: Iterable[tuple[str, Pool, int]], pods: Iterable[tuple[str, int, int | None, int | None]],
                baseline: Iterable[BaselinePool]) -> list[PoolMillis]:
    """Pure: the millicore accounting of every pool seen now or in the baseline, sorted by pool."""
    capacity: dict[Pool, int] = {}
    count: dict[Pool, int] = {}
    per_node: dict[Pool, int] = {}
    pool_of: dict[str, Pool] = {}
    for name, node_pool, node_m in nodes:  # unpacked: callers may pass plain tuples (30,000 pods)
        pool_of[name] = node_pool
        capacity[node_pool] = capacity.get(node_pool, 0) + max(0, node_m)
        count[node_pool] = count.get(node_pool, 0) + 1
        per_node[node_pool] = max(per_node.get(node_pool, 0), node_m)
    slack: dict[Pool, int] = {}
    packed: dict[Pool, int] = {}
    for node, request, original, recommended in pods:
        pool = pool_of.get(node)
        if pool is None:
            continue
        if recommended is not None:
            slack[pool] = slack.get(pool, 0) + max(0, request - recommended)
        if original is not None:
            packed[pool] = packed.get(pool, 0) + max(0, original - request)
    base: dict[Pool, BaselinePool] = {b.pool: b for b in baseline}
    out = []
    for pool in sorted(set(capacity) | set(base)):
        c = capacity.get(pool, 0)
        b = base.get(pool)
        removed = max(0, (b.capacity_m if b else 0) - c)
        identified = min(c, slack.get(pool, 0))
        pack = min(max(0, packed.get(pool, 0) - removed), c - identified)
        node_size = per_node.get(pool) or (b.capacity_m // b.nodes if b and b.nodes else 0)
        out.append(PoolMillis(pool, count.get(pool, 0), c, removed, pack, identified, node_size))
    return out


def _line(p: PoolMillis, milli: int, hours: float, price: float, node_hours: float | None) -> m.SavingsLine:
    return m.SavingsLine(instance_type=p.pool[0], capacity_type=p.pool[1], region=p.pool[2],
                         amount=milli * hours * price, millicore_hours=milli * hours, node_hours=node_hours)


def savings(pools: Iterable[PoolMillis], prices: PriceBook, hours: float, window: str,
            source: str = "percentiles") -> m.Savings:
    """Pure: the money view of ``pools`` over ``hours`` at ``prices``."""
    realized: list[m.SavingsLine] = []
    identified: list[m.SavingsLine] = []
    unpriced: set[str] = set()
    total = 0.0
    for p in pools:
        price_entry = prices.lookup(p.pool[0] or None, p.pool[1], p.pool[2])
        price = price_entry.milli_hour(p.per_node_m) if price_entry is not None else None
        if price is None:
            if p.universe_m:
                unpriced.add(p.pool[0] or "(no instance-type label)")
            continue
        total += p.universe_m * hours * price
        if p.realized_m:
            node_hours = p.removed_m / p.per_node_m * hours if p.per_node_m else None
            realized.append(_line(p, p.realized_m, hours, price, node_hours))
        if p.identified_m:
            identified.append(_line(p, p.identified_m, hours, price, None))
    return m.Savings(
        currency=prices.currency, window=window, total_cost=total,
        realized=m.SavingsBucket(total=sum(x.amount for x in realized), by_instance_type=realized),
        identified=m.SavingsBucket(total=sum(x.amount for x in identified), by_instance_type=identified),
        unpriced_instance_types=sorted(unpriced), source="rightsizer" if source == "rightsizer" else "percentiles",
        baseline_recorded=None, pods_with_recommendation=0, prices_error=None)


WINDOWS: Mapping[str, float] = {"1h": 1.0, "24h": 24.0, "7d": 168.0, "30d": 720.0, "month": 730.0}
"""Window names the API accepts and their hours (``month``: 730 h, the cloud billing month)."""
