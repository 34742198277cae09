"""Schemathesis against the running console for the token, audit and action routes: schema-valid
requests and deliberately invalid ones (bad bodies, parameters) get no 5xx and no response
outside the generated OpenAPI document.

Against the fake API server and fake agents (no kube-apiserver here), all served on loopback
from a background event loop so schemathesis' synchronous client can call them. Generated
requests are steered to the real cluster name and, half the time, a real node, so they reach
the handlers rather than stopping at 404; safe-mode waits are capped so a run stays short.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from console.app import Settings, create_app, token_digest
from console.openapi import ROUTES, spec
from console.plane import ActionConfig
from temper.kube.client import ApiClient, ApiConfig
from tests.console.actions_harness import CONFIGMAP, serve
from tests.console.fakeapi import FakeAgents, FakeApi, populate

OURS = [(method, path) for method, path, _, _ in ROUTES
        if path.startswith(("/api/v1/tokens", "/api/v1/audit")) or path.endswith(
            ("/cordon", "/uncordon", "/drain", "/safe-mode", "/restart", "/traces", "/traces/{trace}"))]
NODES = ["node-00000", "node-00001", "node-00002"]


@pytest.fixture(scope="module")
def console_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners = []

    async def setup() -> str:
        api = FakeApi()
        populate(api, nodes=len(NODES), pods=30, namespaces=2)
        api.put("configmaps", {"metadata": {"namespace": CONFIGMAP[0], "name": CONFIGMAP[1]}})
        runners.append(await api.start())
        agents_runner, agents_url = await serve(FakeAgents(api).app())
        actions = ActionConfig(agent_url=agents_url + "/{node}", agent_configmap="/".join(CONFIGMAP),
                               drain_retry_s=0.02, converge_poll_s=0.02, audit_out=io.StringIO())
        settings = Settings(tokens={token_digest(b"console", "admin-secret"): ("boot-admin", "admin")},
                            actions=actions)
        console_runner, url = await serve(create_app(ApiClient(ApiConfig(api.url)), settings))
        runners.extend([agents_runner, console_runner])
        return url

    yield asyncio.run_coroutine_threadsafe(setup(), loop).result(30)

    async def teardown() -> None:
        for runner in reversed(runners):
            await runner.cleanup()
    asyncio.run_coroutine_threadsafe(teardown(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OURS, ids=[f"{m} {p}" for m, p in OURS])
def test_no_5xx_and_no_off_schema_response(console_url: str, method: str, path: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(spec())
    operation = schema.find_operation_by_path(method, path)
    assert operation is not None

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode), real_node=st.booleans(), node=st.sampled_from(NODES))
    def run(case: Any, real_node: bool, node: str) -> None:
        if case.path_parameters and "c" in case.path_parameters and mode is GenerationMode.POSITIVE:
            case.path_parameters["c"] = "local"
            if real_node and "node" in case.path_parameters:
                case.path_parameters["node"] = node
        if isinstance(case.body, dict) and isinstance(case.body.get("wait_seconds"), (int, float)):
            case.body["wait_seconds"] = min(case.body["wait_seconds"], 0.05)
        if isinstance(case.body, dict) and isinstance(case.body.get("timeout_seconds"), (int, float)):
            case.body["timeout_seconds"] = min(case.body["timeout_seconds"], 0.5)
        case.headers = {**(case.headers or {}), "Authorization": "Bearer admin-secret"}
        response = case.call(base_url=console_url, timeout=30)
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
        if mode is GenerationMode.POSITIVE:
            case.validate_response(response)
        else:
            assert response.status_code < 500

    run()
