"""A sequence of ``/observe`` documents as per-pod time series (the engine's only input model).

Why it exists: ``/observe`` is a snapshot; rightsizing needs series. This module is the one
reader of the document for that purpose, lenient where agents differ and strict where a
document cannot be used at all.

- ``Document(taken_at, source, body)``: one snapshot, the time it describes (the fetch time;
  the CLI stamps it) and which agent it came from.
- Pods are keyed by uid (unique cluster-wide, so documents from several agents merge).
  A pod entry without a uid, or with a non-numeric ``used_m``, is skipped and noted; a sample
  with ``used_m: null`` (the agent had no rate yet) keeps its counters but gives no usage.
- ``threads`` (``temper.threads/v1``, newer agents) is kept per pod as ``ThreadSnapshot``s at
  their own ``taken_at``; a document without it marks its source as thread-less, so the
  engine can say "older agent" rather than "no hot thread".

Errors: ``InputError`` (a ``ValueError``) when a document is not an object, has no ``pods``
list, or has a ``threads`` section that the agent's own decoder (``temper.threadsnap``: schema,
types, totals, ordering) rejects - one decoder for the wire format, here and in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from temper.threadsnap import ThreadSample, ThreadsSchemaError, snapshot_from_dict
from temper.threadsnap import ThreadSnapshot as ThreadsDoc


class InputError(ValueError):
    """A document (or an HPA / pod list) that cannot be used; the message says where."""


@dataclass(frozen=True)
class Document:
    taken_at: float
    source: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Throttling:
    nr_periods: int
    nr_throttled: int
    throttled_s: float


@dataclass(frozen=True)
class PodSample:
    t: float
    used_m: float | None
    request_m: int | None
    limit_m: int | None
    phase: str
    tier: str
    pressure_pct: float | None
    throttling: Throttling | None
    runqueue_p99_us: float | None = None
    """The scheduler's runqueue-wait p99 for the pod since it attached (``runqueue_wait``, newer
    agents; None: not reported, or the wait fell in the open last bucket)."""


@dataclass(frozen=True)
class ThreadSnapshot:
    t: float
    threads: tuple[ThreadSample, ...]
    rest_cpu_ns: int
    truncated: bool


@dataclass
class PodSeries:
    uid: str
    namespace: str
    name: str
    source: str
    samples: list[PodSample] = field(default_factory=list)
    threads: list[ThreadSnapshot] = field(default_factory=list)


@dataclass
class Observed:
    pods: dict[str, PodSeries] = field(default_factory=dict)
    first_t: dict[str, float] = field(default_factory=dict)
    """Source -> time of its first document (a pod first seen later started while observed)."""
    thread_sources: set[str] = field(default_factory=set)
    """Sources whose documents carry a ``threads`` section."""
    notes: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _throttling(value: Any) -> Throttling | None:
    if not isinstance(value, Mapping):
        return None
    periods, throttled = _int(value.get("nr_periods")), _int(value.get("nr_throttled"))
    seconds = _number(value.get("throttled_seconds"))
    if periods is None or throttled is None:
        return None
    return Throttling(periods, throttled, seconds or 0.0)


def _runqueue_p99(value: Any) -> float | None:
    return _number(value.get("p99_us")) if isinstance(value, Mapping) else None


def _threads(body: Mapping[str, Any], where: str) -> ThreadsDoc | None:
    """The document's ``threads`` section, decoded by the agent's own schema (temper.threadsnap)."""
    section = body.get("threads")
    if section is None:
        return None
    try:
        return snapshot_from_dict(section)
    except ThreadsSchemaError as exc:
        raise InputError(f"{where}: {exc}") from None


def observe(documents: Sequence[Document]) -> Observed:
    """Pure: the documents (any order, any agents) as per-pod series sorted by time."""
    result = Observed()
    for index, doc in enumerate(documents):
        where = f"document {index + 1} from {doc.source}"
        if not isinstance(doc.body, Mapping) or not isinstance(doc.body.get("pods"), list):
            raise InputError(f"{where}: not an /observe document (no pods list)")
        result.first_t[doc.source] = min(result.first_t.get(doc.source, doc.taken_at), doc.taken_at)
        threads = _threads(doc.body, where)
        if threads is not None:
            result.thread_sources.add(doc.source)
        for entry in doc.body["pods"]:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("uid"), str):
                result.notes.append(f"{where}: skipped a pod entry without a uid")
                continue
            used = entry.get("used_m")
            if used is not None and _number(used) is None:
                result.notes.append(f"{where}: skipped pod {entry['uid']}: used_m is not a number")
                continue
            uid = entry["uid"]
            series = result.pods.setdefault(uid, PodSeries(uid, str(entry.get("namespace", "")),
                                                           str(entry.get("name", uid)), doc.source))
            series.samples.append(PodSample(
                doc.taken_at, _number(used), _int(entry.get("request_m")), _int(entry.get("limit_m")),
                str(entry.get("phase", "")), str(entry.get("tier", "")), _number(entry.get("pressure_pct")),
                _throttling(entry.get("throttling")), _runqueue_p99(entry.get("runqueue_wait"))))
            pod_threads = threads.pods.get(uid) if threads is not None else None
            if threads is not None and pod_threads is not None:
                series.threads.append(ThreadSnapshot(threads.taken_at, pod_threads.threads, pod_threads.rest.cpu_ns,
                                                     pod_threads.truncated))
    for series in result.pods.values():
        by_time = {sample.t: sample for sample in series.samples}  # one document read twice counts once
        series.samples = [by_time[t] for t in sorted(by_time)]
        unique = {snap.t: snap for snap in series.threads}
        series.threads = [unique[t] for t in sorted(unique)]
    return result
