"""The node table's hot path (``NodeTable.prioritize``) answers byte for byte what the reference
scoring (``extender.scoring.assess`` + ``score``) gives, for any subset of the nodes in any
order, with repeats and unknown names, whatever watch updates and clock moves came before.

The reference is computed from the test's own copy of every node's annotations, never from
the table, so a stale view, a missed edge or a lost invalidation shows up as a wrong byte.
Every check runs with each backend of the per-name loop (``extender.fastreply``: the native
one and the pure-Python reference), each on its own table fed the same events."""

from __future__ import annotations

import math
import random
from collections import Counter

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from extender.fastreply import NATIVE, PYTHON, Backend
from extender.scoring import Assessment, NeutralReason, PodDemand, assess, score
from extender.table import MAX_CRITICAL_VIEWS, NodeTable
from extender.wire import host_key
from temper.annotations import EnforcementState
from temper.kube.nodecache import NodeMeta
from temper.tiers import Tier
from tests.extender.factories import NOW, load_annotations
from tests.extender.test_scoring_properties import annotation_maps, demands

NAMES = [f"node-{i}" for i in range(8)] + ['ünïcode-"quoted"\\']
node_names = st.sampled_from(NAMES)
TS_OFFSETS = [-400, -121, -120, -60, 0, 45, 119, 120, 121, 400]
"""Timestamps relative to NOW that sit on, next to and far from the staleness edges."""

loads = st.builds(
    lambda ts, cpus, free, used, state: load_annotations(ts=NOW + ts, cpus=cpus, free_m=free,
                                                         used={Tier.NORMAL: used}, state=state),
    st.sampled_from(TS_OFFSETS), st.integers(3, 64), st.integers(0, 8000), st.integers(0, 70_000),
    st.sampled_from(list(EnforcementState)))
annotations = st.one_of(loads, loads, annotation_maps, st.just({}))
windows = st.sampled_from([60, 120, 90.5])
BACKENDS = [backend for backend in (PYTHON, NATIVE) if backend is not None]
requests = st.lists(st.sampled_from([*NAMES, "ghost", "ghost-2"]), max_size=24)
"""Any subset, in any order, with repeats and names the table does not know."""


def keys(names: list[str]) -> list[bytes]:
    return [host_key(name) for name in names]


def reference(model: dict[str, dict[str, str]], names: list[str], demand: PodDemand, now: float,
              stale_after_s: float, memo: dict[tuple[tuple[str, str], ...], Assessment] | None = None,
              ) -> tuple[bytes, Counter[NeutralReason]]:
    """The reply and neutral counts the hot path must give: unknown names counted per
    occurrence, known neutral nodes per distinct name (extender.table docstring).
    ``memo``: assessments by annotation content, for the big case (``assess`` is pure)."""
    memo = {} if memo is None else memo

    def assessed(name: str) -> Assessment:
        if name not in model:
            return NeutralReason.UNKNOWN_NODE
        key = tuple(sorted(model[name].items()))
        if key not in memo:
            memo[key] = assess(model[name])
        return memo[key]

    scored = {n: score(demand, assessed(n), now, stale_after_s) for n in set(names)}
    counts: Counter[NeutralReason] = Counter()
    counts[NeutralReason.UNKNOWN_NODE] += sum(1 for n in names if n not in model)
    for name in {n for n in names if n in model}:
        reason = scored[name].neutral
        if reason is not None:
            counts[reason] += 1
    body = orjson.dumps([{"Host": n, "Score": scored[n].value} for n in names])
    return body, +counts


