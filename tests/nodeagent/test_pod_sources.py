"""Pods reach the agent from a kubectl-JSON file or from the API server's list+watch.

The API server is faked over real HTTP: an aiohttp application serving the API's JSON
(``tests/nodeagent/fakes.py``); the real ``temper.kube`` client and reflector talk to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from nodeagent.podsource import ApiPodSource, FilePodSource, PodStore, pods_path_params
from temper.kube.client import ApiClient, ApiConfig
from temper.tiers import Tier
from tests.core.factories import pod
from tests.nodeagent.fakes import FakeApiState, fake_api


def _write(path: Path, pods: list[dict[str, Any]], bump: int = 0) -> None:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_the_file_source_decodes_kubectl_json_and_skips_malformed_pods(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    broken = pod("broken")
    broken["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "lots"}}
    _write(path, [pod("db", priority_class="infera-critical"), broken, pod("web")])
    source = FilePodSource(path)
    assert source.refresh()
    snap = source.snapshot()
    assert sorted(p.name for p in snap.pods) == ["db", "web"]
    assert len(snap.errors) == 1 and "default/broken" in snap.errors[0]
    assert {p.tier for p in snap.pods} == {Tier.CRITICAL, Tier.NORMAL}


def test_the_file_source_rereads_only_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    _write(path, [pod("a")])
    source = FilePodSource(path)
    source.refresh()
    generation = source.snapshot().generation
    assert not source.refresh()
    _write(path, [pod("a"), pod("b")], bump=1)
    assert source.refresh()
    assert source.snapshot().generation == generation + 1
    assert len(source.snapshot().pods) == 2


def test_a_malformed_file_keeps_the_last_good_pods_and_reports_why(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    _write(path, [pod("a"), pod("b")])
    source = FilePodSource(path)
    source.refresh()
    path.write_text('{"items": [')
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 2_000_000_000))
    assert not source.refresh()
    snap = source.snapshot()
    assert len(snap.pods) == 2
    assert "malformed" in snap.source_error
    _write(path, [pod("c")], bump=3)
    source.refresh()
    assert source.snapshot().source_error == ""
    assert [p.name for p in source.snapshot().pods] == ["c"]


def test_a_missing_file_is_an_error_not_an_empty_node(tmp_path: Path) -> None:
    source = FilePodSource(tmp_path / "absent.json")
    assert not source.refresh()
    snap = source.snapshot()
    assert not snap.synced and snap.pods == () and "cannot stat" in snap.source_error


def test_the_file_source_keeps_only_pods_of_its_node_when_named(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    _write(path, [pod("here", node="node-a"), pod("there", node="node-b")])
    source = FilePodSource(path, node_name="node-a")
    source.refresh()
    assert [p.name for p in source.snapshot().pods] == ["here"]


def test_store_events_add_modify_and_delete_pods() -> None:
    store = PodStore("node-a")
    first = pod("a", uid="11111111-1111-1111-1111-111111111111")
    store.replace([first])
    modified = json.loads(json.dumps(first))
    modified["spec"]["priorityClassName"] = "infera-low"
    store.event("MODIFIED", modified)
    assert store.decoded()[0][0].tier is Tier.LOW
    store.event("DELETED", modified)
    assert store.decoded()[0] == ()


def test_pods_are_listed_with_a_node_field_selector() -> None:
    assert pods_path_params("node-a") == ("/api/v1/pods", {"fieldSelector": "spec.nodeName=node-a"})
    with pytest.raises(ValueError):
        pods_path_params("")


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeApiState, ApiClient]]:
    state = FakeApiState()
    server = TestServer(fake_api(state))
    await server.start_server()
    async with ApiClient(ApiConfig(base_url=str(server.make_url("")).rstrip("/"))) as client:
        yield state, client
    await server.close()


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_the_api_source_lists_then_follows_watch_events(api: tuple[FakeApiState, ApiClient]) -> None:
    state, client = api
    state.pods = [pod("a")]
    late = pod("late", priority_class="infera-high")
    state.watch_scripts = [[{"type": "ADDED", "object": late}], []]
    errors: list[Exception] = []
    source = ApiPodSource(client, "node-a", errors.append)
    task = asyncio.create_task(source.run())
    try:
        await _until(lambda: len(source.snapshot().pods) == 2)
        assert source.snapshot().synced
        selectors = {q.get("fieldSelector") for _, _, q in state.requests}
        assert selectors == {"spec.nodeName=node-a"}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_410_mid_watch_relists_and_a_500_on_list_is_retried(api: tuple[FakeApiState, ApiClient]) -> None:
    state, client = api
    state.pods = [pod("a")]
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}
    state.watch_scripts = [[{"type": "ADDED", "object": pod("b")}, gone], []]
    state.list_failures = 0
    errors: list[Exception] = []
    source = ApiPodSource(client, "node-a", errors.append)
    task = asyncio.create_task(source.run())
    try:
        await _until(lambda: len(errors) == 1)
        # After 410 the reflector re-lists: the server's list (without "b") replaces the set.
        await _until(lambda: [p.name for p in source.snapshot().pods] == ["a"])
        assert sum(1 for _, _, q in state.requests if "watch" not in q) == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_500_on_list_is_reported_and_retried_until_it_succeeds(
        api: tuple[FakeApiState, ApiClient]) -> None:
    state, client = api
    state.pods = [pod("a")]
    state.list_failures = 1
    errors: list[Exception] = []
    source = ApiPodSource(client, "node-a", errors.append)
    task = asyncio.create_task(source.run())
    try:
        await _until(lambda: source.snapshot().synced)
        assert len(errors) == 1 and "500" in str(errors[0])
        assert [p.name for p in source.snapshot().pods] == ["a"]
        assert source.snapshot().source_error == ""
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_a_snapshot_sees_a_changed_file_without_a_background_poll(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    _write(path, [pod("a")])
    source = FilePodSource(path, poll_s=0.0)
    assert [p.name for p in source.snapshot().pods] == ["a"]
    _write(path, [pod("a"), pod("b")], bump=1)
    assert sorted(p.name for p in source.snapshot().pods) == ["a", "b"]
