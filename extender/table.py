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

Full-Node mode (``nodeCacheCapable: false``) builds a throw-away table from the request's
Nodes; decoding annotation strings is memoised in ``AssessmentMemo`` (bounded), because the
same strings arrive in every request until the agent republishes.

Invariants: every name in the request gets exactly one fragment, in request order (unknown
names score neutral); no method raises on any table content.
"""

from __future__ import annotations

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


class NodeTable:
    """name -> Row. Implements ``temper.kube.nodecache.NodeSink`` for the watch."""

    def __init__(self, memo: AssessmentMemo | None = None) -> None:
        self._rows: dict[str, Row] = {}
        self._memo = memo or AssessmentMemo()

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    @classmethod
    def of(cls, nodes: Iterable[NodeMeta], memo: AssessmentMemo | None = None) -> NodeTable:
        table = cls(memo)
        for node in nodes:
            table.upsert(node)
        return table

    # NodeSink
    def replace(self, nodes: list[NodeMeta]) -> None:
        fresh = NodeTable.of(nodes, self._memo)
        self._rows = fresh._rows

    def upsert(self, node: NodeMeta) -> None:
        self._rows[node.name] = make_row(node.name, self._memo(node.annotations))

    def delete(self, name: str) -> None:
        self._rows.pop(name, None)

    def assessment(self, name: str) -> Assessment:
        row = self._rows.get(name)
        return NeutralReason.UNKNOWN_NODE if row is None else row.assessment

    def prioritize(self, names: list[str], demand: PodDemand, now: float, stale_after_s: float) -> Answer:
        """The HostPriorityList for ``names``, encoded (see module docstring)."""
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
