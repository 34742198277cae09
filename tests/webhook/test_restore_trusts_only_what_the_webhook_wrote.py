"""``restore`` puts back only what the webhook could have written (issue 15 §3).

The originals annotation is writable by the pod's owner; restore runs with the admin's rights.
Every legitimate pod here is built by the policy's own ``admit`` (through the wire format and
``jsonpatch``, ``tests.webhook.factories.admitted``), so the tests use exactly what the webhook
writes; every hostile pod is that pod with its annotations edited afterwards.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from temper.quantity import format_cpu_milli, parse_cpu_milli
from temper.tiers import Tier
from tests.webhook.factories import admitted, container, pod
from webhook.policy import (
    FACTOR_ANNOTATION,
    ORIGINALS_ANNOTATION,
    PolicyConfig,
    format_factor,
    parse_factor,
    scale_cpu_milli,
)
from webhook.restore import RestorePlan, restore_plan

POLICY = PolicyConfig()


def _running(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["name"] = "web-1"
    obj["status"] = {"phase": "Running"}
    return obj


def _plan(obj: dict[str, Any], policy: PolicyConfig = POLICY) -> RestorePlan:
    plan = restore_plan(obj, policy)
    assert plan is not None
    return plan


def _left_alone(obj: dict[str, Any], *words: str, policy: PolicyConfig = POLICY) -> str:
    plan = _plan(obj, policy)
    assert plan.patch is None
    assert plan.pod.problem == plan.reason
    for word in words:
        assert word in plan.reason
    return plan.reason


def _scaled(*containers: dict[str, Any], policy: PolicyConfig = POLICY, **kwargs: Any) -> dict[str, Any]:
    obj = _running(admitted(pod(*containers, **kwargs), policy))
    assert ORIGINALS_ANNOTATION in obj["metadata"]["annotations"]
    return obj


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = obj["metadata"]["annotations"]
    return annotations


def test_a_pod_the_webhook_scaled_is_restored_to_exactly_its_originals() -> None:
    sidecar = container("proxy", "300m", restart_policy="Always")
    obj = _scaled(container("app", "1", limit="2"), container("log", "0.25"), init=[sidecar])
    plan = _plan(obj)
    assert plan.pod.problem == ""
    assert plan.patch == {"spec": {
        "containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}},
                       {"name": "log", "resources": {"requests": {"cpu": "0.25"}}}],
        "initContainers": [{"name": "proxy", "resources": {"requests": {"cpu": "300m"}}}]}}


def test_the_issue_case_64_cpus_written_by_the_owner_is_left_alone() -> None:
    """A pod the webhook never scaled, annotated by its owner: ``{"a": "64"}``."""
    hostile = _running(pod(container("a", "500m"), annotations={ORIGINALS_ANNOTATION: '{"a":"64"}'}))
    _left_alone(hostile, f"without {FACTOR_ANNOTATION}")
    hostile["metadata"]["annotations"][FACTOR_ANNOTATION] = "0.5"
    reason = _left_alone(hostile, "'a' requests 500m", "original 64 to 32")
    assert "edited" in reason


def test_an_original_raised_on_a_scaled_pod_is_left_alone() -> None:
    obj = _scaled(container("app", "1"), container("log", "200m"))
    _annotations(obj)[ORIGINALS_ANNOTATION] = json.dumps({"app": "64", "log": "200m"})
    _left_alone(obj, "'app' requests 500m")


@pytest.mark.parametrize("original", ["1002m", "1.002", "2", "1001m"])
def test_an_original_slightly_off_is_left_alone(original: str) -> None:
    obj = _scaled(container("app", "1"))
    _annotations(obj)[ORIGINALS_ANNOTATION] = json.dumps({"app": original})
    _left_alone(obj, f"recorded original {original}")


def test_an_original_the_ceiling_maps_to_the_same_request_is_the_accepted_rounding() -> None:
    """999m scales to 500m at 0.5 just like 1000m does: the check cannot tell them apart, and
    restoring 999m is below the true original anyway."""
    obj = _scaled(container("app", "1"))
    _annotations(obj)[ORIGINALS_ANNOTATION] = json.dumps({"app": "999m"})
    assert _plan(obj).patch == {"spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "999m"}}}]}}


@pytest.mark.parametrize("factor", ["0.1", "0.25", "1"])
def test_a_factor_that_is_not_the_tiers_factor_is_left_alone(factor: str) -> None:
    """A tampered factor would widen what a forged original may claim (0.1: ten times the request)."""
    obj = _scaled(container("app", "1"))
    _annotations(obj)[FACTOR_ANNOTATION] = factor
    _left_alone(obj, f"{factor} is not the factor of tier low (0.5)")


@pytest.mark.parametrize("factor", ["0.50", ".5", " 0.5", "0_5", "5e-1", "nan", "inf", "-0.5", "2", "0", "", "x",
                                    "0.5000000000001"])
def test_a_factor_the_webhook_cannot_have_written_is_left_alone(factor: str) -> None:
    obj = _scaled(container("app", "1"))
    _annotations(obj)[FACTOR_ANNOTATION] = factor
    _left_alone(obj, f"{FACTOR_ANNOTATION} is not a factor the webhook writes")


@pytest.mark.parametrize(("originals", "words"), [
    ("{}", ("non-empty JSON object",)),
    ("[]", ("non-empty JSON object",)),
    ("{not json", ("unreadable",)),
    ('{"app": 1}', ("not a quantity string",)),
    ('{"app": "lots"}', ("the original of 'app'",)),
    ('{"app": "1", "ghost": "1"}', ("names 'ghost'",)),
    ('{"app": "1", "init": "1"}', ("names 'init'",)),  # a classic init container: never scaled
])
def test_originals_the_webhook_cannot_have_written_are_left_alone(originals: str, words: tuple[str, ...]) -> None:
    obj = _scaled(container("app", "1"), init=[container("init", "500m")])
    _annotations(obj)[ORIGINALS_ANNOTATION] = originals
    _left_alone(obj, *words)


def test_a_critical_pod_carrying_the_annotations_is_left_alone() -> None:
    obj = _scaled(container("app", "1"))
    obj["spec"]["priorityClassName"] = Tier.CRITICAL.priority_class_name
    _left_alone(obj, "never scales Critical")


def test_a_pod_resized_since_admission_is_left_alone() -> None:
    obj = _scaled(container("app", "1"))
    obj["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "700m"
    _left_alone(obj, "resized since admission")


def test_the_floor_and_factors_are_those_of_the_policy_the_pod_was_admitted_with() -> None:
    policy = PolicyConfig(factors={Tier.LOW: 0.2}, floor_milli=100)
    obj = _scaled(container("app", "150m"), policy=policy)  # ceil(30m) -> the 100m floor
    assert obj["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "100m"
    assert _plan(obj, policy).patch is not None
    _left_alone(obj, "not the factor of tier low (0.5)", "--config")  # judged under the defaults
    _left_alone(obj, "floor 50m", policy=PolicyConfig(factors={Tier.LOW: 0.2}, floor_milli=50))


# --- properties ---------------------------------------------------------------------------

factors = st.floats(min_value=0.001, max_value=0.999, allow_nan=False)
quantities = st.integers(min_value=1, max_value=256_000).flatmap(
    lambda m: st.sampled_from([f"{m}m", format_cpu_milli(m), str(Decimal(m) / 1000)]))


@st.composite
def admitted_pods(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], PolicyConfig]:
    """(the pod as created, the pod as the webhook left it, the policy) — scaled pods only."""
    tier = draw(st.sampled_from([Tier.HIGH, Tier.NORMAL, Tier.LOW, Tier.BACKGROUND]))
    policy = PolicyConfig(factors={tier: draw(factors)}, floor_milli=draw(st.integers(1, 500)))
    names = draw(st.lists(st.sampled_from(["app", "log", "proxy", "a/b"]), min_size=1, max_size=3, unique=True))
    containers = [container(n, draw(st.none() | quantities),
                            limit=draw(st.none() | st.just("300"))) for n in names]
    sidecars = [container("mesh", draw(quantities), restart_policy="Always")] if draw(st.booleans()) else []
    created = pod(*containers, init=sidecars or None, priority_class=tier.priority_class_name)
    after = admitted(json.loads(json.dumps(created)), policy)
    assume(ORIGINALS_ANNOTATION in (after["metadata"].get("annotations") or {}))  # scaled pods only
    return created, _running(after), policy


def _requests(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    out = {}
    for field_name in ("containers", "initContainers"):
        for c in obj["spec"].get(field_name) or []:
            cpu = (c["resources"].get("requests") or {}).get("cpu")
            if cpu is not None:
                out[c["name"]] = (field_name, cpu)
    return out


@settings(max_examples=400, deadline=None)
@given(case=admitted_pods())
def test_for_any_pod_the_webhook_scaled_the_restore_plan_is_exactly_the_originals(
        case: tuple[dict[str, Any], dict[str, Any], PolicyConfig]) -> None:
    created, after, policy = case
    before, now = _requests(created), _requests(after)
    expected: dict[str, list[dict[str, Any]]] = {}
    for name, (field_name, cpu) in before.items():
        if now[name][1] != cpu:
            expected.setdefault(field_name, []).append({"name": name, "resources": {"requests": {"cpu": cpu}}})
    for items in expected.values():
        items.sort(key=lambda item: str(item["name"]))  # a strategic merge matches by name; order is free
    plan = _plan(after, policy)
    assert plan.reason == ""
    assert plan.patch == {"spec": expected}


@settings(max_examples=400, deadline=None)
@given(case=admitted_pods(), forged=st.integers(min_value=0, max_value=512_000), pick=st.integers(0, 10))
def test_a_tampered_original_is_restored_only_when_the_webhook_could_have_written_it(
        case: tuple[dict[str, Any], dict[str, Any], PolicyConfig], forged: int, pick: int) -> None:
    _, after, policy = case
    originals = json.loads(_annotations(after)[ORIGINALS_ANNOTATION])
    name = sorted(originals)[pick % len(originals)]
    originals[name] = f"{forged}m"
    _annotations(after)[ORIGINALS_ANNOTATION] = json.dumps(originals)
    factor = parse_factor(_annotations(after)[FACTOR_ANNOTATION])
    current = parse_cpu_milli(_requests(after)[name][1])
    consistent = scale_cpu_milli(forged, factor, policy.floor_milli) == current < forged
    plan = _plan(after, policy)
    assert (plan.patch is not None) == consistent
    if plan.patch is not None:
        assert forged * factor <= current  # a forgery never claims more than current / factor


@settings(max_examples=300, deadline=None)
@given(case=admitted_pods(), factor=st.one_of(st.text(max_size=14), factors.map(format_factor),
                                              st.floats().map(str)))
def test_a_tampered_factor_is_never_restored(case: tuple[dict[str, Any], dict[str, Any], PolicyConfig],
                                              factor: str) -> None:
    _, after, policy = case
    if factor == _annotations(after)[FACTOR_ANNOTATION]:
        return  # not tampered
    _annotations(after)[FACTOR_ANNOTATION] = factor
    assert _plan(after, policy).patch is None
