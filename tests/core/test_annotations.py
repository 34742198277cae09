"""The node annotation wire format (temper.annotations) round-trips and rejects bad input.

No kube-apiserver can be had here: these tests pin the exact JSON documented in the module
(the contract the scheduler extender reads)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper.annotations import (
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
    NodeLoad, timestamp=st.integers(0, 2**40), cpus=st.integers(1, 512),
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
