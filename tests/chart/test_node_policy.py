"""The agent's node ValidatingAdmissionPolicy, evaluated: the CEL expressions the chart renders
run (with the cel-python interpreter) against the admission requests the API server would send.

This proves the policy's *logic* — own node only, ``infera.io/`` annotations only, the
missing-claim fallback — not the API server's type checker (a different CEL implementation);
the object's schema is proven by kubernetes-validate in test_helm_lint_and_schemas.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import pytest
from celpy.adapter import json_to_cel

from tests.chart.conftest import find, render

pytestmark = pytest.mark.tools

AGENT = "system:serviceaccount:infera:infera-agent"
NODE_CLAIM = "authentication.kubernetes.io/node-name"

OLD_NODE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "node-a", "labels": {"kubernetes.io/hostname": "node-a"},
                 "annotations": {"node.alpha.kubernetes.io/ttl": "0", "infera.io/tier-load": "{}"}},
    "spec": {"podCIDR": "10.0.0.0/24"},
}


def evaluate(policy: dict[str, Any], request: dict[str, Any]) -> str:
    """'skip' (matchConditions do not match), 'allow', or the first failing validation's message."""
    env = celpy.Environment()
    activation: dict[str, Any] = {
        "request": json_to_cel(request),
        "object": json_to_cel(request["object"]),
        "oldObject": json_to_cel(request["oldObject"]),
    }

    def run(expression: str) -> Any:
        return env.program(env.compile(expression)).evaluate(activation)

    if not all(run(c["expression"]) for c in policy["matchConditions"]):
        return "skip"
    variables: dict[str, Any] = {}
    for variable in policy["variables"]:
        activation["variables"] = celpy.celtypes.MapType(variables)
        variables[celpy.celtypes.StringType(variable["name"])] = run(variable["expression"])
    activation["variables"] = celpy.celtypes.MapType(variables)
    for validation in policy["validations"]:
        result = run(validation["expression"])
        assert isinstance(result, celpy.celtypes.BoolType), f"{validation['expression']} -> {result!r}"
        if not result:
            return str(validation["message"])
    return "allow"


def request(new: dict[str, Any], *, user: str = AGENT, claim: str | None = "node-a") -> dict[str, Any]:
    user_info: dict[str, Any] = {"username": user}
    if claim is not None:
        user_info["extra"] = {NODE_CLAIM: [claim], "authentication.kubernetes.io/pod-name": ["agent-x"]}
    return {"operation": "UPDATE", "name": new["metadata"]["name"], "namespace": "",
            "userInfo": user_info, "object": new, "oldObject": OLD_NODE}


def changed(**edits: Any) -> dict[str, Any]:
    node = copy.deepcopy(OLD_NODE)
    for path, value in edits.items():
        target = node
        *parents, leaf = path.split("__")
        for key in parents:
            target = target.setdefault(key, {})
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return node


@pytest.fixture(scope="module")
def policy(helm: Path) -> dict[str, Any]:
    spec: dict[str, Any] = find(render("defaults"), "ValidatingAdmissionPolicy")["spec"]
    return spec


@pytest.fixture(scope="module")
def relaxed_policy(helm: Path) -> dict[str, Any]:
    docs = render("defaults", extra=("agent.nodePolicy.missingNodeClaim=annotationsOnly",))
    spec: dict[str, Any] = find(docs, "ValidatingAdmissionPolicy")["spec"]
    return spec


def with_annotations(**annotations: str | None) -> dict[str, Any]:
    merged: dict[str, str | None] = {**OLD_NODE["metadata"]["annotations"], **annotations}
    return changed(metadata__annotations={k: v for k, v in merged.items() if v is not None})


def test_agent_may_write_infera_annotations_on_its_own_node(policy: dict[str, Any]) -> None:
    new = with_annotations(**{"infera.io/enforcement": '{"v":1}', "infera.io/tier-load": '{"v":1}'})
    assert evaluate(policy, request(new)) == "allow"


def test_agent_may_remove_its_own_annotation(policy: dict[str, Any]) -> None:
    assert evaluate(policy, request(with_annotations(**{"infera.io/tier-load": None}))) == "allow"


def test_agent_may_not_touch_another_node(policy: dict[str, Any]) -> None:
    other = with_annotations(**{"infera.io/enforcement": "{}"})
    other["metadata"]["name"] = "node-b"
    assert "only the Node its pod runs on" in evaluate(policy, request(other))


@pytest.mark.parametrize("new", [
    with_annotations(**{"node.alpha.kubernetes.io/ttl": "30"}),
    with_annotations(**{"node.alpha.kubernetes.io/ttl": None}),
    with_annotations(**{"example.com/owner": "me"}),
], ids=["change-foreign", "remove-foreign", "add-foreign"])
def test_agent_may_not_change_other_annotations(policy: dict[str, Any], new: dict[str, Any]) -> None:
    assert "only infera.io/ annotations" in evaluate(policy, request(new))


@pytest.mark.parametrize("new", [
    changed(metadata__labels={"kubernetes.io/hostname": "node-a", "infera.io/x": "y"}),
    changed(spec__taints=[{"key": "k", "effect": "NoSchedule"}]),
    changed(spec__unschedulable=True),
    changed(metadata__finalizers=["example.com/f"]),
], ids=["label", "taint", "cordon", "finalizer"])
def test_agent_may_not_change_labels_spec_or_finalizers(policy: dict[str, Any], new: dict[str, Any]) -> None:
    assert "read-only to it" in evaluate(policy, request(new))


def test_other_users_are_not_this_policys_business(policy: dict[str, Any]) -> None:
    new = changed(spec__unschedulable=True)
    assert evaluate(policy, request(new, user="system:node:node-a")) == "skip"


def test_without_a_node_claim_the_default_denies(policy: dict[str, Any]) -> None:
    new = with_annotations(**{"infera.io/enforcement": "{}"})
    assert "only the Node its pod runs on" in evaluate(policy, request(new, claim=None))


def test_without_a_node_claim_the_fallback_allows_infera_annotations_only(relaxed_policy: dict[str, Any]) -> None:
    ok = with_annotations(**{"infera.io/enforcement": "{}"})
    assert evaluate(relaxed_policy, request(ok, claim=None)) == "allow"
    assert "read-only to it" in evaluate(relaxed_policy, request(changed(spec__unschedulable=True), claim=None))
    # a token that does carry a claim is still held to its own node
    other = copy.deepcopy(ok)
    other["metadata"]["name"] = "node-b"
    assert "only the Node its pod runs on" in evaluate(relaxed_policy, request(other))
