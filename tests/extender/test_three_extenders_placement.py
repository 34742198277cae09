"""Where a pod lands when kube-scheduler combines three extenders over five nodes.

The shape of the upstream integration test (test/integration/scheduler/extender, REFERENCE
§3): extenders weighted 3, 4 and 10, one of them nodeCacheCapable, five nodes. No
kube-scheduler exists here, so the test plays its part: it posts to each extender what
kube-scheduler posts (full Nodes to the two non-cache-capable test extenders, NodeNames to
Temper's), adds ``score × weight × 10`` per extender per node, and picks the highest total.
The two other extenders are small aiohttp apps served over real HTTP in the test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from temper.annotations import EnforcementState
from temper.tiers import Tier
from tests.extender.conftest import ClientFactory
from tests.extender.factories import NOW, args_full, args_names, critical_pod, load_annotations, node, pod

MACHINES = ["machine-1", "machine-2", "machine-3", "machine-4", "machine-5"]
ANNOTATIONS = {
    "machine-1": load_annotations(state=EnforcementState.OBSERVE_ONLY),
    "machine-2": load_annotations(requests={Tier.HIGH: 5000}),  # enforcing, 500m fenceable left
    "machine-3": load_annotations(),  # enforcing, 5500m fenceable
    "machine-4": {},  # no agent yet
    "machine-5": load_annotations(ts=NOW - 3600),  # agent stopped publishing
}


def favouring(favourite: str, other_score: int) -> web.Application:
    """A test extender (nodeCacheCapable=false): 10 for its favourite node, a constant elsewhere."""
    async def handler(request: web.Request) -> web.Response:
        args = await request.json()
        names = [n["metadata"]["name"] for n in args["Nodes"]["items"]]
        return web.json_response([{"Host": n, "Score": 10 if n == favourite else other_score} for n in names])

    app = web.Application()
    app.router.add_post("/prioritize", handler)
    return app


Post = Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]]


async def schedule(the_pod: dict[str, Any], extenders: list[tuple[Post, int, bool]]) -> tuple[str, dict[str, int]]:
    """kube-scheduler's arithmetic: total += score × weight × 10 (MaxExtenderPriority 10 ->
    MaxNodeScore 100); the highest total wins (ties: first node, as the test's nodes are ordered)."""
    totals = dict.fromkeys(MACHINES, 0)
    nodes = [node(name, ANNOTATIONS[name]) for name in MACHINES]
    for post, weight, cache_capable in extenders:
        args = args_names(the_pod, MACHINES) if cache_capable else args_full(the_pod, nodes)
        for entry in await post(args):
            assert 0 <= entry["Score"] <= 10
            totals[entry["Host"]] += entry["Score"] * weight * 10
    return max(totals, key=lambda name: totals[name]), totals


async def run(make_client: ClientFactory, the_pod: dict[str, Any]) -> tuple[str, dict[str, int]]:
    temper = await make_client(ANNOTATIONS)
    async with TestServer(favouring("machine-1", 1)) as one, TestServer(favouring("machine-2", 2)) as two, \
            aiohttp.ClientSession() as session:
        def poster(url: str) -> Post:
            async def post(args: dict[str, Any]) -> list[dict[str, Any]]:
                async with session.post(url, json=args) as response:
                    assert response.status == 200
                    result: list[dict[str, Any]] = await response.json()
                    return result
            return post

        async def post_temper(args: dict[str, Any]) -> list[dict[str, Any]]:
            response = await temper.post("/prioritize", json=args)
            assert response.status == 200
            result: list[dict[str, Any]] = await response.json()
            return result

        return await schedule(the_pod, [
            (poster(str(one.make_url("/prioritize"))), 3, False),
            (poster(str(two.make_url("/prioritize"))), 4, False),
            (post_temper, 10, True),
        ])


async def test_a_critical_pod_lands_on_the_enforcing_node_with_fenceable_headroom(make_client: ClientFactory) -> None:
    winner, totals = await run(make_client, critical_pod(cpu="1"))
    # Temper: m1 0 (observe-only), m2 1 (no room for 1000m), m3 8, m4 5 (missing), m5 5 (stale).
    assert totals == {"machine-1": 380, "machine-2": 530, "machine-3": 910, "machine-4": 610, "machine-5": 610}
    assert winner == "machine-3"


async def test_a_low_pod_soaks_up_idle_cycles_on_an_enforcing_node(make_client: ClientFactory) -> None:
    winner, totals = await run(make_client, pod("batch", priority_class="infera-low", node=""))
    # Temper: idle everywhere; enforcing nodes 10, observe-only halves to 5, unknown 5.
    assert totals == {"machine-1": 880, "machine-2": 1430, "machine-3": 1110, "machine-4": 610, "machine-5": 610}
    assert winner == "machine-2"
