"""The extender's node table and its hot path: ExtenderArgs node list -> scores, encoded.

Why it exists: at 5,000 nodes kube-scheduler expects an answer well inside its 5 s
``httpTimeout``, and the extender shares the scheduling cycle's latency budget, so the
per-request work must be one cheap pass over the node names. Everything that can be done
ahead of time is done when a node's annotations *change* (at most every few seconds per node,
from the watch), not per request:

- annotations are decoded once into ``NodeFacts`` (``extender.scoring.assess``);
- each node's JSON prefix ``{"Host":"<name>","Score":`` is encoded once;
- the score of every tier that does not depend on the pod's request (all but Critical) is
  precomputed as a finished JSON fragment.

A request is then a dict lookup, a staleness comparison and a list append per node; a
Critical pod adds the few arithmetic operations of ``NodeFacts.score``. The reply body is
``b"[" + b",".join(fragments) + b"]"`` — byte-identical to ``orjson.dumps`` of the
``HostPriorityList`` the reference ``extender.scoring.score`` gives (property-tested).

Answer cache: when the caller passes a ``key`` that identifies the name list (the raw
``NodeNames`` bytes, ``extender.wire``), the finished ``Answer`` is kept per (view, key), so
a node list kube-scheduler repeats costs one dict lookup. An entry is dropped as soon as it
could differ: a sweep or ``replace``/``delete`` drops all; an ``upsert`` drops only the
views whose fragment for that node changed (a republish with the same score changes
nothing), and all when the node's neutral reason changed (the counts are part of the answer).

Full-Node mode (``nodeCacheCapable: false``) builds a throw-away table from the request's
Nodes; decoding annotation strings is memoised in ``AssessmentMemo`` (bounded), because the
same strings arrive in every request until the agent republishes.

Invariants: every name in the request gets exactly one fragment, in request order (unknown
names score neutral); no method raises on any table content.
"""

from __future__ import annotations

import math
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


def make_row(name: str, assessment: Assessment) -> Row:
    prefix = host_prefix(name)
    neutral = prefix + NEUTRAL_SUFFIX
    if isinstance(assessment, NeutralReason):
        fragments = tuple(neutral for _ in Tier)
    else:
        fragments = tuple(prefix + SCORE_SUFFIX[assessment.score(PodDemand(t, 0))] for t in Tier)
    return Row(prefix, assessment, fragments, neutral)


