"""/prioritize answers what kube-scheduler expects, in both node modes, and bad input cleanly.

No kube-scheduler exists here: each test posts exactly the ExtenderArgs kube-scheduler posts
(capitalised keys, REFERENCE §3) to the real app factory over HTTP, and checks the
HostPriorityList reply field by field."""

from __future__ import annotations

from temper.annotations import EnforcementState
from temper.tiers import Tier
from tests.extender.conftest import ClientFactory
from tests.extender.factories import args_full, args_names, critical_pod, load_annotations, node, pod

NODES = {
    "enforcing": load_annotations(),
    "observe": load_annotations(state=EnforcementState.OBSERVE_ONLY),
    "busy": load_annotations(used={Tier.NORMAL: 7000}),
}


async def test_node_cache_mode_returns_one_host_priority_per_node_name_in_order(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    response = await client.post("/prioritize", json=args_names(critical_pod(), ["observe", "enforcing", "busy"]))
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == [{"Host": "observe", "Score": 0}, {"Host": "enforcing", "Score": 8},
                                     {"Host": "busy", "Score": 8}]


async def test_any_subset_in_any_order_is_answered_in_that_order(make_client: ClientFactory) -> None:
    """kube-scheduler sends a different subset, in a different order, on nearly every call."""
    client = await make_client(NODES)
    expected = {"observe": 0, "enforcing": 8, "busy": 8, "ghost": 5}
    for names in (["busy", "observe"], ["enforcing"], ["ghost", "busy", "enforcing", "observe"],
                  ["observe", "observe", "ghost"]):
        response = await client.post("/prioritize", json=args_names(critical_pod(), names))
        assert await response.json() == [{"Host": n, "Score": expected[n]} for n in names]
    metrics = await (await client.get("/metrics")).text()
    assert 'temper_extender_neutral_scores_total{reason="unknown_node"} 2.0' in metrics


async def test_full_node_mode_reads_annotations_from_the_posted_nodes(make_client: ClientFactory) -> None:
    client = await make_client()  # empty cache: everything comes from the payload
    nodes = [node(name, ann) for name, ann in NODES.items()]
    low = pod("batch", priority_class="infera-low", node="")
    response = await client.post("/prioritize", json=args_full(low, nodes))
    assert response.status == 200
    assert await response.json() == [{"Host": "enforcing", "Score": 10}, {"Host": "observe", "Score": 5},
                                     {"Host": "busy", "Score": 1}]


async def test_unknown_node_names_score_neutral_and_are_counted(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    response = await client.post("/prioritize", json=args_names(critical_pod(), ["ghost", "enforcing"]))
    assert await response.json() == [{"Host": "ghost", "Score": 5}, {"Host": "enforcing", "Score": 8}]
    metrics = await (await client.get("/metrics")).text()
    assert 'temper_extender_neutral_scores_total{reason="unknown_node"} 1.0' in metrics
    assert 'temper_extender_requests_total{outcome="ok",verb="prioritize"} 1.0' in metrics


async def test_missing_and_stale_annotations_score_neutral_never_an_error(make_client: ClientFactory) -> None:
    client = await make_client({"bare": {}, "stale": load_annotations(ts=0)})
    response = await client.post("/prioritize", json=args_names(critical_pod(), ["bare", "stale"]))
    assert await response.json() == [{"Host": "bare", "Score": 5}, {"Host": "stale", "Score": 5}]
    metrics = await (await client.get("/metrics")).text()
    assert 'temper_extender_neutral_scores_total{reason="missing"} 1.0' in metrics
    assert 'temper_extender_neutral_scores_total{reason="stale"} 1.0' in metrics


async def test_an_empty_node_list_gets_an_empty_reply(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    response = await client.post("/prioritize", json=args_names(critical_pod(), []))
    assert (response.status, await response.json()) == (200, [])


async def test_malformed_json_is_a_400_with_a_message(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    response = await client.post("/prioritize", data=b'{"Pod": ', headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "not valid JSON" in await response.text()


async def test_a_missing_pod_is_a_400_naming_the_field(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    response = await client.post("/prioritize", json={"NodeNames": ["enforcing"]})
    assert response.status == 400
    assert "ExtenderArgs.Pod is missing" in await response.text()
    metrics = await (await client.get("/metrics")).text()
    assert 'temper_extender_requests_total{outcome="bad_request",verb="prioritize"} 1.0' in metrics


async def test_a_pod_with_an_invalid_cpu_request_is_a_400_naming_the_container(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    response = await client.post("/prioritize", json=args_names(critical_pod(cpu="lots"), ["enforcing"]))
    assert response.status == 400
    assert "spec.containers[0].resources.requests.cpu" in await response.text()


async def test_a_body_above_the_cap_is_refused_with_413(make_client: ClientFactory) -> None:
    client = await make_client(NODES, max_body_bytes=1024)
    response = await client.post("/prioritize", json=args_names(critical_pod(), ["n" * 200] * 10))
    assert response.status == 413
    metrics = await (await client.get("/metrics")).text()
    assert 'temper_extender_requests_total{outcome="too_large",verb="prioritize"} 1.0' in metrics


async def test_filter_is_not_served_unless_enabled(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    response = await client.post("/filter", json=args_names(critical_pod(), ["enforcing"]))
    assert response.status == 404


async def test_health_and_readiness_answer_without_a_watch(make_client: ClientFactory) -> None:
    client = await make_client(NODES)
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert "temper_extender_node_cache_nodes 3.0" in metrics
    assert "temper_extender_request_duration_seconds_bucket" in metrics
