"""Drain: preview (evictions, PDB blockers, skipped pods), dry run, the Eviction API on the wire,
PDB 429 retried until the deadline, the partial result, one drain per node at a time (409).

Against the fake API server (``tests.console.fakeapi``; there is no kube-apiserver here), which
answers evictions as the real one does: 429 when a matching PDB has no disruption left, else
the pod is deleted and one allowed disruption is spent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.console.actions_harness import AiohttpClient, Harness, start
from tests.console.fakeapi import make_pod

NODE = "node-00001"
DRAIN = f"/api/v1/clusters/local/nodes/{NODE}/drain"


def fleet(harness: Harness, allowed: int) -> None:
    """On NODE: three ``web`` pods under a PDB allowing ``allowed``, a DaemonSet pod, a finished pod."""
    for pod in [k for k, p in harness.api.objects["pods"].items() if p["spec"]["nodeName"] == NODE]:
        harness.api.delete("pods", *pod)
    for i in range(3):
        harness.api.put("pods", make_pod("shop", f"web-{i}", NODE, i, labels={"app": "web"}))
    harness.api.put("pods", make_pod("kube-system", "agent-x", NODE, owner=("DaemonSet", "agent")))
    done = make_pod("shop", "job-1", NODE)
    done["status"]["phase"] = "Succeeded"
    harness.api.put("pods", done)
    harness.api.put("poddisruptionbudgets", {
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": 1},
        "status": {"disruptionsAllowed": allowed}})


def on_node(harness: Harness) -> list[str]:
    return sorted(f"{ns}/{n}" for (ns, n), p in harness.api.objects["pods"].items() if p["spec"]["nodeName"] == NODE)


async def test_preview_lists_evictions_pdb_blockers_and_skipped_pods(aiohttp_client: AiohttpClient,
                                                                     tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        fleet(harness, allowed=1)
        status, preview = await harness.call("get", DRAIN, "operator")
        assert status == 200
        assert preview["evictions"] == ["shop/web-0"]
        assert [(b["pod"], b["pdb"]) for b in preview["blockers"]] == [("shop/web-1", "shop/web"),
                                                                       ("shop/web-2", "shop/web")]
        assert {s["pod"]: s["reason"] for s in preview["skipped"]} == {
            "kube-system/agent-x": "DaemonSet-managed", "shop/job-1": "finished"}
        assert (await harness.call("get", "/api/v1/clusters/local/nodes/nope/drain", "operator"))[0] == 404
    finally:
        await stop()


async def test_dry_run_changes_nothing_and_says_what_would_happen(aiohttp_client: AiohttpClient,
                                                                  tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        fleet(harness, allowed=5)
        before = on_node(harness)
        status, result = await harness.call("post", DRAIN, "operator", {"dry_run": True, "timeout_seconds": 2})
        assert status == 200 and result["result"] == "dry-run" and not result["partial"]
        assert result["evicted"] == ["shop/web-0", "shop/web-1", "shop/web-2"]
        assert on_node(harness) == before
        assert not harness.api.objects["nodes"][("", NODE)]["spec"].get("unschedulable")
        assert harness.api.objects["poddisruptionbudgets"][("shop", "web")]["status"]["disruptionsAllowed"] == 5
        assert all(e["deleteOptions"] == {"dryRun": ["All"]} for e in harness.api.evictions)
    finally:
        await stop()


async def test_a_pdb_holds_pods_back_until_the_deadline_and_the_result_is_partial(aiohttp_client: AiohttpClient,
                                                                                  tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        fleet(harness, allowed=1)
        status, result = await harness.call("post", DRAIN, "operator", {"timeout_seconds": 0.5})
        assert status == 200 and result["result"] == "partial" and result["partial"] is True
        assert result["evicted"] == ["shop/web-0"] and result["pending"] == []
        assert [b["pod"] for b in result["blocked"]] == ["shop/web-1", "shop/web-2"]
        assert all("disruption budget" in b["reason"] for b in result["blocked"])
        assert on_node(harness) == ["kube-system/agent-x", "shop/job-1", "shop/web-1", "shop/web-2"]
        assert harness.api.objects["nodes"][("", NODE)]["spec"]["unschedulable"] is True
        first: dict[str, Any] = harness.api.evictions[0]
        assert first == {"apiVersion": "policy/v1", "kind": "Eviction",
                         "metadata": {"name": "web-0", "namespace": "shop"}}
        assert len(harness.api.evictions) > 3, "blocked pods were retried"
        cordon = [p for p in harness.api.patches if p[1] == f"/api/v1/nodes/{NODE}"]
        assert cordon[0] == ("application/merge-patch+json", f"/api/v1/nodes/{NODE}", {"spec": {"unschedulable": True}})
    finally:
        await stop()


async def test_blocked_pods_are_evicted_once_the_budget_refills(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        fleet(harness, allowed=1)

        async def replacements_become_ready() -> None:
            await asyncio.sleep(0.2)
            pdb = harness.api.objects["poddisruptionbudgets"][("shop", "web")]
            pdb["status"]["disruptionsAllowed"] = 2
            harness.api.put("poddisruptionbudgets", pdb)

        refill = asyncio.create_task(replacements_become_ready())
        status, result = await harness.call("post", DRAIN, "operator", {"timeout_seconds": 5})
        await refill
        assert status == 200 and result["result"] == "ok" and not result["partial"]
        assert result["evicted"] == ["shop/web-0", "shop/web-1", "shop/web-2"]
        assert on_node(harness) == ["kube-system/agent-x", "shop/job-1"]
    finally:
        await stop()


async def test_only_one_drain_per_node_at_a_time(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        fleet(harness, allowed=0)
        first = asyncio.create_task(harness.call("post", DRAIN, "operator", {"timeout_seconds": 1}))
        await asyncio.sleep(0.2)
        second = await harness.call("post", DRAIN, "admin", {"timeout_seconds": 1})
        other = await harness.call("post", "/api/v1/clusters/local/nodes/node-00002/drain", "admin",
                                   {"dry_run": True, "timeout_seconds": 1})
        status, result = await first
        assert second[0] == 409 and second[1]["error"]["code"] == "drain-running"
        assert other[0] == 200, "another node drains in parallel"
        assert status == 200 and result["partial"] and len(result["blocked"]) == 3
        again = await harness.call("post", DRAIN, "operator", {"dry_run": True, "timeout_seconds": 1})
        assert again[0] == 200, "the lock is released when the drain ends"
        results = [r["result"] for r in harness.echoed()]
        assert results.count("failed") == 2  # the 409 and the partial drain
    finally:
        await stop()
