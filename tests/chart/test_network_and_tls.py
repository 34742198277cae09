"""What the chart renders for the network (issue 15): the extender over TLS by default, with
kube-scheduler trusting its CA; one NetworkPolicy per component that lets in exactly the ports
the component serves and lets out only DNS and the API server; a PodDisruptionBudget for the
extender; and the webhook Ready only once ``/readyz`` says its certificate is loaded (and its
namespace cache synced).

Validity against the official schemas (NetworkPolicy and PodDisruptionBudget included) is
``test_helm_lint_and_schemas.py``'s job, over the same value sets."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import Doc, embedded_yaml, find, render, render_text, served_names

pytestmark = pytest.mark.tools

WORKLOADS = {"DaemonSet", "Deployment"}


def pod_of(doc: Doc) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def policy_for(docs: list[Doc], workload: Doc) -> Doc:
    """The one NetworkPolicy whose podSelector picks the workload's pods."""
    labels = workload["spec"]["template"]["metadata"]["labels"]
    chosen = [d for d in docs if d["kind"] == "NetworkPolicy"
              and d["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
    assert len(chosen) == 1, workload["metadata"]["name"]
    return chosen[0]


def ingress_ports(policy: Doc) -> set[int]:
    return {port["port"] for rule in policy["spec"].get("ingress", []) for port in rule["ports"]}


def test_the_extender_serves_https_with_a_chain_issued_for_its_service(helm: Path) -> None:
    docs = render("scheduler")
    secret = find(docs, "Secret", "infera-extender-tls")
    names = served_names(secret)
    assert "infera-extender.infera.svc" in names
    deployment = find(docs, "Deployment", "infera-extender")
    (container,) = pod_of(deployment)["containers"]
    flags = container["command"]
    assert flags[flags.index("--tls-cert") + 1] == "/etc/temper/tls/tls.crt"
    assert flags[flags.index("--tls-key") + 1] == "/etc/temper/tls/tls.key"
    assert container["volumeMounts"] == [{"name": "tls", "mountPath": "/etc/temper/tls", "readOnly": True}]
    assert pod_of(deployment)["volumes"] == [{"name": "tls", "secret": {"secretName": "infera-extender-tls"}}]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"https": 9471, "metrics": 9472}
    ports = {p["name"]: p["port"] for p in find(docs, "Service", "infera-extender")["spec"]["ports"]}
    assert ports == {"https": 9471, "metrics": 9472}


def test_kube_scheduler_calls_the_extender_over_https_trusting_exactly_its_ca(helm: Path) -> None:
    docs = render("scheduler")
    (extender,) = embedded_yaml(find(docs, "ConfigMap", "infera-scheduler"))["extenders"]
    assert extender["urlPrefix"].startswith("https://infera-extender.infera.svc:")
    assert extender["enableHTTPS"] is True
    assert extender["tlsConfig"] == {"insecure": False,
                                     "caData": find(docs, "Secret", "infera-extender-tls")["data"]["ca.crt"]}


def test_an_existing_extender_secret_needs_its_ca_bundle_and_is_trusted_through_it(helm: Path) -> None:
    with pytest.raises(AssertionError, match="caBundle"):
        render_text("scheduler", extra=("scheduler.extender.tls.existingSecret=mine",))
    docs = render("scheduler", extra=("scheduler.extender.tls.existingSecret=mine",
                                      "scheduler.extender.tls.caBundle=PEM"))
    assert [d for d in docs if d["kind"] == "Secret"] == []
    (extender,) = embedded_yaml(find(docs, "ConfigMap", "infera-scheduler"))["extenders"]
    assert extender["tlsConfig"]["caData"] == base64.b64encode(b"PEM").decode()
    volumes = pod_of(find(docs, "Deployment", "infera-extender"))["volumes"]
    assert volumes == [{"name": "tls", "secret": {"secretName": "mine"}}]


def test_the_extender_has_a_disruption_budget_that_never_blocks_a_drain(helm: Path) -> None:
    docs = render("scheduler")
    pdb = find(docs, "PodDisruptionBudget", "infera-extender")["spec"]
    assert pdb["maxUnavailable"] == 1
    labels = find(docs, "Deployment", "infera-extender")["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()


def test_probes_and_scrapes_use_the_plain_metrics_ports(helm: Path) -> None:
    docs = render("everything")
    (webhook,) = pod_of(find(docs, "Deployment", "infera-webhook"))["containers"]
    assert webhook["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {p["name"]: p["containerPort"] for p in webhook["ports"]}["metrics"] == 9472
    (extender,) = pod_of(find(docs, "Deployment", "infera-extender"))["containers"]
    assert extender["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert extender["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    monitor = find(docs, "ServiceMonitor", "infera-extender")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


@pytest.mark.parametrize("value_set", ["defaults", "scheduler", "overcommit", "everything", "console-full"])
def test_every_workload_has_one_network_policy_covering_exactly_its_served_ports(helm: Path, value_set: str) -> None:
    docs = render(value_set)
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert len(policies) == len(workloads)
    for workload in workloads:
        policy = policy_for(docs, workload)
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        served = {p["containerPort"] for c in pod_of(workload)["containers"] for p in c.get("ports", [])}
        assert ingress_ports(policy) == served, workload["metadata"]["name"]


def egress_ports(policy: Doc) -> set[tuple[str, int]]:
    return {(port["protocol"], port["port"]) for rule in policy["spec"].get("egress", []) for port in rule["ports"]}


API_AND_DNS = {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443)}


def test_egress_is_dns_and_the_api_server(helm: Path) -> None:
    docs = render("everything")
    for name in ("infera-agent", "infera-extender", "infera-webhook"):
        assert egress_ports(find(docs, "NetworkPolicy", name)) == API_AND_DNS
    scheduler = find(docs, "NetworkPolicy", "infera-scheduler")
    assert egress_ports(scheduler) == API_AND_DNS | {("TCP", 9471)}
    (to_extender,) = [r for r in scheduler["spec"]["egress"] if r["ports"] == [{"protocol": "TCP", "port": 9471}]]
    assert to_extender["to"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "infera", "app.kubernetes.io/instance": "infera",
        "app.kubernetes.io/component": "extender"}}}]


