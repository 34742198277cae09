"""The extender's node table and its hot path: ExtenderArgs node names -> scores, encoded.

Why it exists: at 5,000 nodes kube-scheduler calls the extender hundreds of times a second,
each time with a different ``NodeNames`` subset in a different order (it scores only
``percentageOfNodesToScore`` of the feasible nodes, found by parallel filtering from a rotating
start), and waits for the answer inside the scheduling cycle. So a call must cost a lookup and
an encode per name, and everything else is done when a node *changes* (at most every few
seconds per node, from the watch), never per call.

Design — one structure, kept exact by the watch:

- ``Row`` per node: its annotations decoded once into ``NodeFacts`` (``extender.scoring``),
  its JSON prefix ``{"Host":"<name>","Score":`` and one finished fragment
  ``{"Host":"<name>","Score":N}`` per tier whose score does not depend on the pod's request
  (all but Critical).
- *Views*, one per ``ViewKey`` (tier, and the CPU request for Critical): a dict
  ``name -> finished fragment`` for every node, as of the table's clock ``_now`` (a node that
  is stale at ``_now`` has its neutral fragment there). The four request-independent views
  always exist once the table has answered; Critical views are built on first use, one per
  distinct request, least recently used evicted past ``MAX_CRITICAL_VIEWS``.
- ``_neutral``: ``name -> NeutralReason`` for the nodes that score neutral at ``_now``.
- ``_edges``: a heap of the instants at which a node's freshness can flip (its
  ``ts ± stale_after_s``), so moving the clock forward re-applies exactly the nodes that
  crossed an edge — there is no periodic full sweep.

A call is then ``list(map(view.__getitem__, names))`` and one ``join``: C-level, no Python per
name, the subset and its order (duplicates included) taken as given. Unknown names raise the
``KeyError`` that sends the call to a slower per-name loop, which scores them neutral, as the
reference does. The reply is byte-identical to ``orjson.dumps`` of the ``HostPriorityList``
the reference ``extender.scoring.score`` gives (property-tested,
``tests/extender/test_table_exactness.py``).

Why no per-call cache: an earlier version kept finished answers per (view, raw name list)
and memoised decoded name lists. kube-scheduler's lists almost never repeat at scale, so
both missed on nearly every call, and cost hashing a 65 KiB key, holding ~30 answers and
freeing 40,000 cached strings at a time. The views make a miss as cheap as a hit was worth.

Invariants:
- after ``_advance(now, w)`` every view entry, and ``_neutral``, equal what the reference
  gives at ``now`` (freshness is decided by ``extender.scoring.is_fresh`` itself; an edge is
  only a conservative *when to look again*: never later than the flip, possibly a hair early,
  in which case the node is re-checked and re-queued);
- ``upsert`` / ``delete`` / ``replace`` keep the views exact at ``_now`` (O(views) per changed
  node; ``replace`` touches only the nodes whose annotations changed);
- a heap entry is live iff its ``Row`` is still the node's row (older ones are skipped, and
  the heap is compacted when dead entries dominate);
- every name in a request gets exactly one fragment, in request order; no method raises on
  any table content.

Clock going backwards (an NTP step) or a different ``stale_after_s``: the views are rebuilt
from the rows (O(nodes x views), once).

Neutral counts (``Answer.neutral``, the ``temper_extender_neutral_scores_total`` metric):
unknown names per occurrence, known neutral nodes per distinct name (kube-scheduler never
repeats a name; counting per distinct name keeps it one C-level set intersection).

Full-Node mode (``nodeCacheCapable: false``) builds a throw-away table from the request's
Nodes and answers with ``prioritize_once`` (no views: building them would cost more than
they save); decoding annotation strings is memoised in ``AssessmentMemo`` (bounded), because
the same strings arrive in every request until the agent republishes.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

from extender.scoring import (
    NEUTRAL_SCORE,
    Assessment,
    NeutralReason,
    NodeFacts,
    PodDemand,
    assess,
    is_fresh,
)
from temper.annotations import ENFORCEMENT_KEY, SAFE_MODE_KEY, TIER_LOAD_KEY
from temper.kube.nodecache import NodeMeta
from temper.tiers import Tier

SCORE_SUFFIX: tuple[bytes, ...] = tuple(b"%d}" % s for s in range(11))
NEUTRAL_SUFFIX = SCORE_SUFFIX[NEUTRAL_SCORE]
EDGE_MARGIN = 2.0**-40
"""Relative margin by which an edge is brought forward: a few thousand ulps at today's epoch
seconds (1.5 ms), far more than the one-ulp rounding of ``ts ± w`` it guards against."""

SourceKey = tuple[str | None, str | None, str | None]
"""The annotation strings a row was built from (tier-load, enforcement, safe-mode)."""


def host_prefix(name: str) -> bytes:
    return b'{"Host":' + orjson.dumps(name) + b',"Score":'


@dataclass(frozen=True, slots=True)
class Row:
    """One node, ready to answer: its prefix, facts (or neutral reason) and static fragments."""

    prefix: bytes
    assessment: Assessment
    fragments: tuple[bytes, ...]
    """Finished fragment per tier (index = Tier value); Critical's is unused (request-dependent)."""
    neutral: bytes
    source: SourceKey


