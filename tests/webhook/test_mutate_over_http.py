"""``POST /mutate`` speaks AdmissionReview v1 exactly as REFERENCE.md §4 describes.

There is no kube-apiserver here: the test client plays it over real HTTP against the real app
factory (``webhook.app.make_app``), sending the exact wire format the API server sends. The
namespace check runs in ``off`` mode (``RegistrationOnly``) here; the Namespace watch itself is
covered in test_namespace_opt_in.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.webhook.factories import apply_response, container, pod, review
from webhook.app import make_app, make_metrics_app
from webhook.metrics import WebhookMetrics
from webhook.namespaces import RegistrationOnly
from webhook.policy import FACTOR_ANNOTATION, ORIGINALS_ANNOTATION, PolicyConfig

Client = TestClient[Any, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def metrics() -> WebhookMetrics:
    return WebhookMetrics()


@pytest.fixture
async def client(aiohttp_client: MakeClient, metrics: WebhookMetrics) -> Client:
    return await aiohttp_client(make_app(PolicyConfig(), metrics, RegistrationOnly()))


async def _mutate(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/mutate", json=body)
    assert response.status == 200, await response.text()
    document: dict[str, Any] = await response.json()
    assert document["apiVersion"] == "admission.k8s.io/v1"
    assert document["kind"] == "AdmissionReview"
    assert "request" not in document
    answer: dict[str, Any] = document["response"]
    assert answer["uid"] == body["request"]["uid"]
    assert answer["allowed"] is True
    return answer


async def test_a_low_tier_pod_gets_its_cpu_requests_scaled_and_its_originals_recorded(client: Client) -> None:
    obj = pod(container("app", "500m", limit="2", memory="1Gi"), container("log", "0.25"), priority_class="infera-low")
    answer = await _mutate(client, review(obj))
    patched = apply_response(obj, answer)
    app, log = patched["spec"]["containers"]
    assert app["resources"]["requests"] == {"cpu": "250m", "memory": "1Gi"}
    assert app["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}  # limits and memory untouched
    assert log["resources"]["requests"] == {"cpu": "125m"}  # canonical out, not 0.125
    annotations = patched["metadata"]["annotations"]
    assert json.loads(annotations[ORIGINALS_ANNOTATION]) == {"app": "500m", "log": "0.25"}
    assert annotations[FACTOR_ANNOTATION] == "0.5"
    assert answer["warnings"] and "scaled by 0.5" in answer["warnings"][0]


async def test_existing_annotations_are_kept_and_slash_in_keys_is_escaped(client: Client) -> None:
    obj = pod(container("app", "1"), annotations={"team": "shop"})
    answer = await _mutate(client, review(obj))
    ops = json.loads(__import__("base64").b64decode(answer["patch"]))
    assert {"op": "add", "path": "/metadata/annotations/infera.io~1overcommit-factor", "value": "0.5"} in ops
    patched = apply_response(obj, answer)
    assert patched["metadata"]["annotations"]["team"] == "shop"


async def test_a_pod_already_scaled_is_not_scaled_again(client: Client) -> None:
    obj = pod(container("app", "1"))
    once = apply_response(obj, await _mutate(client, review(obj)))
    answer = await _mutate(client, review(once, uid="second"))
    assert "patch" not in answer


async def test_a_critical_pod_is_allowed_unchanged(client: Client) -> None:
    answer = await _mutate(client, review(pod(container("app", "4"), priority_class="infera-critical")))
    assert "patch" not in answer and "patchType" not in answer


@pytest.mark.parametrize("priority_class", ["system-node-critical", "system-cluster-critical"])
async def test_a_system_critical_pod_is_never_scaled(client: Client, priority_class: str) -> None:
    """Issue 15 §4: these map to High (never below Normal), but the cluster's own machinery is
    never overcommitted, even in an opted-in namespace."""
    answer = await _mutate(client, review(pod(container("app", "1"), priority_class=priority_class)))
    assert "patch" not in answer
    by_priority = pod(container("app", "1"), priority_class=None)
    by_priority["spec"]["priority"] = 2_000_001_000
    assert "patch" not in await _mutate(client, review(by_priority))


async def test_a_guaranteed_pod_is_left_alone_by_default(client: Client) -> None:
    obj = pod(container("app", "1", limit="1", memory="1Gi"))
    assert "patch" not in await _mutate(client, review(obj))


async def test_a_dry_run_gets_the_same_answer(client: Client) -> None:
    obj = pod(container("app", "1"))
    real = await _mutate(client, review(obj))
    dry = await _mutate(client, review(obj, dry_run=True))
    assert dry == real


async def test_a_resize_request_is_allowed_without_a_patch(client: Client) -> None:
    obj = pod(container("app", "1"))
    answer = await _mutate(client, review(obj, operation="UPDATE", sub_resource="resize"))
    assert "patch" not in answer


@pytest.mark.parametrize(("operation", "resource"), [("UPDATE", "pods"), ("DELETE", "pods"), ("CREATE", "services")])
async def test_anything_but_a_pod_create_is_allowed_without_a_patch(client: Client, operation: str,
                                                                    resource: str) -> None:
    answer = await _mutate(client, review(pod(container("app", "1")), operation=operation, resource=resource))
    assert "patch" not in answer


async def test_an_odd_pod_is_allowed_with_a_warning_and_counted(client: Client, metrics: WebhookMetrics) -> None:
    obj = pod(container("app", "1"))
    obj["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
    answer = await _mutate(client, review(obj))
    assert "patch" not in answer
    assert "left unchanged" in answer["warnings"][0]
    assert metrics.admissions.labels("unhandled", "low")._value.get() == 1


async def test_the_log_names_the_pod_by_namespace_and_name_not_the_request_uid(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 15 §4: the warning printed ``namespace/uid``; a CREATE often has only a generateName."""
    obj = pod(container("app", "1"))
    obj["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
    obj["metadata"]["generateName"] = "web-\n"
    with caplog.at_level("WARNING", logger="webhook.app"):
        await _mutate(client, review(obj, uid="req-7"))
    line = next(r.getMessage() for r in caplog.records if "left unchanged" in r.getMessage())
    assert "pod shop/web-?* (request req-7)" in line and "\n" not in line


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "JSON object"),
    (b'{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}', "apiVersion"),
    (b'{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"x"}}', "kind"),
    (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', "'request'"),
    (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}', "uid"),
])
async def test_a_body_that_is_not_an_admission_review_is_a_400_with_a_clear_message(
        client: Client, metrics: WebhookMetrics, body: bytes, message: str) -> None:
    response = await client.post("/mutate", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert message in (await response.json())["message"]
    assert metrics.admissions.labels("bad_request", "none")._value.get() == 1


async def test_metrics_and_health_are_served_on_their_own_app(aiohttp_client: MakeClient) -> None:
    metrics = WebhookMetrics()
    webhook = await aiohttp_client(make_app(PolicyConfig(), metrics, RegistrationOnly()))
    await _mutate(webhook, review(pod(container("app", "1"), priority_class="infera-background")))
    side = await aiohttp_client(make_metrics_app(metrics, RegistrationOnly(), None))
    text = await (await side.get("/metrics")).text()
    assert 'temper_webhook_admissions_total{outcome="mutated",tier="background"} 1.0' in text
    assert 'temper_webhook_mutations_total{tier="background"} 1.0' in text
    assert 'temper_webhook_cpu_request_removed_cores_total{tier="background"} 0.75' in text
    assert "temper_webhook_admission_duration_seconds_count 1.0" in text
    assert (await side.get("/healthz")).status == 200
    assert (await webhook.get("/metrics")).status in (404, 405)
