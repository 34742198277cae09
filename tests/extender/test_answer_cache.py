"""The answer cache (``NodeTable.prioritize`` with a key) never answers anything the uncached
path would not: across time, watch upserts that change or keep scores, deletes and replaces."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from extender.scoring import NeutralReason, PodDemand, score
from extender.table import NodeTable
from temper.kube.nodecache import NodeMeta
from temper.tiers import Tier
from tests.extender.factories import NOW, load_annotations
from tests.extender.test_scoring_properties import annotation_maps, demands, node_names

Step = tuple[str, PodDemand, float, int, tuple[str, dict[str, str]] | None]


@settings(max_examples=300)
@given(st.dictionaries(node_names, annotation_maps, max_size=8),
       st.lists(st.tuples(st.sampled_from(["upsert", "delete", "replace", "none"]), demands,
                          st.floats(NOW - 300, NOW + 300), st.sampled_from([60, 120]),
                          st.one_of(st.none(), st.tuples(node_names, annotation_maps))), max_size=16),
       st.lists(st.lists(node_names, max_size=10), min_size=1, max_size=3))
def test_cached_answers_equal_fresh_ones_after_any_table_change(
        nodes: dict[str, dict[str, str]], steps: list[Step], lists: list[list[str]]) -> None:
    table = NodeTable.of(NodeMeta(name, ann) for name, ann in nodes.items())
    for action, demand, now, stale, update in steps:
        if update is not None and action == "upsert":
            table.upsert(NodeMeta(*update))
        elif update is not None and action == "delete":
            table.delete(update[0])
        elif update is not None and action == "replace":
            table.replace([NodeMeta(*update)])
        for names in lists:
            key = orjson.dumps(names)
            reference = [{"Host": n, "Score": score(demand, table.assessment(n), now, stale).value} for n in names]
            cached = table.prioritize(names, demand, now, stale, key)
            fresh = table.prioritize(names, demand, now, stale)
            assert cached.body == fresh.body == orjson.dumps(reference)
            assert cached.neutral == fresh.neutral


def test_a_repeated_list_is_answered_from_the_cache_until_a_score_changes() -> None:
    table = NodeTable.of([NodeMeta("a", load_annotations()), NodeMeta("b", load_annotations())])
    demand, names, key = PodDemand(Tier.LOW, 0), ["a", "b"], b'["a","b"]'
    first = table.prioritize(names, demand, NOW, 120, key)
    assert table.prioritize(names, demand, NOW, 120, key) is first
    table.upsert(NodeMeta("a", load_annotations(ts=NOW - 1)))  # a republish: same score
    assert table.prioritize(names, demand, NOW, 120, key) is first
    table.upsert(NodeMeta("a", load_annotations(used={Tier.NORMAL: 6000})))  # busier: lower score
    second = table.prioritize(names, demand, NOW, 120, key)
    assert second is not first and second.body != first.body


def test_a_node_turning_neutral_for_another_reason_updates_the_cached_counts() -> None:
    table = NodeTable.of([NodeMeta("a", {})])
    demand, names, key = PodDemand(Tier.LOW, 0), ["a"], b'["a"]'
    assert table.prioritize(names, demand, NOW, 120, key).neutral == {NeutralReason.MISSING: 1}
    table.upsert(NodeMeta("a", load_annotations(ts=NOW - 500)))
    assert table.prioritize(names, demand, NOW, 120, key).neutral == {NeutralReason.STALE: 1}


def test_time_moving_a_node_past_its_staleness_edge_is_seen_through_the_cache() -> None:
    table = NodeTable.of([NodeMeta("a", load_annotations(ts=NOW))])
    demand, names, key = PodDemand(Tier.LOW, 0), ["a"], b'["a"]'
    assert orjson.loads(table.prioritize(names, demand, NOW, 120, key).body) == [{"Host": "a", "Score": 10}]
    assert orjson.loads(table.prioritize(names, demand, NOW + 121, 120, key).body) == [{"Host": "a", "Score": 5}]
