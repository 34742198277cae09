"""The /api/v1 OpenAPI document validates (openapi-spec-validator), and schemathesis, driving
the running console on loopback (against the fake API server and fake agents; no
kube-apiserver here), finds no 5xx and no response that violates the document.

Bounded in time: a few examples per operation, with free path parameters (mostly 404s), with
the names of real objects (so the 200 bodies are checked against their schemas), and with
schema-invalid input (which must be refused with a 4xx, never a 5xx).
The event stream never ends by design and is tested in ``test_event_stream_resume_and_reset``;
logs are fuzzed with ``follow`` forced off for the same reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from openapi_spec_validator import validate
from schemathesis import GenerationMode, checks

from console.openapi import QUERIES, spec
from tests.console.harness import AUTH, running_console

EXAMPLES = 12
KNOWN: dict[str, dict[str, str]] = {
    "/api/v1/clusters/{c}/nodes/{name}": {"name": "node-00000"},
    "/pods/{name}": {"ns": "apps", "name": "web-2-aaaaa", "container": "app"},
    "/workloads/{kind}/{name}": {"ns": "apps", "kind": "Deployment", "name": "web"},
}


def test_the_generated_openapi_document_validates() -> None:
    validate(spec())  # type: ignore[arg-type]  # the validator types its input loosely


def known_path(path: str) -> dict[str, str]:
    values = {"c": "local"}
    for marker, names in KNOWN.items():
        if marker in path:
            values |= names
    wanted = {p.strip("{}") for p in path.split("/") if p.startswith("{")}
    return {k: v for k, v in values.items() if k in wanted}


def fuzz(base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_dict(spec())
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/events":
            continue
        known = known_path(operation.path)
        query = {"from": 1, "to": 2} if operation.path.endswith("/diff") else None
        strategies: list[tuple[str, SearchStrategy[Any], list[Any]]] = [
            ("free path", operation.as_strategy(), []),
            (f"path {known}", operation.as_strategy(path_parameters=known or None, query=query), []),
            # unknown query parameters are ignored on purpose, so "accepted negative data" is not a fault
            (f"invalid input, path {known}", operation.as_strategy(GenerationMode.NEGATIVE,
                                                                   path_parameters=known or None),
             [checks.negative_data_rejection]),
        ][: 3 if "{" in operation.path or operation.path in QUERIES else 2]
        for label, strategy, excluded in strategies:
            try:
                run(strategy, operation.path.endswith("/logs"), excluded, base_url)
            except Exception as exc:  # every operation is checked; all failures are reported together
                failures.append(f"{operation.label} ({label}): {str(exc)[:800]}")
    return failures


def run(strategy: SearchStrategy[Any], logs: bool, excluded: list[Any], base_url: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: Any) -> None:
        if logs:
            case.query = {**(case.query or {}), "follow": False}
        case.call_and_validate(base_url=base_url, headers=AUTH, timeout=10, excluded_checks=excluded)

    check()


async def test_schemathesis_finds_no_server_error_and_no_schema_violation() -> None:
    async with running_console() as r:
        base_url = str(r.client.make_url("")).rstrip("/")
        failures = await asyncio.to_thread(fuzz, base_url)
    assert failures == [], "\n\n".join(failures)
