"""Audit: each mutation — allowed, denied, failed — is exactly one record, in SQLite and on stdout;
the log is hash-chained, append-only, survives a restart, prunes by retention, exports JSONL/CSV.

Against the fake API server (``tests.console.actions_harness``; no kube-apiserver here).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from console.audit import Entry
from console.store import Store
from tests.console.actions_harness import AiohttpClient, start

CORDON = "/api/v1/clusters/local/nodes/{}/cordon"


async def test_allowed_denied_and_failed_mutations_write_one_record_each(aiohttp_client: AiohttpClient,
                                                                         tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        assert (await harness.call("post", CORDON.format("node-00001"), "operator"))[0] == 200
        denied = await harness.call("post", CORDON.format("node-00002"), "viewer")
        missing = await harness.call("post", CORDON.format("node-99999"), "operator")
        bad_body = await harness.call("post", "/api/v1/clusters/local/nodes/node-00001/drain", "operator",
                                      {"timeout_seconds": -1})
        not_json = await harness.call("post", "/api/v1/clusters/local/nodes/node-00001/drain", "operator", "{")
        bad_name = await harness.call("post", CORDON.format("Node..%2F..%2Fx"), "operator")
        wrong_cluster = await harness.call("post", "/api/v1/clusters/elsewhere/nodes/node-00001/cordon", "admin")
        assert [denied[0], missing[0], bad_body[0], not_json[0], bad_name[0], wrong_cluster[0]] == \
            [403, 404, 400, 400, 400, 404]
        assert "timeout_seconds" in bad_body[1]["error"]["message"]
        status, page = await harness.call("get", "/api/v1/audit", "admin")
        assert status == 200 and page["chain_ok"] is True
        records = list(reversed(page["items"]))
        assert [(r["action"], r["result"], r["token"]) for r in records] == [
            ("cordon", "allowed", "boot-operator"), ("cordon", "denied", "boot-viewer"),
            ("cordon", "failed", "boot-operator"), ("drain", "failed", "boot-operator"),
            ("drain", "failed", "boot-operator"), ("cordon", "failed", "boot-operator"),
            ("cordon", "failed", "boot-admin")]
        allowed = records[0]
        assert allowed["target"] == "local/node/node-00001"
        assert allowed["previous"] == {"unschedulable": False} and allowed["parameters"] == {"unschedulable": True}
        assert records[1]["role"] == "viewer" and "needs role operator" in records[1]["detail"]
        assert "404" in records[2]["detail"]
        assert f"audit record {records[2]['id']}" in missing[1]["error"]["message"]
        assert harness.api.objects["nodes"][("", "node-00001")]["spec"]["unschedulable"] is True
        assert ("", "node-99999") not in harness.api.objects["nodes"]
        assert harness.echoed() == records, "stdout carries the same records as the store"
        reads_before = harness.audit_count()
        await harness.call("get", "/api/v1/clusters/local/nodes/node-00001/drain", "operator")
        await harness.call("get", "/api/v1/audit/export", "admin")
        assert harness.audit_count() == reads_before, "reads are not audited"
    finally:
        await stop()


async def test_an_upstream_failure_and_a_partial_drain_are_failed_records(aiohttp_client: AiohttpClient,
                                                                          tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        victim = next(k[1] for k, p in harness.api.objects["pods"].items() if p["spec"]["nodeName"] == "node-00002")
        harness.api.fail_evictions.add(victim)
        status, result = await harness.call("post", "/api/v1/clusters/local/nodes/node-00002/drain", "operator",
                                            {"timeout_seconds": 2})
        assert status == 200 and result["result"] == "partial" and result["partial"] is True
        assert [b["pod"].split("/")[1] for b in result["blocked"]] == [victim]
        assert "500" in result["blocked"][0]["reason"]
        (record,) = (await harness.call("get", "/api/v1/audit", "admin"))[1]["items"]
        assert record["id"] == result["audit_id"] and record["result"] == "failed"
        assert record["detail"].startswith("partial:") and record["previous"] == {"unschedulable": False}
        await harness.api.stop()
        status, body = await harness.call("post", CORDON.format("node-00003"), "operator")
        assert status == 502 and body["error"]["code"] == "upstream"
        assert harness.audit_count() == 2 and harness.echoed()[-1]["result"] == "failed"
    finally:
        await stop()


async def test_the_log_survives_a_restart_and_detects_tampering(aiohttp_client: AiohttpClient,
                                                                tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        for node in ("node-00000", "node-00001", "node-00002"):
            assert (await harness.call("post", CORDON.format(node), "operator"))[0] == 200
    finally:
        await stop()
    await harness.client.close()
    second, stop2 = await start(aiohttp_client, tmp_path)
    try:
        status, page = await second.call("get", "/api/v1/audit?limit=2", "admin")
        assert status == 200 and page["chain_ok"] and [r["id"] for r in page["items"]] == [3, 2]
        older = (await second.call("get", f"/api/v1/audit?limit=2&continue={page['continue']}", "admin"))[1]
        assert [r["id"] for r in older["items"]] == [1] and older["continue"] is None
        with sqlite3.connect(second.store_path) as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit SET detail = 'x' WHERE id = 2")
        with sqlite3.connect(second.store_path) as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit WHERE id = 2")
        with sqlite3.connect(second.store_path) as db:  # someone who drops the trigger first
            db.execute("DROP TRIGGER audit_no_update")
            db.execute("UPDATE audit SET target = 'local/node/other' WHERE id = 2")
        assert (await second.call("get", "/api/v1/audit?verify=full", "admin"))[1]["chain_ok"] is False
        assert (await second.call("get", "/api/v1/audit", "admin"))[1]["chain_ok"] is False, "stays reported"
        assert (await second.call("get", "/api/v1/audit?verify=yes", "admin"))[0] == 400
    finally:
        await stop2()


async def test_an_edit_of_the_newest_record_is_caught_without_a_full_check(tmp_path: Path) -> None:
    from console.audit import AuditLog

    log = AuditLog(Store(str(tmp_path / "a.db")), out=io.StringIO())
    for i in range(3):
        await log.append(Entry("t", "admin", "cordon", f"n{i}"))
    assert await log.verify()
    await log.append(Entry("t", "admin", "cordon", "n3"))
    with sqlite3.connect(tmp_path / "a.db") as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET detail = 'edited' WHERE id = 1")
    assert await log.verify(), "incremental: record 1 was verified before and is not re-hashed"
    assert not await log.verify(full=True)
    fresh = AuditLog(Store(str(tmp_path / "a.db")), out=io.StringIO())
    assert await fresh.verify() is False, "the first check of a process is a full one"
    second = tmp_path / "b.db"
    log = AuditLog(Store(str(second)), out=io.StringIO())
    for i in range(3):
        await log.append(Entry("t", "admin", "cordon", f"n{i}"))
    assert await log.verify()
    with sqlite3.connect(second) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET detail = 'edited' WHERE id = 3")
    assert not await log.verify(), "the newest verified record is re-read on every check"


def test_retention_prunes_old_records_and_the_chain_still_verifies(tmp_path: Path) -> None:
    from console.audit import build_record, verify_chain

    store = Store(str(tmp_path / "a.db"))
    for i in range(10):
        store.append_audit(lambda n, h, i=i: build_record(Entry("t", "admin", "cordon", f"n{i}"), n, h, 1000.0 + i))
    assert store.prune_audit(1005.0) == 5
    kept = [r for batch in store.audit_range(None, None) for r in batch]
    assert [r["id"] for r in kept] == [6, 7, 8, 9, 10]
    assert verify_chain(store.anchor(), kept) and not verify_chain("", kept)
    assert store.prune_audit(2000.0) == 5
    record = store.append_audit(lambda n, h: build_record(Entry("t", "admin", "cordon", "x"), n, h, 3000.0))
    assert record["id"] == 11 and verify_chain(store.anchor(), [record])
    assert store.schema_version() == 1


async def test_export_as_json_lines_and_csv_with_a_time_filter(aiohttp_client: AiohttpClient,
                                                               tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        times = iter([100.0, 200.0, 300.0])
        harness.plane.audit.clock = lambda: next(times)
        for node in ("node-00000", "node-00001", "node-00002"):
            await harness.call("post", CORDON.format(node), "operator")
        status, raw = await harness.call("get", "/api/v1/audit/export?since=150&until=300", "admin")
        lines = [json.loads(line) for line in raw.decode().splitlines()] if isinstance(raw, bytes) else [raw]
        assert status == 200 and [r["time"] for r in lines] == [200.0]
        async with harness.client.get("/api/v1/audit/export?format=csv",
                                      headers={"Authorization": "Bearer admin-secret"}) as response:
            assert response.headers["Content-Type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(await response.text())))
        assert [r["target"] for r in rows] == ["local/node/node-00000", "local/node/node-00001",
                                               "local/node/node-00002"]
        assert json.loads(rows[0]["parameters"]) == {"unschedulable": True}
        assert (await harness.call("get", "/api/v1/audit/export?format=xml", "admin"))[0] == 400
        assert (await harness.call("get", "/api/v1/audit/export?since=nan", "admin"))[0] == 400
        assert (await harness.call("get", "/api/v1/audit?limit=0", "admin"))[0] == 400
        assert (await harness.call("get", "/api/v1/audit?continue=abc", "admin"))[0] == 400
    finally:
        await stop()
