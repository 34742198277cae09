"""The webhook checks the namespace's opt-in label itself (issue 15 §4), from a Namespace watch.

The decision is pure (``admit`` takes the namespace's labels); the labels come from a list+watch
of Namespaces. There is no kube-apiserver here: the watch runs over real HTTP against the fake
API server of ``tests.console.fakeapi`` (LIST with ``resourceVersion``, newline-delimited watch
events), through ``temper.kube`` unchanged, with the real app factories on top.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from temper.kube.client import ApiConfig
from tests.certs.pki_helpers import loaded_reloader
from tests.console.fakeapi import FakeApi
from tests.webhook.factories import OPTED_IN, container, pod, review
from webhook.app import make_app, make_metrics_app
from webhook.manifest import NAMESPACE_SELECTOR, OPT_IN_LABEL, OPT_IN_VALUE, namespace_opted_in, selector_matches
from webhook.metrics import WebhookMetrics
from webhook.namespaces import WatchedNamespaces
from webhook.policy import Outcome, PolicyConfig, Reason, admit
from webhook.review import decode_review

Client = TestClient[Any, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


def _decide(labels: dict[str, str] | None, namespace: str = "shop") -> Any:
    body = review(pod(container("app", "1"), namespace=namespace), namespace=namespace)
    return admit(decode_review(json.dumps(body).encode()), PolicyConfig(), labels)


# --- the pure decision --------------------------------------------------------------------


def test_a_pod_in_an_opted_in_namespace_is_scaled() -> None:
    assert _decide(OPTED_IN).outcome is Outcome.MUTATED


@pytest.mark.parametrize(("labels", "reason"), [
    (None, Reason.NAMESPACE_UNKNOWN),
    ({}, Reason.NAMESPACE_NOT_OPTED_IN),
    ({OPT_IN_LABEL: "disabled"}, Reason.NAMESPACE_NOT_OPTED_IN),
    ({OPT_IN_LABEL: "Enabled"}, Reason.NAMESPACE_NOT_OPTED_IN),
    ({"overcommit": OPT_IN_VALUE}, Reason.NAMESPACE_NOT_OPTED_IN),
])
def test_a_pod_in_a_namespace_not_known_to_opt_in_is_left_alone(labels: dict[str, str] | None,
                                                                reason: Reason) -> None:
    decision = _decide(labels)
    assert decision.result.patch == ()
    assert (decision.outcome, decision.reason) == (Outcome.SKIPPED, reason)


@given(labels=st.dictionaries(st.sampled_from([OPT_IN_LABEL, "team", "infera.io/other"]),
                              st.sampled_from([OPT_IN_VALUE, "disabled", "", "true"]), max_size=3))
def test_only_the_exact_opt_in_label_lets_a_pod_be_scaled(labels: dict[str, str]) -> None:
    scaled = _decide(labels).outcome is Outcome.MUTATED
    assert scaled == (labels.get(OPT_IN_LABEL) == OPT_IN_VALUE)


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    ({}, {}, True),
    (NAMESPACE_SELECTOR, {OPT_IN_LABEL: OPT_IN_VALUE}, True),
    (NAMESPACE_SELECTOR, {OPT_IN_LABEL: "no"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, {"a": "2"}, False),
])
def test_the_selector_is_evaluated_as_a_label_selector(selector: dict[str, Any], labels: dict[str, str],
                                                      matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


def test_the_check_uses_the_selector_the_registration_carries() -> None:
    from webhook.manifest import mutating_webhook_configuration
    (hook,) = mutating_webhook_configuration()["webhooks"]
    assert hook["namespaceSelector"] == NAMESPACE_SELECTOR
    assert namespace_opted_in(OPTED_IN) and not namespace_opted_in({})


# --- the namespace watch over HTTP --------------------------------------------------------


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    fake.put("namespaces", {"metadata": {"name": "shop", "labels": {OPT_IN_LABEL: OPT_IN_VALUE}}})
    fake.put("namespaces", {"metadata": {"name": "dev", "labels": {"team": "dev"}}})
    await fake.start()
    yield fake
    await fake.stop()


async def _mutate_scales(client: Client, namespace: str) -> bool:
    body = review(pod(container("app", "1"), namespace=namespace), uid=f"u-{namespace}", namespace=namespace)
    response = await client.post("/mutate", json=body)
    assert response.status == 200
    return "patch" in (await response.json())["response"]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def _apps(aiohttp_client: MakeClient, base_url: str, certs: Path | None) -> tuple[Client, Client, WebhookMetrics]:
    """The two apps around one Namespace watch; ``certs``: where to mint a loaded serving pair
    (None: no certificate loaded)."""
    metrics = WebhookMetrics()
    source = WatchedNamespaces(ApiConfig(base_url=base_url))
    webhook = await aiohttp_client(make_app(PolicyConfig(), metrics, source))
    reloader = loaded_reloader(certs) if certs is not None else None
    side = await aiohttp_client(make_metrics_app(metrics, source, reloader))
    return webhook, side, metrics


async def test_scaling_follows_the_namespace_label_as_the_watch_reports_it(
        api: FakeApi, aiohttp_client: MakeClient, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    webhook, side, metrics = await _apps(aiohttp_client, api.url, tmp_path)

    async def ready() -> bool:
        return (await side.get("/readyz")).status == 200

    await _eventually(ready)
    assert await _mutate_scales(webhook, "shop")
    with caplog.at_level(logging.DEBUG, logger="webhook.app"):
        assert not await _mutate_scales(webhook, "dev")
    assert metrics.decisions.labels("namespace_not_opted_in")._value.get() == 1
    assert metrics.admissions.labels("skipped", "low")._value.get() == 1
    assert any("namespace does not carry the label infera.io/overcommit=enabled" in r.getMessage()
               for r in caplog.records)

    api.put("namespaces", {"metadata": {"name": "dev", "labels": {OPT_IN_LABEL: OPT_IN_VALUE}}})
    await _eventually(lambda: _mutate_scales(webhook, "dev"))
    api.put("namespaces", {"metadata": {"name": "shop", "labels": {}}})

    async def shop_left_alone() -> bool:
        return not await _mutate_scales(webhook, "shop")

    await _eventually(shop_left_alone)
    api.delete("namespaces", "", "dev")

    async def dev_unknown() -> bool:
        await _mutate_scales(webhook, "dev")
        return bool(metrics.decisions.labels("namespace_unknown")._value.get() >= 1)

    await _eventually(dev_unknown)
    assert api.requests[("GET", "namespaces")] == 1  # one LIST, then the watch: no lookup per admission


async def test_until_the_cache_has_synced_nothing_is_scaled_and_readiness_says_why(
        aiohttp_client: MakeClient, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    webhook, side, metrics = await _apps(aiohttp_client, "http://127.0.0.1:9", tmp_path)  # nothing listens there

    async def said_why() -> bool:
        response = await side.get("/readyz")
        text = await response.text()
        return response.status == 503 and text.startswith("not ready: namespace cache not synced yet: ")

    await _eventually(said_why)
    with caplog.at_level(logging.DEBUG, logger="webhook.app"):
        assert not await _mutate_scales(webhook, "shop")
    assert metrics.decisions.labels("namespace_unknown")._value.get() == 1
    assert any("namespace labels unknown (namespace cache not synced yet" in r.getMessage() for r in caplog.records)


async def test_readiness_needs_the_serving_certificate_and_the_namespace_cache_and_names_what_is_missing(
        api: FakeApi, aiohttp_client: MakeClient) -> None:
    _, both_missing, _ = await _apps(aiohttp_client, "http://127.0.0.1:9", None)

    async def says_both() -> bool:
        response = await both_missing.get("/readyz")
        text = await response.text()
        return (response.status == 503 and text.startswith("not ready: no serving certificate loaded; ")
                and "namespace cache not synced yet" in text)

    await _eventually(says_both)
    _, no_certificate, _ = await _apps(aiohttp_client, api.url, None)

    async def says_only_the_certificate() -> bool:
        response = await no_certificate.get("/readyz")
        return response.status == 503 and await response.text() == "not ready: no serving certificate loaded\n"

    await _eventually(says_only_the_certificate)  # the cache synced: the certificate is all that is missing
