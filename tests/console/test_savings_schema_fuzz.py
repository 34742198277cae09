"""Schemathesis against the running console for the savings routes: generated paths, queries
and bodies never get a 5xx, and every answer matches the OpenAPI document. The console runs
on a loopback port in a background thread, fed by the fake API server (tests/console/fakeapi.py
stands in for a kube-apiserver); the price book and data dir are real files."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web

from console.app import Settings, create_app, token_digest
from console.openapi import spec
from console.savings import SavingsConfig
from temper.kube.client import ApiClient, ApiConfig
from tests.console.fakeapi import FakeApi, populate

schema = schemathesis.openapi.from_dict(spec()).include(path_regex="/savings")


@pytest.fixture(scope="module")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("savings")
    (directory / "prices.yaml").write_text("prices: [{instanceType: m6i.xlarge, nodeHour: 0.2}]\n")
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    ready = threading.Event()

    async def start() -> None:
        api = FakeApi()
        populate(api, nodes=6, pods=30)
        await api.start()
        settings = Settings(tokens={token_digest(b"console", "fuzz"): ("fuzz", "admin")},
                            savings=SavingsConfig(prices_file=str(directory / "prices.yaml"), data_dir=str(directory)))
        app = create_app(ApiClient(ApiConfig(api.url)), settings)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        started.update(api=api, runner=runner, url=f"http://127.0.0.1:{runner.addresses[0][1]}")
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield str(started["url"])

    async def stop() -> None:
        await started["runner"].cleanup()
        await started["api"].stop()
    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@schema.parametrize()
def test_generated_requests_get_no_5xx_and_schema_conforming_answers(case: Any, console_url: str) -> None:
    case.path_parameters = {**(case.path_parameters or {}), "c": "local"}  # the real cluster, not only 404s
    # negative_data_rejection is left out: the token and the cluster name put in above turn the
    # cases it generates as invalid (no Authorization, any {c}) into valid requests
    case.call_and_validate(base_url=console_url, headers={"Authorization": "Bearer fuzz"},
                           excluded_checks=[schemathesis.checks.negative_data_rejection])
