"""/filter (when enabled) removes only nodes that cannot protect a Critical pod, with reasons.

Posts exactly what kube-scheduler posts (REFERENCE §3) and checks the ExtenderFilterResult
field by field: NodeNames / Nodes, FailedNodes, FailedAndUnresolvableNodes, Error."""

from __future__ import annotations

from temper.annotations import EnforcementState
from temper.tiers import Tier
from tests.extender.conftest import ClientFactory
from tests.extender.factories import args_full, args_names, critical_pod, load_annotations, node, pod

NODES = {
    "enforcing": load_annotations(),
    "observe": load_annotations(state=EnforcementState.OBSERVE_ONLY),
    "full": load_annotations(requests={Tier.HIGH: 5000}),  # H = 500m
    "unknown-state": {},
}
ALL = ["enforcing", "observe", "full", "unknown-state", "ghost"]


async def test_critical_pods_lose_unprotected_and_full_nodes_with_reasons(make_client: ClientFactory) -> None:
    client = await make_client(NODES, filter_enabled=True)
    response = await client.post("/filter", json=args_names(critical_pod(cpu="1"), ALL))
    assert response.status == 200
    result = await response.json()
    assert result["NodeNames"] == ["enforcing", "unknown-state", "ghost"]
    assert result["Nodes"] is None
    assert list(result["FailedNodes"]) == ["full"]
    assert "fenceable capacity 500m is less than the Critical pod's CPU request 1000m" in result["FailedNodes"]["full"]
    assert list(result["FailedAndUnresolvableNodes"]) == ["observe"]
    assert "observe-only" in result["FailedAndUnresolvableNodes"]["observe"]
    assert result["Error"] == ""


async def test_non_critical_pods_keep_every_node(make_client: ClientFactory) -> None:
    client = await make_client(NODES, filter_enabled=True)
    result = await (await client.post("/filter", json=args_names(pod("web", priority_class="infera-high"), ALL))).json()
    assert result["NodeNames"] == ALL
    assert result["FailedNodes"] == {} and result["FailedAndUnresolvableNodes"] == {}


async def test_full_node_mode_answers_with_the_surviving_node_objects(make_client: ClientFactory) -> None:
    client = await make_client(filter_enabled=True)
    nodes = [node(name, ann) for name, ann in NODES.items()]
    result = await (await client.post("/filter", json=args_full(critical_pod(cpu="1"), nodes))).json()
    assert result["NodeNames"] is None
    assert result["Nodes"]["items"] == [nodes[0], nodes[3]]


async def test_bad_input_sets_error_in_the_filter_result(make_client: ClientFactory) -> None:
    client = await make_client(NODES, filter_enabled=True)
    response = await client.post("/filter", json={"NodeNames": ["enforcing"]})
    assert response.status == 200
    assert (await response.json()) == {"Error": "ExtenderArgs.Pod is missing"}
