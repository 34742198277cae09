"""No input makes the extender answer 500: hypothesis fuzzes bodies (10,000 cases in all).

Bodies are random bytes, random JSON, and ExtenderArgs as kube-scheduler posts them with
fields mutated (wrong types, odd node names, garbage annotations, nested junk). The HTTP
tests go through the real app over loopback (no kube-scheduler exists here); the decoder
test drives ``extender.wire.decode_args`` plus scoring directly, which is cheaper per case."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.app import Settings, make_app
from extender.scoring import demand_of_pod
from extender.table import NodeTable
from extender.wire import BadRequest, decode_args
from temper.annotations import ENFORCEMENT_KEY, TIER_LOAD_KEY
from temper.kube.nodecache import NodeMeta
from temper.pods import PodError
from tests.extender.factories import NOW, critical_pod, load_annotations

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                      st.text(max_size=12))
json_values = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=4)
names = st.one_of(st.sampled_from(["n1", "n2", "ghost"]), st.text(max_size=5), st.just("x" * 254), json_values)
annotation_values = st.dictionaries(
    st.sampled_from([TIER_LOAD_KEY, ENFORCEMENT_KEY, "other"]),
    st.one_of(st.text(max_size=50), st.just(load_annotations()[TIER_LOAD_KEY]), json_values))
pods = st.one_of(st.just(critical_pod()), json_values, st.builds(
    lambda spec: {"metadata": {"name": "p"}, "spec": spec},
    st.one_of(json_values, st.fixed_dictionaries({"containers": st.lists(st.fixed_dictionaries(
        {"resources": st.fixed_dictionaries({"requests": st.fixed_dictionaries({"cpu": json_values})})}),
        max_size=2), "priorityClassName": json_values, "priority": json_values}))))


def _node_items() -> st.SearchStrategy[Any]:
    mutated = st.builds(lambda name, ann: {"kind": "Node", "metadata": {"name": name, "annotations": ann}}, names,
                        st.one_of(annotation_values, json_values))
    return st.one_of(json_values, st.lists(st.one_of(mutated, json_values), max_size=4))


args = st.fixed_dictionaries({}, optional={
    "Pod": pods, "NodeNames": st.one_of(st.lists(names, max_size=5), json_values),
    "Nodes": st.one_of(st.builds(lambda items: {"items": items}, _node_items()), json_values)})
edge_bodies = st.sampled_from([
    b'{"Pod":{"spec":{"priority":123456789012345678901234567890}},"NodeNames":["n1"]}',
    b'{"Pod":{"spec":{"priority":1e400}},"NodeNames":["n1"]}', b'{"Pod":{},"NodeNames":["n1","n1"]}',
    b'\xef\xbb\xbf{"Pod":{},"NodeNames":[]}', b'{"Pod":{},"NodeNames":["\\ud800"]}', b"", b"null",
])
bodies = st.one_of(edge_bodies, st.binary(max_size=64), json_values.map(orjson.dumps), args.map(orjson.dumps),
                   args.map(lambda a: orjson.dumps(a)[:-1]))


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[asyncio.AbstractEventLoop, TestClient[web.Request, web.Application]]]:
    loop = asyncio.new_event_loop()
    table = NodeTable.of([NodeMeta("n1", load_annotations()), NodeMeta("n2", {TIER_LOAD_KEY: "junk"})])

    async def start() -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(make_app(Settings(filter_enabled=True, clock=lambda: NOW), table)))
        await client.start_server()
        return client

    client = loop.run_until_complete(start())
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


async def _post(client: TestClient[web.Request, web.Application], path: str, body: bytes) -> tuple[int, bytes]:
    response = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    return response.status, await response.read()


def _names_in(body: bytes) -> list[Any] | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("NodeNames"), list):
        return list(doc["NodeNames"])
    nodes = doc.get("Nodes")
    if isinstance(nodes, dict) and nodes.get("items") is None:
        return []  # Go marshals an empty NodeList's items as null
    if isinstance(nodes, dict) and isinstance(nodes.get("items"), list):
        return [i["metadata"]["name"] for i in nodes["items"]
                if isinstance(i, dict) and isinstance(i.get("metadata"), dict)]
    return None


def test_prioritize_answers_200_or_400_to_any_body_and_never_500(
        served: tuple[asyncio.AbstractEventLoop, TestClient[web.Request, web.Application]]) -> None:
    loop, client = served

    @settings(max_examples=4000)
    @given(bodies)
    def check(body: bytes) -> None:
        status, reply = loop.run_until_complete(_post(client, "/prioritize", body))
        assert status in (200, 400), (status, reply)
        if status == 200:
            hosts = [entry["Host"] for entry in orjson.loads(reply)]
            assert hosts == _names_in(body)
            assert all(0 <= entry["Score"] <= 10 for entry in orjson.loads(reply))
        else:
            assert reply.strip()

    check()


def test_filter_answers_200_to_any_body_with_error_set_when_bad(
        served: tuple[asyncio.AbstractEventLoop, TestClient[web.Request, web.Application]]) -> None:
    loop, client = served

    @settings(max_examples=1000)
    @given(bodies)
    def check(body: bytes) -> None:
        status, reply = loop.run_until_complete(_post(client, "/filter", body))
        assert status == 200, (status, reply)
        result = orjson.loads(reply)
        assert isinstance(result, dict)
        assert result.get("Error") or "FailedNodes" in result

    check()


@settings(max_examples=5000)
@given(bodies)
def test_the_decoder_accepts_or_raises_bad_request_and_nothing_else(body: bytes) -> None:
    try:
        decoded = decode_args(body)
        demand = demand_of_pod(decoded.pod)
    except (BadRequest, PodError):
        return
    table = NodeTable.of(decoded.nodes) if decoded.nodes is not None else NodeTable()
    answer = orjson.loads(table.prioritize(decoded.keys, demand, NOW, 120).body)
    assert [a["Host"] for a in answer] == decoded.names
