"""The node annotation wire format (temper.annotations) round-trips and rejects bad input.

No kube-apiserver can be had here: these tests pin the exact JSON documented in the module
(the contract the scheduler extender reads)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper.annotations import (
    FAULTS,
    AnnotationError,
    EnforcementState,
    EnforcementStatus,
    NodeLoad,
    PublishPolicy,
    TierLoad,
    decode_enforcement,
    decode_node_load,
    encode_enforcement,
    encode_node_load,
    safe_mode_requested,
    should_publish,
)
from temper.tiers import Tier

tier_loads = st.builds(TierLoad, st.integers(0, 10**7), st.integers(0, 10**7),
                       st.floats(0, 100).map(lambda x: round(x, 2)))
node_loads = st.builds(
    NodeLoad, timestamp=st.integers(0, 2**33), cpus=st.integers(64, 512),
    fenced=st.frozensets(st.integers(0, 511), max_size=64), free_protected_milli=st.integers(0, 10**6),
    tiers=st.fixed_dictionaries({t: tier_loads for t in Tier}),
)


@given(node_loads)
def test_node_load_round_trips(load: NodeLoad) -> None:
    text = encode_node_load(load)
    assert decode_node_load(text) == load
    assert len(text) < 4096


def test_exact_wire_format() -> None:
    load = NodeLoad(1764316800, 8, frozenset({6, 7}), 350,
                    {t: TierLoad(100 * (t.value + 1), 50, 0.5) for t in Tier})
    doc = json.loads(encode_node_load(load))
    assert doc == {"v": 1, "ts": 1764316800, "cpus": 8, "fenced": "6-7", "free_m": 350, "tiers": {
        "critical": [100, 50, 0.5], "high": [200, 50, 0.5], "normal": [300, 50, 0.5],
        "low": [400, 50, 0.5], "background": [500, 50, 0.5]}}


@pytest.mark.parametrize("bad", [
    "", "{", "[]", '{"v":2}', '{"v":1,"ts":-1,"cpus":1,"fenced":"","free_m":0,"tiers":{}}',
    '{"v":1,"ts":1,"cpus":1,"fenced":"3-1","free_m":0,"tiers":{}}',
    '{"v":1,"ts":1,"cpus":1,"fenced":"","free_m":0,"tiers":{"gold":[1,1,1]}}',
    '{"v":1,"ts":1,"cpus":1,"fenced":"","free_m":0,"tiers":{"low":[1,true,1]}}',
    '{"v":1,"ts":1,"cpus":1,"fenced":"","free_m":0,"tiers":{"low":[1,1,NaN]}}',
    "x" * 5000, None,
])
def test_malformed_load_annotations_are_rejected(bad: object) -> None:
    with pytest.raises(AnnotationError):
        decode_node_load(bad)


def test_enforcement_round_trip_and_unknown_state() -> None:
    status = EnforcementStatus(EnforcementState.OBSERVE_ONLY, "no sched_ext", "6.1.0", 5)
    assert decode_enforcement(encode_enforcement(status)) == status
    with pytest.raises(AnnotationError):
        decode_enforcement('{"v":1,"state":"maybe","since":0}')


@pytest.mark.parametrize(("annotations", "expected"), [
    (None, False), ({}, False), ({"infera.io/safe-mode-requested": ""}, True),
    ({"infera.io/safe-mode-requested": "true"}, True), ({"infera.io/safe-mode-requested": "False"}, False),
])
def test_safe_mode_annotation(annotations: dict[str, str] | None, expected: bool) -> None:
    assert safe_mode_requested(annotations) is expected


def test_publish_only_on_change_or_age() -> None:
    policy = PublishPolicy(min_change_milli=100, max_age_s=60)
    base = NodeLoad(1000, 4, frozenset({3}), 0, {t: TierLoad(100, 100, 1.0) for t in Tier})
    assert should_publish(None, base, policy)
    small = NodeLoad(1010, 4, frozenset({3}), 0, {**base.tiers, Tier.LOW: TierLoad(100, 150, 1.0)})
    assert not should_publish(base, small, policy)
    big = NodeLoad(1010, 4, frozenset({3}), 0, {**base.tiers, Tier.LOW: TierLoad(100, 250, 1.0)})
    assert should_publish(base, big, policy)
    assert should_publish(base, NodeLoad(1060, 4, frozenset({3}), 0, base.tiers), policy)
    assert should_publish(base, NodeLoad(1001, 4, frozenset({2, 3}), 0, base.tiers), policy)


HOSTILE_LOAD_FIELDS = [
    ("free_m", 10**400), ("free_m", -1), ("free_m", True), ("free_m", 1.5), ("ts", 10**400),
    ("ts", 2**40), ("cpus", 0), ("cpus", 8193), ("cpus", True), ("fenced", "0-8191"), ("fenced", 7),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE_LOAD_FIELDS)
def test_out_of_range_or_mistyped_load_fields_are_annotation_errors_with_a_fault(field: str, value: object) -> None:
    doc = json.loads(encode_node_load(NodeLoad(1, 8, frozenset(), 0, {})))
    doc[field] = value
    with pytest.raises(AnnotationError) as caught:
        decode_node_load(json.dumps(doc))
    assert caught.value.fault in FAULTS and field in str(caught.value)


@pytest.mark.parametrize("entry", [[10**400, 0, 0], [0, True, 0], [0, 0, 101], [0, 0, -0.5], [0, 0, False]])
def test_out_of_range_tier_numbers_are_annotation_errors(entry: list[object]) -> None:
    doc = json.loads(encode_node_load(NodeLoad(1, 8, frozenset(), 0, {})))
    doc["tiers"]["critical"] = entry
    with pytest.raises(AnnotationError, match="critical"):
        decode_node_load(json.dumps(doc))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_pressure_is_an_annotation_error(literal: str) -> None:
    text = encode_node_load(NodeLoad(1, 8, frozenset(), 0, {})).replace('"critical":[0,0,0.0]',
                                                                        f'"critical":[0,0,{literal}]')
    assert literal in text
    with pytest.raises(AnnotationError):
        decode_node_load(text)


@pytest.mark.parametrize("version", ["true", "1.0", '"1"'])
def test_the_schema_version_must_be_the_integer_one(version: str) -> None:
    text = encode_node_load(NodeLoad(1, 8, frozenset(), 0, {})).replace('"v":1', f'"v":{version}')
    with pytest.raises(AnnotationError) as caught:
        decode_node_load(text)
    assert caught.value.fault == "version"


@pytest.mark.parametrize(("field", "value"), [("since", 10**400), ("since", True), ("state", ["x"]),
                                              ("kernel", "k" * 65), ("reason", "r" * 513)])
def test_hostile_enforcement_fields_are_annotation_errors(field: str, value: object) -> None:
    doc = json.loads(encode_enforcement(EnforcementStatus(EnforcementState.ENFORCING)))
    doc[field] = value
    with pytest.raises(AnnotationError):
        decode_enforcement(json.dumps(doc))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**500, 10**500) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.sampled_from(["v", "ts", "cpus", "fenced", "free_m", "tiers", "state", "since"]),
                       json_values), st.booleans())
def test_decoders_raise_only_annotation_errors_on_any_json(doc: dict[str, object], load: bool) -> None:
    doc.setdefault("v", 1)
    try:
        text = json.dumps(doc)
    except ValueError:  # an integer too long for str()
        return
    try:
        (decode_node_load if load else decode_enforcement)(text)
    except AnnotationError as exc:
        assert exc.fault in FAULTS
