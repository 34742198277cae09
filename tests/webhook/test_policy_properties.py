"""Properties of the overcommit decision and patch builder, over generated AdmissionReviews.

Pure-function fuzzing (no HTTP: the wire adapter is covered in test_mutate_over_http.py):
every generated review goes through the real decoder (``decode_review`` on serialized bytes),
the policy (``admit``) and the encoder (``encode_response``); every patch is applied with the
``jsonpatch`` library, as the API server would, and the result is checked.
"""

from __future__ import annotations

import base64
import json
import random
from decimal import Decimal
from typing import Any

import jsonpatch
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from temper.quantity import parse_cpu_milli
from temper.tiers import Tier, tier_of_pod
from tests.webhook.factories import OPTED_IN
from webhook.policy import ORIGINALS_ANNOTATION, Outcome, PolicyConfig, admit, scale_cpu_milli
from webhook.review import BadReview, decode_review, encode_response

CONFIG = PolicyConfig()

milli = st.integers(min_value=0, max_value=64_000)


@st.composite
def cpu_quantity(draw: st.DrawFn) -> object:
    m = draw(milli)
    form = draw(st.sampled_from(["milli", "decimal", "exponent", "number", "odd"]))
    if form == "milli":
        return f"{m}m"
    if form == "decimal":
        return str(Decimal(m) / 1000)
    if form == "exponent":
        return f"{m}e-3"
    if form == "number":
        return m // 1000
    return draw(st.sampled_from(["", "lots", "-1", "1Zi", None, [], {"a": 1}, True, "0.0001"]))


@st.composite
def a_container(draw: st.DrawFn, name: str) -> object:
    if draw(st.integers(0, 50)) == 0:
        return draw(st.sampled_from([None, "x", 3, []]))
    resources: dict[str, Any] = {}
    if draw(st.booleans()):
        resources["requests"] = {"cpu": draw(cpu_quantity())}
        if draw(st.booleans()):
            resources["requests"]["memory"] = "1Gi"
    if draw(st.booleans()):
        resources["limits"] = {"cpu": draw(cpu_quantity()), "memory": "1Gi"}
    c: dict[str, Any] = {"name": name, "image": "i"}
    if draw(st.integers(0, 10)):
        c["resources"] = resources
    return c


@st.composite
def a_pod(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["app", "log", "proxy", "a/b", "x~y"]), min_size=0, max_size=4))
    spec: dict[str, Any] = {"containers": [draw(a_container(n)) for n in names]}
    if draw(st.booleans()):
        inits = []
        for i in range(draw(st.integers(0, 2))):
            init = draw(a_container(f"init{i}"))
            if isinstance(init, dict) and draw(st.booleans()):
                init["restartPolicy"] = "Always"
            inits.append(init)
        spec["initContainers"] = inits
    choice = draw(st.integers(0, 6))
    if choice < 5:
        spec["priorityClassName"] = Tier(choice).priority_class_name
    elif choice == 5:
        spec["priority"] = draw(st.integers(-200_000, 2_000_000_000))
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "spec": spec}
    meta = draw(st.sampled_from(["none", "null", "empty", "null-annotations", "annotations", "scaled"]))
    if meta == "null":
        pod["metadata"] = None
    elif meta == "empty":
        pod["metadata"] = {}
    elif meta == "null-annotations":
        pod["metadata"] = {"annotations": None}
    elif meta == "annotations":
        pod["metadata"] = {"annotations": {"team/name": "x", "a~b": "y"}}
    elif meta == "scaled":
        pod["metadata"] = {"annotations": {ORIGINALS_ANNOTATION: "{}"}}
    return pod


def _review(pod: object, operation: str, dry_run: bool) -> bytes:
    return orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": operation, "namespace": "shop", "object": pod, "dryRun": dry_run}})


@settings(max_examples=1_500)
@given(pod=a_pod(), operation=st.sampled_from(["CREATE", "CREATE", "CREATE", "UPDATE"]), dry_run=st.booleans())
def test_every_generated_review_is_answered_and_every_patch_applies_cleanly(
        pod: dict[str, Any], operation: str, dry_run: bool) -> None:
    _check(pod, operation, dry_run)


def _random_quantity(rng: random.Random) -> object:
    m = rng.randrange(0, 64_000)
    form = rng.randrange(10)
    if form < 3:
        return f"{m}m"
    if form < 5:
        return str(Decimal(m) / 1000)
    if form == 5:
        return f"{m}e-3"
    if form == 6:
        return m // 1000
    if form == 7:
        return f"{m // 1000 or 1}"
    return rng.choice(["", "lots", "-1", "1Zi", None, [], True, "0.0001", "1Ki"])