def annotation_key(annotations: Mapping[str, str]) -> SourceKey:
    return (annotations.get(TIER_LOAD_KEY), annotations.get(ENFORCEMENT_KEY), annotations.get(SAFE_MODE_KEY))


def make_row(name: str, assessment: Assessment, source: SourceKey = (None, None, None)) -> Row:
    prefix = host_prefix(name)
    neutral = prefix + NEUTRAL_SUFFIX
    if isinstance(assessment, NeutralReason):
        fragments = tuple(neutral for _ in Tier)
    else:
        fragments = tuple(prefix + SCORE_SUFFIX[assessment.score(PodDemand(t, 0))] for t in Tier)
    return Row(prefix, assessment, fragments, neutral, source)


class AssessmentMemo:
    """Bounded memo of ``assess`` keyed by the annotation strings (cleared when full)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._memo: dict[SourceKey, Assessment] = {}

    def __call__(self, annotations: Mapping[str, str]) -> Assessment:
        return self.of_key(annotation_key(annotations), annotations)

    def of_key(self, key: SourceKey, annotations: Mapping[str, str]) -> Assessment:
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.max_entries:
                self._memo.clear()
            found = self._memo[key] = assess(annotations)
        return found


@dataclass
class Answer:
    body: bytes
    neutral: Counter[NeutralReason]


@dataclass
class FilterAnswer:
    passed: list[int]
    """Indexes into the request's node list that pass."""
    failed: dict[str, str]
    unresolvable: dict[str, str]


ViewKey = tuple[Tier, int]
"""(tier, CPU request): the request only matters for Critical; other tiers use 0."""
STATIC_VIEWS: tuple[ViewKey, ...] = tuple((t, 0) for t in Tier if t is not Tier.CRITICAL)
MAX_CRITICAL_VIEWS = 16
"""Critical views are kept per distinct request (replicas of one Deployment share it); one
is ~5,000 dict entries pointing at fresh fragments, ~0.5 MiB at 5,000 nodes."""
Edge = tuple[float, int, str, Row]
"""(when to look again, tie-breaker, node, the row the edge was computed for)."""


def _before(instant: float) -> float:
    return instant - (abs(instant) + 1.0) * EDGE_MARGIN