def annotation_key(annotations: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    return (annotations.get(TIER_LOAD_KEY), annotations.get(ENFORCEMENT_KEY), annotations.get(SAFE_MODE_KEY))


class AssessmentMemo:
    """Bounded memo of ``assess`` keyed by the annotation strings (cleared when full)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._memo: dict[tuple[str | None, str | None, str | None], Assessment] = {}

    def __call__(self, annotations: Mapping[str, str]) -> Assessment:
        key = annotation_key(annotations)
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
MAX_CRITICAL_VIEWS = 16
"""Critical views are cached per distinct request (replicas of one Deployment share it)."""
MAX_CACHED_ANSWERS = 32
"""Cached answers over all views; at 5,000 nodes one is ~150 KiB of body plus its ~65 KiB key."""


class NodeTable:
    """name -> Row, plus per-tier *views* name -> finished fragment. A ``NodeSink`` for the watch.

    Views are valid for an interval of ``now`` (computed when they are swept: no node changes
    freshness inside it), so a request is ``list(map(view.get, names))`` — C-level, no Python
    per node — and a sweep (O(nodes)) happens only when some node crosses its staleness edge.
    ``upsert``/``delete`` update every live view in place (O(views)).
    """

    def __init__(self, memo: AssessmentMemo | None = None) -> None:
        self._rows: dict[str, Row] = {}
        self._memo = memo or AssessmentMemo()
        self._views: dict[ViewKey, dict[str, bytes]] = {}
        self._neutral: dict[str, NeutralReason] = {}
        self._answers: dict[tuple[ViewKey, bytes], Answer] = {}
        self._now: float | None = None
        self._stale_after_s = 0.0
        self._lo = math.inf
        self._hi = -math.inf

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    @classmethod
    def of(cls, nodes: Iterable[NodeMeta], memo: AssessmentMemo | None = None) -> NodeTable:
        table = cls(memo)
        for node in nodes:
            table._rows[node.name] = make_row(node.name, table._memo(node.annotations))
        return table

    # NodeSink
    def replace(self, nodes: list[NodeMeta]) -> None:
        self._rows = NodeTable.of(nodes, self._memo)._rows
        self._invalidate()

    def upsert(self, node: NodeMeta) -> None:
        row = self._rows[node.name] = make_row(node.name, self._memo(node.annotations))
        if self._now is not None:
            self._apply(node.name, row)

    def delete(self, name: str) -> None:
        self._rows.pop(name, None)
        self._neutral.pop(name, None)
        self._answers.clear()
        for view in self._views.values():
            view.pop(name, None)

    def assessment(self, name: str) -> Assessment:
        row = self._rows.get(name)
        return NeutralReason.UNKNOWN_NODE if row is None else row.assessment

    # Views
    def _invalidate(self) -> None:
        self._now, self._lo, self._hi = None, math.inf, -math.inf
        self._views.clear()
        self._neutral.clear()
        self._answers.clear()

    def _forget_answers(self, key: ViewKey) -> None:
        for cached in [k for k in self._answers if k[0] == key]:
            del self._answers[cached]

    def _fragment(self, name: str, row: Row, key: ViewKey) -> bytes:
        facts = row.assessment
        if name in self._neutral or type(facts) is not NodeFacts:
            return row.neutral
        if key[0] is Tier.CRITICAL:
            return row.prefix + SCORE_SUFFIX[facts.score(PodDemand(*key))]
        return row.fragments[key[0]]

    def _apply(self, name: str, row: Row) -> None:
        """Bring one row into the views as of the sweep time, narrowing the validity interval."""
        assert self._now is not None
        facts, now, window = row.assessment, self._now, self._stale_after_s
        was_neutral = self._neutral.get(name)
        if type(facts) is not NodeFacts:
            self._neutral[name] = facts  # type: ignore[assignment]  # narrowed by the type() check
        elif now < facts.timestamp - window:
            self._neutral[name] = NeutralReason.STALE
            self._hi = min(self._hi, math.nextafter(facts.timestamp - window, -math.inf))
        elif now > facts.timestamp + window:
            self._neutral[name] = NeutralReason.STALE
            self._lo = max(self._lo, math.nextafter(facts.timestamp + window, math.inf))
        else:
            self._neutral.pop(name, None)
            self._lo = max(self._lo, facts.timestamp - window)
            self._hi = min(self._hi, facts.timestamp + window)
        if self._answers and self._neutral.get(name) is not was_neutral:
            self._answers.clear()
        for key, view in self._views.items():
            fragment = self._fragment(name, row, key)
            if self._answers and view.get(name) != fragment:
                self._forget_answers(key)
            view[name] = fragment

    def _sweep(self, now: float, stale_after_s: float) -> None:
        self._invalidate()
        self._now, self._stale_after_s, self._lo, self._hi = now, stale_after_s, -math.inf, math.inf
        self._views.update({(t, 0): {} for t in Tier if t is not Tier.CRITICAL})
        for name, row in self._rows.items():
            self._apply(name, row)

    def _view(self, demand: PodDemand, now: float, stale_after_s: float) -> dict[str, bytes]:
        if self._now is None or stale_after_s != self._stale_after_s or not self._lo <= now <= self._hi:
            self._sweep(now, stale_after_s)
        key = self._view_key(demand)
        view = self._views.get(key)
        if view is None:
            cached = [k for k in self._views if k[0] is Tier.CRITICAL]
            if len(cached) >= MAX_CRITICAL_VIEWS:
                del self._views[cached[0]]
                self._forget_answers(cached[0])
            view = self._views[key] = {name: self._fragment(name, row, key) for name, row in self._rows.items()}
        return view

    def _view_key(self, demand: PodDemand) -> ViewKey:
        critical = demand.tier is Tier.CRITICAL
        return (demand.tier, demand.cpu_request_milli if critical else 0)

    def prioritize(self, names: list[str], demand: PodDemand, now: float, stale_after_s: float,
                   key: bytes | None = None) -> Answer:
        """The HostPriorityList for ``names``, encoded, from the views (see the class docstring).

        ``key``: bytes that identify ``names`` exactly (equal keys, equal lists), to answer a
        repeated list from the answer cache. The returned ``Answer`` may be shared: read-only.
        Neutral counts: unknown names per occurrence, known neutral nodes per distinct name."""
        view = self._view(demand, now, stale_after_s)
        if key is not None:
            cache_key = (self._view_key(demand), key)
            cached = self._answers.get(cache_key)
            if cached is None:
                cached = self._answer(view, names)
                if len(self._answers) >= MAX_CACHED_ANSWERS:
                    del self._answers[next(iter(self._answers))]
                self._answers[cache_key] = cached
            return cached
        return self._answer(view, names)

    def _answer(self, view: dict[str, bytes], names: list[str]) -> Answer:
        parts: list[bytes | None] = list(map(view.get, names))
        neutral: Counter[NeutralReason] = Counter()
        if None in parts:
            for i, part in enumerate(parts):
                if part is None:
                    parts[i] = host_prefix(names[i]) + NEUTRAL_SUFFIX
                    neutral[NeutralReason.UNKNOWN_NODE] += 1
        if self._neutral:
            for name in self._neutral.keys() & names:
                neutral[self._neutral[name]] += 1
        return Answer(b"[" + b",".join(parts) + b"]", neutral)  # type: ignore[arg-type]  # Nones replaced above

    def prioritize_once(self, names: list[str], demand: PodDemand, now: float, stale_after_s: float) -> Answer:
        """One pass without views: for throw-away tables (full-Node mode), where building
        views would cost more than it saves. Same answer as ``prioritize``."""
        rows = self._rows
        neutral: Counter[NeutralReason] = Counter()
        parts: list[bytes] = []
        append = parts.append
        critical = demand.tier is Tier.CRITICAL
        index = int(demand.tier)
        oldest = now - stale_after_s
        newest = now + stale_after_s
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
            elif not oldest <= facts.timestamp <= newest:
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
