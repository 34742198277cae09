"""Per-thread CPU snapshot of a node's pods: the model, the top-K cut and the wire format.

Why it exists: a pod's cgroup says how much CPU the pod used, not which of its threads used
it; rightsizing and tier advice need the threads (issue 12). The node agent samples every
thread of every pod cgroup from procfs each scan (``nodeagent.threads``); this module is the
kernel-independent part every consumer shares: what a sample is, how a pod's thousands of
threads are cut to a bounded list, and the versioned ``/observe`` document
(``THREADS_SCHEMA``, documented field by field in ``docs/telemetry.md``).

Design:
- ``ThreadSample`` is one thread as procfs shows it: cumulative ``cpu_ns`` (time on CPU),
  ``wait_ns`` (time runnable but waiting on a runqueue) and ``timeslices`` (times it was
  scheduled in), all from ``/proc/<tid>/schedstat``, plus ``comm``, ``state`` and
  ``last_cpu`` from ``/proc/<tid>/stat``.
- ``top_k(threads, k)`` keeps the ``k`` threads with the most ``cpu_ns`` (ties: lower tid
  first, so the cut is deterministic) and sums the others into one ``ThreadRest``.
  Invariants (property-tested): shown + rest == all, for the thread count and every counter;
  at most ``k`` shown; shown sorted by ``cpu_ns`` descending; no rest thread has more
  ``cpu_ns`` than the least shown one.
- ``PodThreads`` keeps ``total == len(threads) + rest.threads``; ``truncated`` says the
  reader stopped at its per-pod cap, so threads beyond it are in neither.
- ``snapshot_to_dict`` / ``snapshot_from_dict`` are the wire format (JSON and CBOR alike);
  ``snapshot_from_dict`` validates everything above and raises ``ThreadsSchemaError``.

Versioning: ``temper.threads/v1``. Adding a field keeps v1 (readers ignore keys they do not
know); renaming, removing or changing the meaning or unit of a field bumps the version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

THREADS_SCHEMA = "temper.threads/v1"
DEFAULT_TOP_K = 10
"""Threads shown per pod: enough for the busy workers of a typical service; the rest is one
aggregate, so a pod's metric series stay at ``DEFAULT_TOP_K + 1`` per family."""


class ThreadsSchemaError(ValueError):
    """A document that is not a valid ``temper.threads/v1`` snapshot (the message says where)."""


@dataclass(frozen=True)
class ThreadSample:
    tid: int
    comm: str
    container: str | None
    """The container cgroup's directory name (a child of the pod cgroup); None: the pod cgroup itself."""
    state: str
    """``/proc/<tid>/stat`` field 3: R running, S sleeping, D disk sleep, ..."""
    cpu_ns: int
    wait_ns: int
    timeslices: int
    last_cpu: int
    """``/proc/<tid>/stat`` field 39: the CPU the thread last ran on."""


@dataclass(frozen=True)
class ThreadRest:
    """The threads not shown, summed."""

    threads: int = 0
    cpu_ns: int = 0
    wait_ns: int = 0
    timeslices: int = 0


@dataclass(frozen=True)
class PodThreads:
    total: int
    truncated: bool
    threads: tuple[ThreadSample, ...]
    rest: ThreadRest

    @property
    def shown(self) -> int:
        return len(self.threads)


@dataclass(frozen=True)
class ThreadSnapshot:
    taken_at: float
    """Unix time of the read, in seconds; 0.0: not read yet."""
    top_k: int = DEFAULT_TOP_K
    pods: Mapping[str, PodThreads] = field(default_factory=dict)
    """Pod uid -> its threads."""
    errors: Mapping[str, str] = field(default_factory=dict)
    """Pod uid -> why (part of) its threads could not be read; the pod may still be in ``pods``."""
    vanished: int = 0
    """Threads (and cgroups) that went away between being listed and being read."""


def _rank(sample: ThreadSample) -> tuple[int, int]:
    return -sample.cpu_ns, sample.tid


def top_k(threads: Iterable[ThreadSample], k: int) -> tuple[tuple[ThreadSample, ...], ThreadRest]:
    """The ``k`` threads with the most ``cpu_ns`` (descending, ties by tid) and the sum of the rest."""
    if k < 0:
        raise ValueError(f"top_k needs k >= 0, not {k}")
    ranked = sorted(threads, key=_rank)
    others = ranked[k:]
    rest = ThreadRest(threads=len(others), cpu_ns=sum(t.cpu_ns for t in others),
                      wait_ns=sum(t.wait_ns for t in others), timeslices=sum(t.timeslices for t in others))
    return tuple(ranked[:k]), rest


def pod_threads(threads: Iterable[ThreadSample], k: int, truncated: bool = False) -> PodThreads:
    shown, rest = top_k(threads, k)
    return PodThreads(total=len(shown) + rest.threads, truncated=truncated, threads=shown, rest=rest)


# -- wire format ------------------------------------------------------------------------------
class ThreadDict(TypedDict):
    tid: int
    comm: str
    container: str | None
    state: str
    cpu_ns: int
    wait_ns: int
    timeslices: int
    last_cpu: int


class RestDict(TypedDict):
    threads: int
    cpu_ns: int
    wait_ns: int
    timeslices: int


class PodThreadsDict(TypedDict):
    total: int
    shown: int
    truncated: bool
    threads: list[ThreadDict]
    rest: RestDict


