"""Properties of scoring: bounded, total, monotone for Critical, one score per node — and the
precomputed hot path (extender.table) answers byte for byte what the reference gives."""

from __future__ import annotations

import dataclasses

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.scoring import NeutralReason, NodeFacts, PodDemand, assess, facts_of, score
from extender.table import NodeTable
from temper.annotations import (
    ENFORCEMENT_KEY,
    SAFE_MODE_KEY,
    TIER_LOAD_KEY,
    EnforcementState,
    EnforcementStatus,
    NodeLoad,
    TierLoad,
    encode_enforcement,
    encode_node_load,
)
from temper.kube.nodecache import NodeMeta
from temper.tiers import Tier
from tests.extender.factories import NOW

tier_loads = st.builds(TierLoad, st.integers(0, 10**7), st.integers(0, 10**7), st.floats(0, 1000))
node_loads = st.builds(
    NodeLoad, timestamp=st.integers(NOW - 500, NOW + 500), cpus=st.integers(1, 512),
    fenced=st.frozensets(st.integers(0, 511), max_size=64), free_protected_milli=st.integers(0, 10**7),
    tiers=st.dictionaries(st.sampled_from(list(Tier)), tier_loads),
)
statuses = st.builds(EnforcementStatus, st.sampled_from(list(EnforcementState)))
demands = st.builds(PodDemand, st.sampled_from(list(Tier)), st.integers(0, 10**7))
annotation_text = st.one_of(st.text(max_size=40), st.just('{"v":1}'), st.just("{}"),
                            node_loads.map(encode_node_load), statuses.map(encode_enforcement))
annotation_maps = st.dictionaries(st.sampled_from([TIER_LOAD_KEY, ENFORCEMENT_KEY, SAFE_MODE_KEY]), annotation_text)


@settings(max_examples=1000)
@given(node_loads, statuses, st.booleans(), demands, st.floats(NOW - 1000, NOW + 1000))
def test_scores_are_always_within_0_and_10(load: NodeLoad, status: EnforcementStatus, safe: bool,
                                           demand: PodDemand, now: float) -> None:
    assert 0 <= score(demand, facts_of(load, status, safe), now).value <= 10


@settings(max_examples=1000)
@given(annotation_maps, demands)
def test_scoring_is_total_over_any_annotation_strings(annotations: dict[str, str], demand: PodDemand) -> None:
    assessment = assess(annotations)
    assert isinstance(assessment, (NodeFacts, NeutralReason))
    assert 0 <= score(demand, assessment, NOW).value <= 10


@settings(max_examples=1000)
@given(node_loads, statuses, st.integers(0, 10**7), st.integers(0, 10**7))
def test_more_free_protected_capacity_never_lowers_a_critical_pods_score(
        load: NodeLoad, status: EnforcementStatus, extra: int, request: int) -> None:
    richer = dataclasses.replace(load, free_protected_milli=load.free_protected_milli + extra)
    demand = PodDemand(Tier.CRITICAL, request)
    assert score(demand, facts_of(richer, status), NOW).value >= score(demand, facts_of(load, status), NOW).value


node_names = st.sampled_from([f"node-{i}" for i in range(8)] + ["ünïcode-\"quoted\"\\"])


@settings(max_examples=1000)
@given(st.dictionaries(node_names, annotation_maps, max_size=8), st.lists(node_names, max_size=20), demands,
       st.floats(NOW - 200, NOW + 200))
def test_fast_path_gives_every_node_exactly_the_reference_score(
        nodes: dict[str, dict[str, str]], names: list[str], demand: PodDemand, now: float) -> None:
    table = NodeTable.of(NodeMeta(name, ann) for name, ann in nodes.items())
    answer = table.prioritize(names, demand, now, 120)
    reference = [{"Host": n, "Score": score(demand, table.assessment(n), now, 120).value} for n in names]
    assert orjson.loads(answer.body) == reference
    assert answer.body == orjson.dumps(reference)
    assert table.prioritize_once(names, demand, now, 120).body == answer.body
    unknown = [n for n in names if n not in table]
    known_neutral = {n for n in names if n in table and score(demand, table.assessment(n), now, 120).neutral}
    assert sum(answer.neutral.values()) == len(unknown) + len(known_neutral)


@settings(max_examples=300)
@given(st.dictionaries(node_names, annotation_maps, max_size=8),
       st.lists(st.tuples(demands, st.floats(NOW - 300, NOW + 300), st.sampled_from([60, 120]),
                          st.one_of(st.none(), st.tuples(node_names, annotation_maps))), max_size=12))
def test_views_stay_exact_across_time_and_watch_updates(
        nodes: dict[str, dict[str, str]],
        steps: list[tuple[PodDemand, float, int, tuple[str, dict[str, str]] | None]]) -> None:
    table = NodeTable.of(NodeMeta(name, ann) for name, ann in nodes.items())
    names = [*sorted(nodes), "ghost"]
    for demand, now, stale, update in steps:
        if update is not None:
            table.upsert(NodeMeta(*update))
            names = sorted(set(names) | {update[0]})
        reference = [{"Host": n, "Score": score(demand, table.assessment(n), now, stale).value} for n in names]
        assert table.prioritize(names, demand, now, stale).body == orjson.dumps(reference)
