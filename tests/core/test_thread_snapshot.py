"""The per-thread snapshot's top-K cut keeps totals exact, and its temper.threads/v1 document
round-trips and rejects what is not a valid snapshot."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper.threadsnap import (
    THREADS_SCHEMA,
    ThreadSample,
    ThreadSnapshot,
    ThreadsSchemaError,
    pod_threads,
    snapshot_from_dict,
    snapshot_to_dict,
    top_k,
)

counters = st.integers(min_value=0, max_value=2**62)


@st.composite
def thread_lists(draw: st.DrawFn, max_size: int = 60) -> list[ThreadSample]:
    tids = draw(st.lists(st.integers(min_value=1, max_value=4_194_304), unique=True, max_size=max_size))
    # Few distinct cpu_ns values, so ties (broken by tid) are common.
    cpu = st.sampled_from([0, 1, 5, 10**9]) | counters
    return [ThreadSample(tid=tid, comm=draw(st.text(max_size=15)), container=draw(st.none() | st.text(max_size=8)),
                         state=draw(st.sampled_from("RSDIZT")), cpu_ns=draw(cpu), wait_ns=draw(counters),
                         timeslices=draw(counters), last_cpu=draw(st.integers(0, 1023))) for tid in tids]


@given(thread_lists(), st.integers(min_value=0, max_value=70))
def test_top_k_keeps_every_total_exact(threads: list[ThreadSample], k: int) -> None:
    shown, rest = top_k(threads, k)
    assert len(shown) + rest.threads == len(threads)
    for name in ("cpu_ns", "wait_ns", "timeslices"):
        assert sum(getattr(t, name) for t in shown) + getattr(rest, name) == sum(getattr(t, name) for t in threads)


@given(thread_lists(), st.integers(min_value=0, max_value=70))
def test_top_k_shows_at_most_k_of_the_busiest_in_descending_order(threads: list[ThreadSample], k: int) -> None:
    shown, _ = top_k(threads, k)
    assert len(shown) == min(k, len(threads))
    assert [t.cpu_ns for t in shown] == sorted((t.cpu_ns for t in shown), reverse=True)
    hidden = [t for t in threads if t not in shown]
    if shown and hidden:
        assert max(t.cpu_ns for t in hidden) <= shown[-1].cpu_ns
    assert set(shown) <= set(threads)


@given(thread_lists())
def test_top_k_is_independent_of_the_input_order(threads: list[ThreadSample]) -> None:
    assert top_k(threads, 5) == top_k(list(reversed(threads)), 5)


def test_ties_are_broken_by_the_lower_tid() -> None:
    threads = [ThreadSample(tid, "w", None, "R", 100, 0, 1, 0) for tid in (30, 10, 20)]
    shown, rest = top_k(threads, 2)
    assert [t.tid for t in shown] == [10, 20] and rest.threads == 1 and rest.cpu_ns == 100


def test_a_negative_k_is_refused() -> None:
    with pytest.raises(ValueError, match="k >= 0"):
        top_k([], -1)


@st.composite
def snapshots(draw: st.DrawFn) -> ThreadSnapshot:
    k = draw(st.integers(min_value=0, max_value=12))
    uids = draw(st.lists(st.uuids().map(str), unique=True, max_size=4))
    pods = {uid: pod_threads(draw(thread_lists(max_size=20)), k, draw(st.booleans())) for uid in uids}
    errors = {uid: draw(st.text(max_size=30)) for uid in uids if draw(st.booleans())}
    return ThreadSnapshot(taken_at=draw(st.floats(min_value=0, max_value=4e9)), top_k=k, pods=pods,
                          errors=errors, vanished=draw(st.integers(0, 1000)))


@given(snapshots())
def test_the_document_round_trips_through_json(snapshot: ThreadSnapshot) -> None:
    document = json.loads(json.dumps(snapshot_to_dict(snapshot)))
    assert snapshot_from_dict(document) == snapshot


@given(snapshots())
def test_every_pod_entry_keeps_shown_plus_rest_equal_to_total(snapshot: ThreadSnapshot) -> None:
    for entry in snapshot_to_dict(snapshot)["pods"].values():
        assert entry["shown"] == len(entry["threads"]) <= snapshot.top_k
        assert entry["total"] == entry["shown"] + entry["rest"]["threads"]


def _document() -> dict[str, Any]:
    threads = [ThreadSample(7, "java", "app", "R", 900, 5, 3, 1), ThreadSample(8, "gc", None, "S", 100, 1, 2, 0),
               ThreadSample(9, "idle", "app", "S", 1, 0, 1, 0)]
    snapshot = ThreadSnapshot(taken_at=1.5, top_k=2, pods={"uid-a": pod_threads(threads, 2)})
    return copy.deepcopy(dict(snapshot_to_dict(snapshot)))


def test_the_document_has_the_v1_shape() -> None:
    document = _document()
    assert document["schema"] == THREADS_SCHEMA == "temper.threads/v1"
    assert document["pods"]["uid-a"] == {
        "total": 3, "shown": 2, "truncated": False,
        "threads": [{"tid": 7, "comm": "java", "container": "app", "state": "R", "cpu_ns": 900, "wait_ns": 5,
                     "timeslices": 3, "last_cpu": 1},
                    {"tid": 8, "comm": "gc", "container": None, "state": "S", "cpu_ns": 100, "wait_ns": 1,
                     "timeslices": 2, "last_cpu": 0}],
        "rest": {"threads": 1, "cpu_ns": 1, "wait_ns": 0, "timeslices": 1}}


def test_unknown_fields_are_ignored_additive_fields_keep_v1() -> None:
    document = _document()
    document["preemptions"] = {}
    document["pods"]["uid-a"]["threads"][0]["migrations"] = 4
    assert snapshot_from_dict(document).pods["uid-a"].total == 3


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = _document()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(("path", "value", "message"), [
    (("schema",), "temper.threads/v2", "schema"),
    (("taken_at",), "now", "taken_at"),
    (("taken_at",), float("nan"), "taken_at"),
    (("top_k",), -1, "negative"),
    (("pods", "uid-a", "total"), 4, "total"),
    (("pods", "uid-a", "shown"), 3, "shown"),
    (("pods", "uid-a", "truncated"), 0, "truncated"),
    (("pods", "uid-a", "threads", 0, "cpu_ns"), 1, "not sorted"),
    (("pods", "uid-a", "threads", 1, "tid"), 7, "twice"),
    (("pods", "uid-a", "threads", 0, "tid"), True, "tid"),
    (("pods", "uid-a", "threads", 0, "container"), 3, "container"),
    (("pods", "uid-a", "rest", "cpu_ns"), -1, "negative"),
    (("top_k",), 1, "top_k is 1"),
    (("errors",), {"uid-a": 3}, "errors"),
])
def test_invalid_documents_are_refused_with_the_place(path: tuple[Any, ...], value: Any, message: str) -> None:
    with pytest.raises(ThreadsSchemaError, match=message):
        snapshot_from_dict(_set(path, value))


def test_a_missing_field_is_named() -> None:
    document = _document()
    del document["pods"]["uid-a"]["threads"][0]["comm"]
    with pytest.raises(ThreadsSchemaError, match=r"threads\[0\]: missing 'comm'"):
        snapshot_from_dict(document)
