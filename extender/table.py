"""The extender's node table and its hot path: ExtenderArgs node names -> scores, encoded.

Why it exists: at 5,000 nodes kube-scheduler calls the extender hundreds of times a second,
each time with a different ``NodeNames`` subset in a different order (it scores only
``percentageOfNodesToScore`` of the feasible nodes, found by parallel filtering from a rotating
start), and waits for the answer inside the scheduling cycle. So a call must cost a lookup and
an encode per name, and everything else is done when a node *changes* (at most every few
seconds per node, from the watch), never per call.

Design — one structure, kept exact by the watch:

- Nodes are keyed by their ``host_key`` (``extender.wire``): the bytes between the quotes of
  the name's JSON string, which is how a compact request carries them, so a request's names
  are looked up as the bytes they arrive as.
- ``Row`` per node: its annotations decoded once into ``NodeFacts`` (``extender.scoring``) and
  its score for every tier whose score does not depend on the pod's request (all but
  Critical).
- A *slot* per node (``_slot_of``: host key -> int >= 1; freed slots are reused). Slot 0 is
  every name the table does not know. Everything per node that a call reads is a bytearray
  indexed by slot:
- *Views*, one per ``ViewKey`` (tier, and the CPU request for Critical): the node's score at
  the table's clock ``_now`` (the neutral 5 when it is stale, missing, malformed; slot 0
  neutral). The four request-independent views always exist once the table has answered;
  Critical views are built on first use, one per distinct request, least recently used
  evicted past ``MAX_CRITICAL_VIEWS``.
- ``_reasons``: the node's neutral reason code at ``_now`` (0: scored; ``CODE``), slot 0
  ``UNKNOWN_NODE``.
- ``_edges``: a heap of the instants at which a node's freshness can flip (its
  ``ts ± stale_after_s``), so moving the clock forward re-applies exactly the nodes that
  crossed an edge — there is no periodic full sweep.
- ``_index``: the per-name backend's lookup structure for ``_slot_of`` (``extender.fastreply``:
  the dict itself, or the native ``SlotIndex`` snapshot). Dropped whenever a slot is added or
  freed, rebuilt before the next answer (O(nodes) in C, 0.14-0.22 ms at 5,000 nodes on a loaded
  host; only node joins and deletions pay it, never an annotation update) — so it is never stale.

A call is then ``fastreply.render(index, names, view, reasons)``: one lookup per name and the
reply written in request order, the subset and its order (repeats included) taken as given,
with no Python per name (native backend: tens of ns per name; the names come straight out of
the body as offsets, ``extender.wire``). The reply is byte-identical to ``orjson.dumps`` of the
``HostPriorityList`` the reference ``extender.scoring.score`` gives (property-tested on both
backends, ``tests/extender/test_table_exactness.py``).

Why no per-call cache: an earlier version kept finished answers per (view, raw name list)
and memoised decoded name lists. kube-scheduler's lists almost never repeat at scale, so
both missed on nearly every call, and cost hashing a 65 KiB key, holding ~30 answers and
freeing 40,000 cached strings at a time. Nothing derived here outlives the change that
invalidates it: views and reasons are rewritten by the event itself, the index is dropped by it.

Invariants:
- after ``_advance(now, w)`` every view entry and reason code of a live slot equal what the
  reference gives at ``now`` (freshness is decided by ``extender.scoring.is_fresh`` itself;
  an edge is only a conservative *when to look again*: never later than the flip, possibly
  a hair early, in which case the node is re-checked and re-queued);
- ``upsert`` / ``delete`` / ``replace`` keep the views exact at ``_now`` (O(views) per changed
  node; ``replace`` touches only the nodes whose annotations changed); a freed slot is
  unreachable (not in ``_slot_of``, nor in any index built since) until an upsert reuses it,
  which rewrites it in every view first;
- every array is as long as the slot count (a new slot appends to each);
- a heap entry is live iff its ``Row`` is still the node's row (older ones are skipped, and
  the heap is compacted when dead entries dominate);
- every name in a request gets exactly one entry, in request order; no method raises on any
  table content.

Clock going backwards (an NTP step) or a different ``stale_after_s``: the views are rebuilt
from the rows (O(nodes x views), once).

Neutral counts (``Answer.neutral``, the ``temper_extender_neutral_scores_total`` metric):
unknown names per occurrence, known neutral nodes per distinct name (kube-scheduler never
repeats a name; the backend counts a slot once, a bitmap in C).

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

from extender.fastreply import BACKEND, TOKENS, Backend, Names, SlotLookup, encode_reply
from extender.scoring import (
    NEUTRAL_SCORE,
    Assessment,
    NeutralReason,
    NodeFacts,
    PodDemand,
    assess,
    is_fresh,
)
from extender.wire import host_key
from temper.annotations import ENFORCEMENT_KEY, SAFE_MODE_KEY, TIER_LOAD_KEY
from temper.kube.nodecache import NodeMeta
from temper.tiers import Tier

NEUTRAL_TOKEN = TOKENS[NEUTRAL_SCORE]
REASONS: tuple[NeutralReason, ...] = tuple(NeutralReason)
"""Reason codes, as the per-slot ``reasons`` array holds them: 0 scored, ``i + 1`` ``REASONS[i]``."""
CODE: dict[NeutralReason, int] = {reason: i + 1 for i, reason in enumerate(REASONS)}
UNKNOWN_SLOT = 0
"""The slot of every name the table does not know: neutral score, reason ``UNKNOWN_NODE``."""
EDGE_MARGIN = 2.0**-40
"""Relative margin by which an edge is brought forward: a few thousand ulps at today's epoch
seconds (1.5 ms), far more than the one-ulp rounding of ``ts ± w`` it guards against."""

SourceKey = tuple[str | None, str | None, str | None]
"""The annotation strings a row was built from (tier-load, enforcement, safe-mode)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One node, ready to answer: its facts (or neutral reason) and request-independent scores."""

    assessment: Assessment
    scores: bytes
    """Score per tier (index = Tier value); Critical's is unused (request-dependent)."""
    source: SourceKey