class ThreadsDocument(TypedDict):
    schema: str
    taken_at: float
    top_k: int
    pods: dict[str, PodThreadsDict]
    errors: dict[str, str]
    vanished: int


_COUNTERS = ("cpu_ns", "wait_ns", "timeslices")


def _thread_dict(t: ThreadSample) -> ThreadDict:
    return {"tid": t.tid, "comm": t.comm, "container": t.container, "state": t.state, "cpu_ns": t.cpu_ns,
            "wait_ns": t.wait_ns, "timeslices": t.timeslices, "last_cpu": t.last_cpu}


def snapshot_to_dict(snapshot: ThreadSnapshot) -> ThreadsDocument:
    pods: dict[str, PodThreadsDict] = {}
    for uid, pod in snapshot.pods.items():
        rest = pod.rest
        pods[uid] = {"total": pod.total, "shown": pod.shown, "truncated": pod.truncated,
                     "threads": [_thread_dict(t) for t in pod.threads],
                     "rest": {"threads": rest.threads, "cpu_ns": rest.cpu_ns, "wait_ns": rest.wait_ns,
                              "timeslices": rest.timeslices}}
    return {"schema": THREADS_SCHEMA, "taken_at": snapshot.taken_at, "top_k": snapshot.top_k, "pods": pods,
            "errors": dict(snapshot.errors), "vanished": snapshot.vanished}


def _field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ThreadsSchemaError(f"{where}: missing {key!r}")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int subclass: a count of True is a type error, not 1.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ThreadsSchemaError(f"{where}.{key}: expected {'/'.join(k.__name__ for k in kinds)}, "
                                 f"got {type(value).__name__}")
    return value


def _count(obj: Mapping[str, Any], key: str, where: str) -> int:
    value: int = _field(obj, key, int, where)
    if value < 0:
        raise ThreadsSchemaError(f"{where}.{key}: negative ({value})")
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ThreadsSchemaError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _thread_from(obj: object, where: str) -> ThreadSample:
    t = _mapping(obj, where)
    container = t.get("container")
    if "container" not in t or not (container is None or isinstance(container, str)):
        raise ThreadsSchemaError(f"{where}.container: expected str or null")
    return ThreadSample(tid=_count(t, "tid", where), comm=_field(t, "comm", str, where), container=container,
                        state=_field(t, "state", str, where), cpu_ns=_count(t, "cpu_ns", where),
                        wait_ns=_count(t, "wait_ns", where), timeslices=_count(t, "timeslices", where),
                        last_cpu=_count(t, "last_cpu", where))


def _pod_from(obj: object, top: int, where: str) -> PodThreads:
    p = _mapping(obj, where)
    threads = tuple(_thread_from(t, f"{where}.threads[{i}]")
                    for i, t in enumerate(_field(p, "threads", list, where)))
    r = _mapping(_field(p, "rest", Mapping, where), f"{where}.rest")
    rest = ThreadRest(**{key: _count(r, key, f"{where}.rest") for key in ("threads", *_COUNTERS)})
    pod = PodThreads(total=_count(p, "total", where), truncated=_field(p, "truncated", bool, where),
                     threads=threads, rest=rest)
    if _count(p, "shown", where) != pod.shown:
        raise ThreadsSchemaError(f"{where}.shown: {p['shown']} but {pod.shown} threads listed")
    if pod.shown > top:
        raise ThreadsSchemaError(f"{where}: {pod.shown} threads shown, top_k is {top}")
    if pod.total != pod.shown + rest.threads:
        raise ThreadsSchemaError(f"{where}.total: {pod.total} != shown {pod.shown} + rest {rest.threads}")
    if list(threads) != sorted(threads, key=_rank):
        raise ThreadsSchemaError(f"{where}.threads: not sorted by cpu_ns descending")
    if len({t.tid for t in threads}) != len(threads):
        raise ThreadsSchemaError(f"{where}.threads: a tid listed twice")
    return pod


def snapshot_from_dict(document: object) -> ThreadSnapshot:
    """Validate a ``temper.threads/v1`` document (unknown keys are ignored: additive fields keep v1)."""
    d = _mapping(document, "threads")
    if d.get("schema") != THREADS_SCHEMA:
        raise ThreadsSchemaError(f"threads.schema: expected {THREADS_SCHEMA!r}, got {d.get('schema')!r}")
    taken_at = float(_field(d, "taken_at", (int, float), "threads"))
    if not math.isfinite(taken_at) or taken_at < 0:
        raise ThreadsSchemaError(f"threads.taken_at: not a unix time ({taken_at})")
    top = _count(d, "top_k", "threads")
    pods = {str(uid): _pod_from(p, top, f"threads.pods[{uid!r}]")
            for uid, p in _mapping(_field(d, "pods", Mapping, "threads"), "threads.pods").items()}
    errors = _mapping(d.get("errors", {}), "threads.errors")
    if not all(isinstance(v, str) for v in errors.values()):
        raise ThreadsSchemaError("threads.errors: every value must be a string")
    vanished = _count(d, "vanished", "threads") if "vanished" in d else 0
    return ThreadSnapshot(taken_at=taken_at, top_k=top, pods=pods, errors={str(k): v for k, v in errors.items()},
                          vanished=vanished)