class WatchedTable(RuleBasedStateMachine):
    """Watch events, clock moves and calls interleaved at random; every call checked."""

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, dict[str, str]] = {}
        self.tables = [NodeTable(backend=backend) for backend in BACKENDS]
        self.now: float = NOW
        self.window: float = 120

    @initialize(nodes=st.dictionaries(st.sampled_from(NAMES), annotations, max_size=len(NAMES)))
    def listed(self, nodes: dict[str, dict[str, str]]) -> None:
        self.model = dict(nodes)
        self.tables = [NodeTable.of((NodeMeta(n, a) for n, a in nodes.items()), backend=backend)
                       for backend in BACKENDS]

    @rule(name=st.sampled_from(NAMES), ann=annotations)
    def upserted(self, name: str, ann: dict[str, str]) -> None:
        self.model[name] = ann
        for table in self.tables:
            table.upsert(NodeMeta(name, ann))

    @rule(name=st.sampled_from([*NAMES, "ghost"]))
    def deleted(self, name: str) -> None:
        self.model.pop(name, None)
        for table in self.tables:
            table.delete(name)

    @rule(keep=st.sets(st.sampled_from(NAMES)), changed=st.dictionaries(st.sampled_from(NAMES), annotations))
    def relisted(self, keep: set[str], changed: dict[str, dict[str, str]]) -> None:
        """A re-LIST: some nodes unchanged, some changed or new, the rest gone."""
        self.model = {**{n: a for n, a in self.model.items() if n in keep}, **changed}
        for table in self.tables:
            table.replace([NodeMeta(n, a) for n, a in self.model.items()])

    @rule(step=st.one_of(st.floats(0, 150), st.sampled_from([0.0, 1e-6, 1.0])))
    def clock_moved_on(self, step: float) -> None:
        self.now += step

    @rule(offset=st.sampled_from(TS_OFFSETS), sign=st.sampled_from([-1, 1]), nudge=st.sampled_from([-1, 0, 1]))
    def clock_on_an_edge(self, offset: int, sign: int, nudge: int) -> None:
        """Exactly on (or one ulp beside) some node's ``ts ± window``: forward or backward."""
        edge = float(NOW + offset + sign * self.window)
        self.now = edge if nudge == 0 else math.nextafter(edge, nudge * math.inf)

    @rule(step=st.floats(0, 300))
    def clock_stepped_back(self, step: float) -> None:
        self.now -= step

    @rule(window=windows)
    def window_changed(self, window: float) -> None:
        self.window = window

    @rule(names=requests, demand=demands)
    def called(self, names: list[str], demand: PodDemand) -> None:
        body, counts = reference(self.model, names, demand, self.now, self.window)
        for table in self.tables:
            answer = table.prioritize(keys(names), demand, self.now, self.window)
            assert answer.body == body
            assert +answer.neutral == counts

    @precondition(lambda self: bool(self.model))
    @rule(request=st.integers(0, 40), data=st.data())
    def called_critical(self, request: int, data: st.DataObject) -> None:
        """Many distinct Critical requests: views built, reused and evicted."""
        names = data.draw(st.permutations(sorted(self.model)))
        self.called(names, PodDemand(Tier.CRITICAL, request * 250))

    @invariant()
    def knows_exactly_the_watched_nodes(self) -> None:
        assert [len(table) for table in self.tables] == [len(self.model)] * len(self.tables)


WatchedTable.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_the_hot_path_equals_the_reference_across_watch_events_and_clock_moves = WatchedTable.TestCase


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: backend.name)
@settings(max_examples=1000)
@given(st.dictionaries(node_names, annotation_maps, max_size=8), st.lists(node_names, max_size=20), demands,
       st.floats(NOW - 200, NOW + 200))