def annotation_key(annotations: Mapping[str, str]) -> SourceKey:
    return (annotations.get(TIER_LOAD_KEY), annotations.get(ENFORCEMENT_KEY), annotations.get(SAFE_MODE_KEY))


def make_row(assessment: Assessment, source: SourceKey = (None, None, None)) -> Row:
    if isinstance(assessment, NeutralReason):
        scores = bytes(NEUTRAL_SCORE for _ in Tier)
    else:
        scores = bytes(assessment.score(PodDemand(t, 0)) for t in Tier)
    return Row(assessment, scores, source)


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
is a byte per slot, 5 KiB at 5,000 nodes, built in ~2 ms (a Python loop over the rows)."""
Edge = tuple[float, int, bytes, Row]
"""(when to look again, tie-breaker, host key, the row the edge was computed for)."""


def _before(instant: float) -> float:
    return instant - (abs(instant) + 1.0) * EDGE_MARGIN


class NodeTable:
    """host key -> Row, plus per-slot views kept exact at ``_now``. A ``NodeSink`` for the
    watch (``replace``/``upsert``/``delete``). See the module docstring."""

    def __init__(self, memo: AssessmentMemo | None = None, backend: Backend = BACKEND) -> None:
        self._rows: dict[bytes, Row] = {}
        self._memo = memo or AssessmentMemo()
        self._backend = backend
        self._slot_of: dict[bytes, int] = {}
        self._free: list[int] = []
        self._index: SlotLookup | None = None
        """The backend's snapshot of ``_slot_of``; None when a slot was added or freed since."""
        self._reasons = bytearray([CODE[NeutralReason.UNKNOWN_NODE]])
        """Reason code per slot at ``_now`` (0: scored); slot 0 is every unknown name."""
        self._views: dict[ViewKey, bytearray] = {}
        """Score per slot at ``_now``, one per ``ViewKey``; slot 0 neutral."""
        self._edges: list[Edge] = []
        self._tie = itertools.count()
        self._now: float | None = None
        """The instant the views are exact for; None: no views (nothing answered yet)."""
        self._stale_after_s = 0.0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and host_key(name) in self._rows

    def _row(self, node: NodeMeta) -> Row:
        source = annotation_key(node.annotations)
        return make_row(self._memo.of_key(source, node.annotations), source)

    @classmethod
    def of(cls, nodes: Iterable[NodeMeta], memo: AssessmentMemo | None = None,
           backend: Backend = BACKEND) -> NodeTable:
        table = cls(memo, backend)
        for node in nodes:
            key = host_key(node.name)
            table._rows[key] = table._row(node)
            table._slot(key)
        return table

    # Slots
    def _slot(self, key: bytes) -> int:
        """The key's slot, allocated (a freed one first) if it has none."""
        slot = self._slot_of.get(key)
        if slot is None:
            slot = self._free.pop() if self._free else len(self._reasons)
            if slot == len(self._reasons):
                self._reasons.append(0)
                for view in self._views.values():
                    view.append(NEUTRAL_SCORE)
            self._slot_of[key] = slot
            self._index = None
        return slot

    # NodeSink
    def replace(self, nodes: list[NodeMeta]) -> None:
        """A re-LIST: delete the nodes that are gone, upsert only those whose annotations changed."""
        incoming = {host_key(node.name): node for node in nodes}
        for key in [key for key in self._rows if key not in incoming]:
            self._delete(key)
        for key, node in incoming.items():
            row = self._rows.get(key)
            if row is None or row.source != annotation_key(node.annotations):
                self._upsert(key, node)

    def upsert(self, node: NodeMeta) -> None:
        self._upsert(host_key(node.name), node)

    def delete(self, name: str) -> None:
        self._delete(host_key(name))

    def _upsert(self, key: bytes, node: NodeMeta) -> None:
        row = self._rows[key] = self._row(node)
        slot = self._slot(key)
        if self._now is not None:
            self._apply(key, slot, row)

    def _delete(self, key: bytes) -> None:
        if self._rows.pop(key, None) is None:
            return
        self._free.append(self._slot_of.pop(key))
        self._index = None

    def assessment(self, name: str) -> Assessment:
        row = self._rows.get(host_key(name))
        return NeutralReason.UNKNOWN_NODE if row is None else row.assessment

    # Views
    @staticmethod
    def _score(row: Row, neutral: bool, view: ViewKey) -> int:
        if neutral:
            return NEUTRAL_SCORE
        if view[0] is Tier.CRITICAL:
            return row.assessment.score(PodDemand(*view))  # type: ignore[union-attr]  # not neutral: NodeFacts
        return row.scores[view[0]]

    def _apply(self, key: bytes, slot: int, row: Row) -> None:
        """Bring one row into ``_reasons`` and every view as of ``_now``; queue its next edge."""
        assert self._now is not None
        now, window, facts = self._now, self._stale_after_s, row.assessment
        reason: NeutralReason | None = None
        if type(facts) is not NodeFacts:
            reason = facts  # type: ignore[assignment]  # narrowed by the type() check
        else:
            edge: float | None = None
            if is_fresh(facts, now, window):
                edge = _before(facts.timestamp + window)
            else:
                reason = NeutralReason.STALE
                if facts.timestamp > now:  # from the future: fresh once the clock catches up
                    edge = _before(facts.timestamp - window)
            if edge is not None:
                heapq.heappush(self._edges, (max(edge, now), next(self._tie), key, row))
        self._reasons[slot] = 0 if reason is None else CODE[reason]
        neutral = reason is not None
        for view_key, view in self._views.items():
            view[slot] = self._score(row, neutral, view_key)

    def _rebuild(self, now: float, stale_after_s: float) -> None:
        self._now, self._stale_after_s = now, stale_after_s
        self._views = {view: bytearray([NEUTRAL_SCORE]) * len(self._reasons) for view in STATIC_VIEWS}
        self._edges.clear()
        slot_of = self._slot_of
        for key, row in self._rows.items():
            self._apply(key, slot_of[key], row)

    def _advance(self, now: float, stale_after_s: float) -> None:
        """Make the views exact at ``now``: re-apply the nodes whose edge has passed."""
        if self._now is None or stale_after_s != self._stale_after_s or now < self._now:
            self._rebuild(now, stale_after_s)
            return
        self._now = now
        edges, rows = self._edges, self._rows
        while edges and edges[0][0] < now:
            _, _, key, row = heapq.heappop(edges)
            if rows.get(key) is row:
                self._apply(key, self._slot_of[key], row)
        if len(edges) > 64 + 4 * len(rows):  # upserts leave their old rows' edges behind
            self._edges = [edge for edge in edges if rows.get(edge[2]) is edge[3]]
            heapq.heapify(self._edges)

    def _view(self, demand: PodDemand) -> bytearray:
        if demand.tier is not Tier.CRITICAL:
            return self._views[demand.tier, 0]
        view_key = (Tier.CRITICAL, demand.cpu_request_milli)
        view = self._views.pop(view_key, None)
        if view is None:
            critical = [k for k in self._views if k[0] is Tier.CRITICAL]
            if len(critical) >= MAX_CRITICAL_VIEWS:
                del self._views[critical[0]]  # least recently used: hits move to the end
            view = bytearray([NEUTRAL_SCORE]) * len(self._reasons)
            reasons, slot_of = self._reasons, self._slot_of
            for key, row in self._rows.items():
                slot = slot_of[key]
                if not reasons[slot]:
                    view[slot] = self._score(row, False, view_key)
        self._views[view_key] = view
        return view

    def prioritize(self, keys: Names, demand: PodDemand, now: float, stale_after_s: float) -> Answer:
        """The HostPriorityList for ``keys`` (host keys: any subset, order and repeats), encoded."""
        self._advance(now, stale_after_s)
        view = self._view(demand)
        index = self._index
        if index is None:
            index = self._index = self._backend.snapshot(self._slot_of)
        body, counts = self._backend.render(index, keys, view, self._reasons, len(REASONS) + 1)
        return Answer(body, Counter({reason: n for reason, n in zip(REASONS, counts[1:], strict=True) if n}))

    def prioritize_once(self, keys: Names, demand: PodDemand, now: float, stale_after_s: float) -> Answer:
        """One pass without views: for throw-away tables (full-Node mode), where building
        views would cost more than it saves. Same answer as ``prioritize``, except that known
        neutral nodes are counted per occurrence."""
        rows = self._rows
        neutral: Counter[NeutralReason] = Counter()
        tokens: list[bytes] = []
        append = tokens.append
        critical = demand.tier is Tier.CRITICAL
        index = int(demand.tier)
        for key in keys:
            row = rows.get(key)
            if row is None:
                append(NEUTRAL_TOKEN)
                neutral[NeutralReason.UNKNOWN_NODE] += 1
                continue
            facts = row.assessment
            if type(facts) is not NodeFacts:
                append(NEUTRAL_TOKEN)
                neutral[facts] += 1  # type: ignore[index]  # narrowed by the type() check above
            elif not is_fresh(facts, now, stale_after_s):
                append(NEUTRAL_TOKEN)
                neutral[NeutralReason.STALE] += 1
            elif critical:
                append(TOKENS[facts.score(demand)])
            else:
                append(TOKENS[row.scores[index]])
        return Answer(encode_reply(keys, tokens), neutral)

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
