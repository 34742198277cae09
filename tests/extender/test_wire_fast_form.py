"""The NodeNames fast form of ``decode_args`` (compact Go-marshalled bodies) decodes exactly
what the general path decodes, and anything it cannot prove plain goes the general way."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.fastreply import plain_keys
from extender.wire import BadRequest, decode_args, split_node_names
from tests.extender.factories import critical_pod

plain = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=20)
odd = st.one_of(st.text(max_size=8), st.just("x" * 254), st.just('a","b'), st.just("a\\"))
names_lists = st.lists(st.one_of(plain, plain, odd), max_size=12)
extras = st.dictionaries(st.sampled_from(["Nodes", "NodeNames", "Extra"]),
                         st.one_of(st.none(), st.lists(plain, max_size=2)), max_size=2)


def _general(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, indent=1).encode()  # whitespace: never the fast form


@settings(max_examples=1000)
@given(names_lists, extras)
def test_compact_bodies_decode_as_the_general_path_does(names: list[str], extra: dict[str, object]) -> None:
    doc = {"Pod": critical_pod(), **extra}
    doc.pop("NodeNames", None)
    doc["NodeNames"] = names
    compact = orjson.dumps(doc)
    try:
        general = decode_args(_general(doc))
    except BadRequest as exc:
        with pytest.raises(BadRequest) as caught:
            decode_args(compact)
        assert str(caught.value) == str(exc)
        return
    fast = decode_args(compact)
    assert (fast.pod, list(fast.keys), fast.names, fast.nodes) == (
        general.pod, general.keys, general.names, general.nodes)
    assert general.names == names and general.keys == [orjson.dumps(n)[1:-1] for n in names]
    if fast.fast:
        assert all(n and len(n) <= 253 for n in names)


def test_kube_scheduler_bodies_take_the_fast_form() -> None:
    body = orjson.dumps({"Pod": critical_pod(), "Nodes": None, "NodeNames": ["n-1", "n-2"]})
    assert split_node_names(body) is not None
    decoded = decode_args(body)
    assert decoded.names == ["n-1", "n-2"] and decoded.fast


@pytest.mark.parametrize("raw", [b'["a",""]', b'[""]', b'["a" ,"b"]', b'["a\\"b"]', b'["a","b",]', b"[1]",
                                 b'["' + b"x" * 254 + b'"]', b'["a"]]'])
def test_names_that_are_not_provably_plain_are_left_to_the_general_path(raw: bytes) -> None:
    assert plain_keys(raw) is None


@pytest.mark.parametrize("body", [b'{"NodeNames":["a"]}', b'{,"NodeNames":["a"]}',
                                  b'{"Pod":{},"x":"a,"NodeNames":["a"]}', b'["x",{"Pod":{}},"NodeNames":["a"]}'])
def test_heads_that_are_not_an_object_with_members_are_refused_as_before(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_args(body)
