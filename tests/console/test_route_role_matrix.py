"""Every route × every caller (no token, a bad token, viewer, operator, admin) gets the status its
minimum role in ``console.openapi.ROUTES`` implies — and every mutation writes exactly one audit
record when it is answered 2xx or 403 (none for 401).

Against the fake API server and fake node agents (``tests.console.actions_harness``; there is no
kube-apiserver here). Routes come from ``ROUTES`` itself, so a route added later is covered: its
allowed callers must get neither 401/403 nor a 5xx; the routes listed in ``SAMPLES`` must get 2xx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.models import ROLE_RANK
from console.openapi import ROUTES
from tests.console.actions_harness import AiohttpClient, start

PARAMS = {"c": "local", "node": "node-00001", "ns": "ns-000", "kind": "Deployment", "name": "app0",
          "trace": "t-seeded", "container": "app"}
SAMPLES: dict[tuple[str, str], tuple[str | None, dict[str, Any]]] = {
    ("get", "/api/v1/healthz"): (None, {}),
    ("get", "/api/v1/whoami"): ("viewer", {}),
    ("get", "/api/v1/clusters"): ("viewer", {}),
    ("get", "/api/v1/clusters/{c}/nodes"): ("viewer", {}),
    ("get", "/api/v1/clusters/{c}/pods"): ("viewer", {}),
    ("get", "/api/v1/tokens"): ("admin", {}),
    ("post", "/api/v1/tokens"): ("admin", {"body": {"name": "made-by-matrix", "role": "viewer"}}),
    ("delete", "/api/v1/tokens/{name}"): ("admin", {"params": {"name": "victim"}}),
    ("get", "/api/v1/audit"): ("admin", {}),
    ("get", "/api/v1/audit/export"): ("admin", {}),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/cordon"): ("operator", {}),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/uncordon"): ("operator", {}),
    ("get", "/api/v1/clusters/{c}/nodes/{node}/drain"): ("operator", {}),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/drain"): ("operator", {"body": {"dry_run": True,
                                                                                "timeout_seconds": 5}}),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/safe-mode"): ("operator", {"body": {"enabled": True}}),
    ("post", "/api/v1/clusters/{c}/safe-mode"): ("operator", {"body": {"enabled": False}}),
    ("post", "/api/v1/clusters/{c}/workloads/{kind}/{ns}/{name}/restart"): ("operator", {}),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/traces"): ("operator", {"body": {"seconds": 1}}),
    ("get", "/api/v1/clusters/{c}/nodes/{node}/traces/{trace}"): ("operator", {}),
    ("get", "/api/v1/clusters/{c}/savings"): ("viewer", {}),
    ("post", "/api/v1/clusters/{c}/savings/baseline"): ("admin", {}),
    ("get", "/api/v1/clusters/{c}/savings/baseline"): ("viewer", {}),
}
"""The minimum role each known route must have (independent of ROUTES, so a loosened role in the
table fails here) and a request that succeeds for an allowed caller."""
CALLERS: list[tuple[str | None, str | None]] = [
    (None, None), (None, "not-a-token"), ("viewer", None), ("operator", None), ("admin", None)]


def expected(needed: str | None, caller: str | None, token: str | None) -> str:
    if needed is None:
        return "2xx"
    if caller is None:
        return "401"
    return "2xx" if ROLE_RANK[caller] >= ROLE_RANK[needed] else "403"


async def test_every_route_answers_each_role_as_its_table_says(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        harness.agents.trace_blobs["t-seeded"] = b"seeded"
        assert (await harness.call("post", "/api/v1/tokens", "admin", {"name": "victim", "role": "viewer"}))[0] == 200
        assert (await harness.call("post", "/api/v1/clusters/local/savings/baseline", "admin"))[0] == 200  # GET has one
        seen = []
        for method, template, _, table_role in ROUTES:
            needed, sample = SAMPLES.get((method, template), (table_role, {}))
            path = template.format(**{**PARAMS, **sample.get("params", {})})
            for caller, token in CALLERS:
                before = harness.audit_count()
                status, body = await harness.call(method, path, caller, sample.get("body"), token)
                want = expected(needed, caller, token)
                where = f"{method.upper()} {path} as {caller or token or 'anonymous'}: {status} {body!r:.200}"
                seen.append((method, template, caller, token))
                if want == "2xx" and (method, template) in SAMPLES:
                    assert 200 <= status < 300, where
                elif want == "2xx":
                    assert status not in (401, 403) and status < 500, where
                else:
                    assert status == int(want), where
                    assert body["error"]["code"] == ("unauthorized" if want == "401" else "forbidden"), where
                written = harness.audit_count() - before
                mutation = method != "get"
                assert written == (1 if mutation and status != 401 else 0), where
        assert len(seen) == len(ROUTES) * len(CALLERS)
        assert set(SAMPLES) <= {(r[0], r[1]) for r in ROUTES}, "a sample for a route that no longer exists"
    finally:
        await stop()