class NodeTable:
    """name -> Row, plus views name -> finished fragment kept exact at ``_now``. A ``NodeSink``
    for the watch (``replace``/``upsert``/``delete``). See the module docstring."""

    def __init__(self, memo: AssessmentMemo | None = None) -> None:
        self._rows: dict[str, Row] = {}
        self._memo = memo or AssessmentMemo()
        self._views: dict[ViewKey, dict[str, bytes]] = {}
        self._neutral: dict[str, NeutralReason] = {}
        self._edges: list[Edge] = []
        self._tie = itertools.count()
        self._now: float | None = None
        """The instant the views are exact for; None: no views (nothing answered yet)."""
        self._stale_after_s = 0.0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def _row(self, node: NodeMeta) -> Row:
        key = annotation_key(node.annotations)
        return make_row(node.name, self._memo.of_key(key, node.annotations), key)

    @classmethod
    def of(cls, nodes: Iterable[NodeMeta], memo: AssessmentMemo | None = None) -> NodeTable:
        table = cls(memo)
        for node in nodes:
            table._rows[node.name] = table._row(node)
        return table

    # NodeSink
    def replace(self, nodes: list[NodeMeta]) -> None:
        """A re-LIST: delete the nodes that are gone, upsert only those whose annotations changed."""
        incoming = {node.name: node for node in nodes}
        for name in [name for name in self._rows if name not in incoming]:
            self.delete(name)
        for name, node in incoming.items():
            row = self._rows.get(name)
            if row is None or row.source != annotation_key(node.annotations):
                self.upsert(node)

    def upsert(self, node: NodeMeta) -> None:
        row = self._rows[node.name] = self._row(node)
        if self._now is not None:
            self._apply(node.name, row)

    def delete(self, name: str) -> None:
        if self._rows.pop(name, None) is None:
            return
        self._neutral.pop(name, None)
        for view in self._views.values():
            view.pop(name, None)

    def assessment(self, name: str) -> Assessment:
        row = self._rows.get(name)
        return NeutralReason.UNKNOWN_NODE if row is None else row.assessment

    # Views
    @staticmethod
    def _fragment(row: Row, neutral: bool, key: ViewKey) -> bytes:
        if neutral:
            return row.neutral
        if key[0] is Tier.CRITICAL:
            return row.prefix + SCORE_SUFFIX[row.assessment.score(PodDemand(*key))]  # type: ignore[union-attr]  # not neutral: NodeFacts
        return row.fragments[key[0]]

    def _apply(self, name: str, row: Row) -> None:
        """Bring one row into ``_neutral`` and every view as of ``_now``; queue its next edge."""
        assert self._now is not None
        now, window, facts = self._now, self._stale_after_s, row.assessment
        if type(facts) is not NodeFacts:
            self._neutral[name] = facts  # type: ignore[assignment]  # narrowed by the type() check
        else:
            edge: float | None = None
            if is_fresh(facts, now, window):
                self._neutral.pop(name, None)
                edge = _before(facts.timestamp + window)
            else:
                self._neutral[name] = NeutralReason.STALE
                if facts.timestamp > now:  # from the future: fresh once the clock catches up
                    edge = _before(facts.timestamp - window)
            if edge is not None:
                heapq.heappush(self._edges, (max(edge, now), next(self._tie), name, row))
        neutral = name in self._neutral
        for key, view in self._views.items():
            view[name] = self._fragment(row, neutral, key)

    def _rebuild(self, now: float, stale_after_s: float) -> None:
        self._now, self._stale_after_s = now, stale_after_s
        self._views = {key: {} for key in STATIC_VIEWS}
        self._neutral.clear()
        self._edges.clear()
        for name, row in self._rows.items():
            self._apply(name, row)

    def _advance(self, now: float, stale_after_s: float) -> None:
        """Make the views exact at ``now``: re-apply the nodes whose edge has passed."""
        if self._now is None or stale_after_s != self._stale_after_s or now < self._now:
            self._rebuild(now, stale_after_s)
            return
        self._now = now
        edges, rows = self._edges, self._rows
        while edges and edges[0][0] < now:
            _, _, name, row = heapq.heappop(edges)
            if rows.get(name) is row:
                self._apply(name, row)
        if len(edges) > 64 + 4 * len(rows):  # upserts leave their old rows' edges behind
            self._edges = [edge for edge in edges if rows.get(edge[2]) is edge[3]]
            heapq.heapify(self._edges)

    def _view(self, demand: PodDemand) -> dict[str, bytes]:
        if demand.tier is not Tier.CRITICAL:
            return self._views[demand.tier, 0]
        key = (Tier.CRITICAL, demand.cpu_request_milli)
        view = self._views.pop(key, None)
        if view is None:
            critical = [k for k in self._views if k[0] is Tier.CRITICAL]
            if len(critical) >= MAX_CRITICAL_VIEWS:
                del self._views[critical[0]]  # least recently used: hits move to the end
            neutral = self._neutral
            view = {name: self._fragment(row, name in neutral, key) for name, row in self._rows.items()}
        self._views[key] = view
        return view

    def prioritize(self, names: list[str], demand: PodDemand, now: float, stale_after_s: float) -> Answer:
        """The HostPriorityList for ``names`` (any subset, order and repeats), encoded."""
        self._advance(now, stale_after_s)
        view = self._view(demand)
        neutral: Counter[NeutralReason] = Counter()
        try:
            parts = list(map(view.__getitem__, names))
        except KeyError:
            parts = self._with_unknown(view, names, neutral)
        if self._neutral:
            known = self._neutral
            for name in known.keys() & names:
                neutral[known[name]] += 1
        return Answer(b"[" + b",".join(parts) + b"]", neutral)

    @staticmethod
    def _with_unknown(view: dict[str, bytes], names: list[str], neutral: Counter[NeutralReason]) -> list[bytes]:
        parts: list[bytes] = []
        for name in names:
            fragment = view.get(name)
            if fragment is None:
                fragment = host_prefix(name) + NEUTRAL_SUFFIX
                neutral[NeutralReason.UNKNOWN_NODE] += 1
            parts.append(fragment)
        return parts

    def prioritize_once(self, names: list[str], demand: PodDemand, now: float, stale_after_s: float) -> Answer:
        """One pass without views: for throw-away tables (full-Node mode), where building
        views would cost more than it saves. Same answer as ``prioritize``, except that known
        neutral nodes are counted per occurrence."""
        rows = self._rows
        neutral: Counter[NeutralReason] = Counter()
        parts: list[bytes] = []
        append = parts.append
        critical = demand.tier is Tier.CRITICAL
        index = int(demand.tier)
        for name in names:
            row = rows.get(name)
            if row is None:
                append(host_prefix(name) + NEUTRAL_SUFFIX)
                neutral[NeutralReason.UNKNOWN_NODE] += 1
                continue
            facts = row.assessment
            if type(facts) is not NodeFacts:
                append(row.neutral)
                neutral[facts] += 1  # type: ignore[index]  # narrowed by the type() check above
            elif not is_fresh(facts, now, stale_after_s):
                append(row.neutral)
                neutral[NeutralReason.STALE] += 1
            elif critical:
                append(row.prefix + SCORE_SUFFIX[facts.score(demand)])
            else:
                append(row.fragments[index])
        return Answer(b"[" + b",".join(parts) + b"]", neutral)

    def filter(self, names: list[str], demand: PodDemand, now: float, stale_after_s: float) -> FilterAnswer:
        """Only Critical pods lose nodes: not enforcing -> unresolvable (preemption cannot
        help); too little fenceable capacity -> failed (preemption may free some)."""
        passed: list[int] = []
        failed: dict[str, str] = {}
        unresolvable: dict[str, str] = {}
        for i, name in enumerate(names):
            facts = self.assessment(name)
            reason = None
            if isinstance(facts, NodeFacts) and is_fresh(facts, now, stale_after_s):
                reason = facts.refusal(demand)
            if reason is None:
                passed.append(i)
            elif isinstance(facts, NodeFacts) and not facts.enforcing:
                unresolvable[name] = reason
            else:
                failed[name] = reason
        return FilterAnswer(passed, failed, unresolvable)