def test_any_subset_in_any_order_gets_the_reference_scores(
        backend: Backend, nodes: dict[str, dict[str, str]], names: list[str], demand: PodDemand, now: float) -> None:
    table = NodeTable.of((NodeMeta(name, ann) for name, ann in nodes.items()), backend=backend)
    answer = table.prioritize(keys(names), demand, now, 120)
    body, counts = reference(nodes, names, demand, now, 120)
    assert answer.body == body
    assert +answer.neutral == counts
    once = table.prioritize_once(keys(names), demand, now, 120)
    assert once.body == body


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: backend.name)
def test_five_thousand_nodes_random_subsets_and_churn_stay_exact(backend: Backend) -> None:
    """At scale: 10/50/100 % subsets in shuffled order, 1,000 upserts (heap compaction runs),
    deletes, a re-LIST that frees slots and upserts that reuse them, the clock crossing hundreds
    of edges, Critical views past the LRU cap; names as a list and as the backend's
    ``split_plain`` of the body's array, on alternate calls."""
    rng = random.Random(15)
    names = [f"node-{i:05d}" for i in range(5000)]

    def annotations_at(i: int) -> dict[str, str]:
        if i % 53 == 0:
            return {}
        return load_annotations(ts=NOW - rng.randrange(0, 200), cpus=4 + i % 60, free_m=(i * 37) % 4000,
                                used={Tier.NORMAL: (i * 131) % 50_000},
                                state=EnforcementState.OBSERVE_ONLY if i % 10 == 0 else EnforcementState.ENFORCING)

    model = {n: annotations_at(i) for i, n in enumerate(names)}
    table = NodeTable.of((NodeMeta(n, a) for n, a in model.items()), backend=backend)
    now = float(NOW)
    memo: dict[tuple[tuple[str, str], ...], Assessment] = {}
    for call in range(40):
        for _ in range(25):
            i = rng.randrange(5000)
            model[names[i]] = annotations_at(i)
            table.upsert(NodeMeta(names[i], model[names[i]]))
        if call == 20:
            for gone in names[:100]:
                model.pop(gone, None)
            model["node-new"] = load_annotations(ts=int(now))
            table.replace([NodeMeta(n, a) for n, a in model.items()])
        now += rng.uniform(0, 3)
        subset = rng.sample(names, int(len(names) * rng.choice([0.1, 0.5, 1.0])))
        demand = PodDemand(rng.choice(list(Tier)), 250 * rng.randrange(MAX_CRITICAL_VIEWS + 8))
        body, counts = reference(model, subset, demand, now, 120, memo)
        split = backend.split_plain(orjson.dumps(subset))
        assert split is not None
        answer = table.prioritize(keys(subset) if call % 2 else split, demand, now, 120)
        assert answer.body == body, call
        assert +answer.neutral == counts, call


def test_a_node_crossing_its_staleness_edge_changes_score_and_reason_at_that_instant() -> None:
    table = NodeTable.of([NodeMeta("a", load_annotations(ts=NOW))])
    low = PodDemand(Tier.LOW, 0)
    assert orjson.loads(table.prioritize(keys(["a"]), low, NOW + 120, 120).body) == [{"Host": "a", "Score": 10}]
    late = table.prioritize(keys(["a"]), low, math.nextafter(NOW + 120, math.inf), 120)
    assert (orjson.loads(late.body), late.neutral) == ([{"Host": "a", "Score": 5}], {NeutralReason.STALE: 1})


def test_a_node_from_the_future_turns_fresh_when_the_clock_catches_up() -> None:
    table = NodeTable.of([NodeMeta("a", load_annotations(ts=NOW + 200))])
    low = PodDemand(Tier.LOW, 0)
    assert table.prioritize(keys(["a"]), low, NOW, 120).neutral == {NeutralReason.STALE: 1}
    assert orjson.loads(table.prioritize(keys(["a"]), low, NOW + 80, 120).body) == [{"Host": "a", "Score": 10}]


def test_an_update_between_calls_is_in_the_next_answer() -> None:
    table = NodeTable.of([NodeMeta("a", load_annotations()), NodeMeta("b", load_annotations())])
    low = PodDemand(Tier.LOW, 0)
    assert orjson.loads(table.prioritize(keys(["b", "a"]), low, NOW, 120).body) == [
        {"Host": "b", "Score": 10}, {"Host": "a", "Score": 10}]
    table.upsert(NodeMeta("a", load_annotations(used={Tier.NORMAL: 6000})))  # busier: lower score
    table.upsert(NodeMeta("b", {}))  # the agent's annotations removed: neutral, reason missing
    answer = table.prioritize(keys(["b", "a"]), low, NOW, 120)
    assert orjson.loads(answer.body) == [{"Host": "b", "Score": 5}, {"Host": "a", "Score": 2}]
    assert answer.neutral == {NeutralReason.MISSING: 1}
    table.delete("a")
    answer = table.prioritize(keys(["b", "a"]), low, NOW, 120)
    assert answer.neutral == {NeutralReason.MISSING: 1, NeutralReason.UNKNOWN_NODE: 1}