def _random_container(rng: random.Random, name: str) -> object:
    if rng.randrange(50) == 0:
        return rng.choice([None, "x", 3, []])
    resources: dict[str, Any] = {}
    if rng.random() < 0.8:
        resources["requests"] = {"cpu": _random_quantity(rng)}
        if rng.random() < 0.5:
            resources["requests"]["memory"] = "1Gi"
    if rng.random() < 0.5:
        resources["limits"] = {"cpu": _random_quantity(rng), "memory": "1Gi"}
    if rng.random() < 0.1:
        return {"name": name}
    return {"name": name, "image": "i", "resources": resources}


def _random_pod(rng: random.Random) -> dict[str, Any]:
    names = rng.sample(["app", "log", "proxy", "a/b", "x~y"], rng.randrange(0, 5))
    if rng.random() < 0.05 and names:
        names.append(names[0])  # duplicate container names: an odd shape
    spec: dict[str, Any] = {"containers": [_random_container(rng, n) for n in names]}
    if rng.random() < 0.3:
        inits = [_random_container(rng, f"init{i}") for i in range(rng.randrange(3))]
        for init in inits:
            if isinstance(init, dict) and rng.random() < 0.5:
                init["restartPolicy"] = "Always"
        spec["initContainers"] = inits
    choice = rng.randrange(7)
    if choice < 5:
        spec["priorityClassName"] = Tier(choice).priority_class_name
    elif choice == 5:
        spec["priority"] = rng.randrange(-200_000, 2_000_000_000)
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "spec": spec}
    meta = rng.randrange(6)
    pod["metadata"] = [None, {}, {"annotations": None}, {"annotations": {"team/name": "x", "a~b": "y"}},
                       {"annotations": {ORIGINALS_ANNOTATION: "{}"}}, {"name": "p"}][meta]
    if meta == 5 and rng.random() < 0.5:
        del pod["metadata"]
    return pod


@settings(max_examples=100)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_ten_thousand_seeded_reviews_are_answered_and_every_patch_applies_cleanly(seed: int) -> None:
    """100 hypothesis-drawn seeds x 100 reviews each: the bulk of the fuzzing at a cheap draw
    cost (a failure reports its seed, which reproduces it exactly)."""
    rng = random.Random(seed)
    for _ in range(100):
        _check(_random_pod(rng), rng.choice(["CREATE", "CREATE", "CREATE", "UPDATE"]), rng.random() < 0.2)


def _requests(pod: dict[str, Any]) -> list[tuple[object, object]]:
    out = []
    for field in ("containers", "initContainers"):
        for c in pod.get("spec", {}).get(field) or []:
            if isinstance(c, dict):
                r = c.get("resources") or {}
                out.append(((r.get("requests") or {}).get("cpu"), r.get("limits")))
    return out


def _check(pod: dict[str, Any], operation: str, dry_run: bool) -> None:
    """The invariants every answer must keep (see the module docstring of webhook.policy)."""
    request = decode_review(_review(pod, operation, dry_run))
    decision = admit(request, CONFIG, OPTED_IN)
    document = orjson.loads(encode_response(request.uid, decision.result))
    response = document["response"]
    assert response["uid"] == "u" and response["allowed"] is True
    if "patch" not in response:
        assert decision.outcome is not Outcome.MUTATED
        return
    assert operation == "CREATE" and tier_of_pod(pod) is not Tier.CRITICAL
    patched = jsonpatch.JsonPatch(json.loads(base64.b64decode(response["patch"]))).apply(pod)
    before, after = _requests(pod), _requests(patched)
    assert [limits for _, limits in before] == [limits for _, limits in after]  # limits never touched
    for (old, _), (new, _) in zip(before, after, strict=True):
        if old != new:
            old_m, new_m = parse_cpu_milli(old), parse_cpu_milli(new)
            assert min(old_m, CONFIG.floor_milli) <= new_m < old_m
    originals = json.loads(patched["metadata"]["annotations"][ORIGINALS_ANNOTATION])
    assert originals
    again = admit(decode_review(_review(patched, "CREATE", dry_run)), CONFIG, OPTED_IN)
    assert again.result.patch == ()  # idempotent


@settings(max_examples=2_000)
@given(old=milli, factor=st.floats(min_value=0.001, max_value=1.0), floor=st.integers(1, 1000))
def test_scaling_never_raises_a_request_and_never_goes_below_the_floor(old: int, factor: float, floor: int) -> None:
    new = scale_cpu_milli(old, factor, floor)
    assert new <= old
    assert new >= min(old, floor)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10)


@settings(max_examples=1_000)
@given(body=st.one_of(st.binary(max_size=50), json_values.map(orjson.dumps),
                      st.builds(lambda r: orjson.dumps({"apiVersion": "admission.k8s.io/v1",
                                                        "kind": "AdmissionReview", "request": r}), json_values)))
def test_the_decoder_either_decodes_or_says_bad_review_and_admit_never_raises(body: bytes) -> None:
    try:
        request = decode_review(body)
    except BadReview:
        return
    admit(request, CONFIG, OPTED_IN)