def test_the_webhook_may_dial_only_the_api_server_for_its_namespace_watch_and_nothing_without_it(
        helm: Path) -> None:
    """namespaceCheck api (the default) list/watches Namespaces, so the webhook needs the API
    server (and DNS) like every other API client; with namespaceCheck off it calls nothing."""
    control_plane = "networkPolicy.apiServer.to[0].ipBlock.cidr=10.0.0.0/24"
    watching = find(render("overcommit", extra=(control_plane,)), "NetworkPolicy", "infera-webhook")["spec"]
    assert egress_ports({"spec": watching}) == API_AND_DNS
    (api_rule,) = [r for r in watching["egress"] if {"protocol": "TCP", "port": 443} in r["ports"]]
    assert api_rule["to"] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
    silent = find(render("overcommit", extra=("overcommit.config.namespaceCheck=off",)),
                  "NetworkPolicy", "infera-webhook")["spec"]
    assert "Egress" in silent["policyTypes"] and "egress" not in silent


def test_only_the_infera_scheduler_may_call_the_extender(helm: Path) -> None:
    rules = find(render("scheduler"), "NetworkPolicy", "infera-extender")["spec"]["ingress"]
    (scoring,) = [r for r in rules if r["ports"] == [{"protocol": "TCP", "port": 9471}]]
    assert scoring["from"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "infera", "app.kubernetes.io/instance": "infera",
        "app.kubernetes.io/component": "scheduler"}}}]


def test_network_policy_peers_come_from_values_and_the_switch_turns_them_off(helm: Path) -> None:
    monitoring = "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring"
    control_plane = "networkPolicy.apiServer.to[0].ipBlock.cidr=10.0.0.0/24"
    docs = render("everything", extra=(monitoring, control_plane, "networkPolicy.apiServer.from[0].ipBlock.cidr="
                                                                   "10.0.0.0/24"))
    agent = find(docs, "NetworkPolicy", "infera-agent")["spec"]
    assert agent["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9470}],
                                 "from": [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}]}]
    api_rule = [r for r in agent["egress"] if {"protocol": "TCP", "port": 443} in r["ports"]]
    assert api_rule[0]["to"] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
    webhook = find(docs, "NetworkPolicy", "infera-webhook")["spec"]["ingress"]
    assert webhook[0]["from"] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
    off = render("everything", extra=("networkPolicy.enabled=false",))
    assert [d for d in off if d["kind"] == "NetworkPolicy"] == []
