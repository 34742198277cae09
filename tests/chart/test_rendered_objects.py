"""What `helm template` renders, object by object: the safety promises the chart makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import Doc, embedded_yaml, find, kinds, render, render_text

pytestmark = pytest.mark.tools

RBAC_KINDS = {"ClusterRole", "Role"}


def all_rules(docs: list[Doc]) -> list[dict[str, Any]]:
    return [rule for d in docs if d["kind"] in RBAC_KINDS for rule in d.get("rules", [])]


def test_defaults_render_only_the_agent_its_rbac_configmap_and_the_priority_classes(helm: Path) -> None:
    assert kinds(render("defaults")) == sorted([
        ("ClusterRole", "infera-agent"),
        ("ClusterRoleBinding", "infera-agent"),
        ("ConfigMap", "infera-agent"),
        ("DaemonSet", "infera-agent"),
        ("NetworkPolicy", "infera-agent"),
        ("PriorityClass", "infera-background"),
        ("PriorityClass", "infera-critical"),
        ("PriorityClass", "infera-high"),
        ("PriorityClass", "infera-low"),
        ("PriorityClass", "infera-normal"),
        ("Role", "infera-agent"),
        ("RoleBinding", "infera-agent"),
        ("ServiceAccount", "infera-agent"),
        # the agent's RBAC, narrowed: own Node, infera.io/ annotations only
        ("ValidatingAdmissionPolicy", "infera-agent-own-node"),
        ("ValidatingAdmissionPolicyBinding", "infera-agent-own-node"),
    ])


@pytest.mark.parametrize("value_set", ["defaults", "scheduler", "overcommit", "everything", "console-full"])
def test_no_rbac_rule_has_a_wildcard(helm: Path, value_set: str) -> None:
    rules = all_rules(render(value_set))
    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), rule


def test_agent_may_read_pods_patch_nodes_and_read_only_its_own_configmap(helm: Path) -> None:
    docs = render("defaults")
    assert find(docs, "ClusterRole", "infera-agent")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]},
    ]
    assert find(docs, "Role", "infera-agent")["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["infera-agent"], "verbs": ["get"]},
    ]


def test_node_policy_binds_agent_patches_to_its_own_node_and_infera_annotations(helm: Path) -> None:
    docs = render("defaults")
    policy = find(docs, "ValidatingAdmissionPolicy")["spec"]
    assert policy["failurePolicy"] == "Fail"
    assert policy["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["nodes"]}]
    assert policy["matchConditions"] == [{
        "name": "from-temper-agent",
        "expression": "request.userInfo.username == 'system:serviceaccount:infera:infera-agent'"}]
    expressions = " ".join(v["expression"] for v in policy["validations"])
    assert "authentication.kubernetes.io/node-name" in " ".join(v["expression"] for v in policy["variables"])
    assert "variables.ownNode || (!variables.hasNodeClaim && false)" in expressions
    assert "startsWith('infera.io/')" in expressions
    binding = find(docs, "ValidatingAdmissionPolicyBinding")["spec"]
    assert binding == {"policyName": "infera-agent-own-node", "validationActions": ["Deny"]}
    relaxed = find(render("defaults", extra=("agent.nodePolicy.missingNodeClaim=annotationsOnly",)),
                   "ValidatingAdmissionPolicy")["spec"]
    assert "(!variables.hasNodeClaim && true)" in relaxed["validations"][0]["expression"]


def test_daemonset_takes_at_most_one_node_off_enforcement_at_a_time(helm: Path) -> None:
    spec = find(render("defaults"), "DaemonSet")["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["minReadySeconds"] >= 1


def test_agent_pod_runs_everywhere_at_node_critical_priority_with_probes_and_resources(helm: Path) -> None:
    pod = find(render("defaults"), "DaemonSet")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["hostPID"] is True and pod["hostNetwork"] is False  # hostPID: agent.threadTelemetry (default on)
    (container,) = pod["containers"]
    assert container["command"] == ["temper", "agent", "serve", "--config", "/etc/temper/config.yaml",
                                    "--configmap", "infera/infera-agent"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "POD_NAMESPACE": "metadata.namespace"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 9470, "protocol": "TCP"}]
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}


def test_thread_telemetry_off_drops_host_pid_and_tells_the_agent(helm: Path) -> None:
    """agent.threadTelemetry=false: no host PID namespace, and the agent runs with --no-threads
    (it would otherwise report an error per pod for threads it cannot see)."""
    on = find(render("defaults"), "DaemonSet")["spec"]["template"]["spec"]
    off = find(render("defaults", extra=("agent.threadTelemetry=false",)), "DaemonSet")["spec"]["template"]["spec"]
    assert "--no-threads" not in on["containers"][0]["command"]
    assert off["hostPID"] is False and off["containers"][0]["command"][-1] == "--no-threads"


def test_agent_security_context_and_mounts_are_as_documented(helm: Path) -> None:
    pod = find(render("defaults"), "DaemonSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"] == {"runAsUser": 0, "runAsNonRoot": False,
                                            "readOnlyRootFilesystem": True, "privileged": True}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    expected = {  # volume: (host path, mount path, read-only)
        "cgroup": ("/sys/fs/cgroup", "/host/sys/fs/cgroup", True),
        "bpffs": ("/sys/fs/bpf", "/sys/fs/bpf", False),
        "sys-kernel": ("/sys/kernel", "/sys/kernel", True),  # btf/ and sched_ext/ live here
    }
    for name, (host, path, read_only) in expected.items():
        assert volumes[name]["hostPath"] == {"path": host, "type": "Directory"}
        assert mounts[name]["mountPath"] == path
        assert mounts[name].get("readOnly", False) is read_only
        assert "mountPropagation" not in mounts[name]
    host_paths = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host_paths == {"/sys/fs/cgroup", "/sys/fs/bpf", "/sys/kernel"}


def test_unprivileged_agent_gets_exactly_bpf_perfmon_and_sys_admin(helm: Path) -> None:
    docs = render("defaults", extra=("agent.privileged=false",))
    (container,) = find(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    context = container["securityContext"]
    assert context["privileged"] is False and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON", "SYS_ADMIN"]}


def test_agent_configmap_documents_fleet_safe_mode_and_only_sets_the_annotation_on_request(helm: Path) -> None:
    configmap = find(render("defaults"), "ConfigMap", "infera-agent")
    assert "annotations" not in configmap["metadata"]  # a later upgrade never clears an operator's kill switch
    text = configmap["data"]["config.yaml"]
    assert "kubectl -n infera annotate configmap infera-agent infera.io/safe-mode-requested=true" in text
    requested = find(render("defaults", extra=("agent.safeMode=true",)), "ConfigMap", "infera-agent")
    assert requested["metadata"]["annotations"] == {"infera.io/safe-mode-requested": "true"}


def test_agent_config_points_at_the_mounted_host_paths(helm: Path) -> None:
    config = embedded_yaml(find(render("defaults"), "ConfigMap", "infera-agent"))
    assert config["agent"]["cgroupRoot"] == "/host/sys/fs/cgroup"
    assert config["agent"]["pinDir"] == "/sys/fs/bpf/temper"
    assert config["agent"]["bpfObject"] == "/usr/lib/temper/temper.bpf.o"
    assert config["agent"]["listen"] == "0.0.0.0:9470"


def test_webhook_configuration_fails_open_and_is_opt_in_per_namespace(helm: Path) -> None:
    docs = render("overcommit")
    (webhook,) = find(docs, "MutatingWebhookConfiguration")["webhooks"]
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["sideEffects"] == "None"
    assert webhook["timeoutSeconds"] == 2
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert webhook["namespaceSelector"] == {"matchLabels": {"infera.io/overcommit": "enabled"}}
    conditions = [c["expression"] for c in webhook["matchConditions"]]
    assert conditions == ['request.namespace != "kube-system"', 'request.namespace != "infera"']
    assert webhook["rules"] == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                 "resources": ["pods"], "scope": "Namespaced"}]
    assert webhook["clientConfig"]["service"] == {"name": "infera-webhook", "namespace": "infera",
                                                  "path": "/mutate", "port": 443}


def test_webhook_certificate_is_generated_for_its_service_and_trusted_by_the_registration(helm: Path) -> None:
    import base64

    from cryptography import x509

    docs = render("overcommit")
    secret = find(docs, "Secret", "infera-webhook-tls")
    assert secret["type"] == "kubernetes.io/tls"
    ca_bundle = find(docs, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"]
    assert ca_bundle == secret["data"]["ca.crt"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(ca_bundle))
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert "infera-webhook.infera.svc" in names


def _webhook_rbac(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in {*RBAC_KINDS, "ClusterRoleBinding", "RoleBinding"}
            and d["metadata"]["labels"]["app.kubernetes.io/component"] == "webhook"]


def test_webhook_may_only_list_and_watch_namespaces_and_has_a_disruption_budget(helm: Path) -> None:
    """Issue 15 §4: the webhook checks the namespace opt-in label itself, from a Namespace watch."""
    docs = render("overcommit")
    assert kinds(_webhook_rbac(docs)) == [("ClusterRole", "infera-webhook"), ("ClusterRoleBinding", "infera-webhook")]
    assert find(docs, "ClusterRole", "infera-webhook")["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]
    binding = find(docs, "ClusterRoleBinding", "infera-webhook")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "infera-webhook"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "infera-webhook", "namespace": "infera"}]
    assert find(docs, "ServiceAccount", "infera-webhook")["automountServiceAccountToken"] is False
    pod_spec = find(docs, "Deployment", "infera-webhook")["spec"]["template"]["spec"]
    assert pod_spec["automountServiceAccountToken"] is True
    (container,) = pod_spec["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert embedded_yaml(find(docs, "ConfigMap", "infera-webhook"))["webhook"]["namespaceCheck"] == "api"
    pdb = find(docs, "PodDisruptionBudget", "infera-webhook")["spec"]
    assert pdb["maxUnavailable"] == 1


def test_webhook_without_the_namespace_check_has_no_api_access(helm: Path) -> None:
    docs = render("overcommit", extra=("overcommit.config.namespaceCheck=off",))
    assert _webhook_rbac(docs) == []
    assert find(docs, "Deployment", "infera-webhook")["spec"]["template"]["spec"][
        "automountServiceAccountToken"] is False
    assert embedded_yaml(find(docs, "ConfigMap", "infera-webhook"))["webhook"]["namespaceCheck"] == "off"


def test_existing_secret_mode_needs_a_ca_bundle(helm: Path) -> None:
    with pytest.raises(AssertionError, match="caBundle"):
        render_text("overcommit", extra=("overcommit.certs.existingSecret=mine",))


@pytest.mark.parametrize("value_set", ["defaults", "scheduler", "overcommit", "everything", "console-full"])
def test_complement_mode_never_renders_a_filter_verb(helm: Path, value_set: str) -> None:
    docs = render(value_set)
    text = render_text(value_set)
    assert "filterVerb" not in text
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "--filter" not in container["command"]


def test_filtering_is_rendered_only_when_complement_is_off_and_filter_on(helm: Path) -> None:
    docs = render("scheduler-filtering")
    config = embedded_yaml(find(docs, "ConfigMap", "infera-scheduler"))
    assert config["extenders"][0]["filterVerb"] == "filter"
    (container,) = find(docs, "Deployment", "infera-extender")["spec"]["template"]["spec"]["containers"]
    assert "--filter" in container["command"]
    still_complement = render("scheduler", extra=("scheduler.filter=true",))
    assert "filterVerb" not in str(still_complement)


def test_scheduler_layer_is_a_second_scheduler_with_its_own_lease(helm: Path) -> None:
    docs = render("scheduler")
    config = embedded_yaml(find(docs, "ConfigMap", "infera-scheduler"))
    assert config["profiles"] == [{"schedulerName": "infera-scheduler"}]
    assert config["leaderElection"] == {"leaderElect": True, "resourceName": "infera-scheduler",
                                        "resourceNamespace": "infera"}
    (extender,) = config["extenders"]
    assert extender["prioritizeVerb"] == "prioritize" and extender["ignorable"] is True
    assert extender["nodeCacheCapable"] is True
    assert extender["urlPrefix"] == "https://infera-extender.infera.svc:9471"
    bindings = {d["roleRef"]["name"] for d in docs if d["kind"] in {"ClusterRoleBinding", "RoleBinding"}
                and d["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler"}
    assert bindings == {"system:kube-scheduler", "system:volume-scheduler",
                        "extension-apiserver-authentication-reader", "infera-scheduler-leader-election"}
    lease_role = find(docs, "Role", "infera-scheduler-leader-election")
    assert {"resourceNames": ["infera-scheduler"], "verbs": ["get", "update"]}.items() <= \
        lease_role["rules"][1].items()
    (container,) = find(docs, "Deployment", "infera-scheduler")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.k8s.io/kube-scheduler:v1.37.0"
    extender_role = find(docs, "ClusterRole", "infera-extender")
    assert extender_role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]}]


def test_kube_scheduler_tag_follows_the_cluster_minor_version(helm: Path) -> None:
    docs = render("scheduler", kube_version="1.30.0")
    (container,) = find(docs, "Deployment", "infera-scheduler")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.k8s.io/kube-scheduler:v1.30.0"


def test_dashboard_configmap_carries_the_generated_dashboards(helm: Path) -> None:
    import json

    from tests.chart.conftest import CHART

    configmap = find(render("everything"), "ConfigMap", "infera-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert sorted(configmap["data"]) == ["temper-fleet.json", "temper-node.json", "temper-pod.json"]
    for key, text in configmap["data"].items():
        assert json.loads(text) == json.loads((CHART / "dashboards" / key).read_text()), key


@pytest.mark.parametrize("value_set", ["everything", "console-full"])
def test_non_agent_pods_run_as_non_root_with_a_read_only_root(helm: Path, value_set: str) -> None:
    for deployment in (d for d in render(value_set) if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("typo", ["scheduler.enable=true", "overcommit.timeoutSeconds=60",
                                  "agent.config.agent.scanIntervalSecond=1", "scheduler.weight=0"])
def test_values_schema_rejects_typos_and_out_of_range_values(helm: Path, typo: str) -> None:
    with pytest.raises(AssertionError, match="schema"):
        render_text("defaults", extra=(typo,))
