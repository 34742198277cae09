"""The chart lints clean and every rendered object passes the official Kubernetes schemas.

``kubernetes-validate --strict`` rejects unknown fields; it runs against the oldest version the
chart supports (1.30) and the newest it knows (1.37), for each of the issue's value sets. The
ServiceMonitor is a Prometheus Operator CRD the validator has no schema for: it is taken out
and its shape checked here; any *other* object without a schema fails the test.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import CHART, KUBE_VERSIONS, VALUE_SETS, find, render, run_helm

pytestmark = pytest.mark.tools

MATRIX = ("defaults", "scheduler", "overcommit", "everything", "console", "console-full")
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def validator() -> list[str]:
    if importlib.util.find_spec("kubernetes_validate") is None:
        pytest.fail("kubernetes-validate is not installed: pip install -e '.[dev]'")
    return [sys.executable, "-m", "kubernetes_validate"]


@pytest.mark.parametrize("value_set", [*MATRIX, "scheduler-filtering"])
def test_helm_lint_is_clean(helm: Path, value_set: str) -> None:
    args = ["lint", str(CHART), "--strict"]
    for item in VALUE_SETS[value_set]:
        args += ["--set", item]
    result = run_helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("value_set", MATRIX)
def test_every_rendered_object_passes_the_strict_official_schema(
        helm: Path, tmp_path: Path, value_set: str, kube_version: str) -> None:
    docs = [d for d in render(value_set, kube_version) if (d["apiVersion"], d["kind"]) not in CRD_KINDS]
    manifest = tmp_path / f"{value_set}.yaml"
    manifest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    minor = ".".join(kube_version.split(".")[:2])
    result = subprocess.run([*validator(), "--strict", "-k", minor, str(manifest)],
                            capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Couldn't find schema" not in output, output
    assert output.count(" passed for resource ") == len(docs), output


def test_the_validator_really_rejects_unknown_fields(tmp_path: Path) -> None:
    """Guards the guard: --strict must fail an object with a stray field."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbogus: 1\n")
    result = subprocess.run([*validator(), "--strict", "-k", "1.30", str(bad)],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0


def test_service_monitors_have_the_prometheus_operator_shape(helm: Path) -> None:
    docs = render("everything")
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert {m["metadata"]["labels"]["app.kubernetes.io/component"] for m in monitors} == {
        "agent", "extender", "webhook"}
    services = [d for d in docs if d["kind"] == "Service"]
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
        spec = monitor["spec"]
        assert set(spec) == {"namespaceSelector", "selector", "endpoints"}
        assert spec["namespaceSelector"] == {"matchNames": ["infera"]}
        selector = spec["selector"]["matchLabels"]
        (endpoint,) = spec["endpoints"]
        assert set(endpoint) <= {"port", "path", "interval", "relabelings"}
        assert endpoint["path"] == "/metrics"
        assert endpoint["interval"].endswith("s")
        # the selector must pick exactly one Service that has the named port
        chosen = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert len(chosen) == 1, monitor["metadata"]["name"]
        assert endpoint["port"] in {p["name"] for p in chosen[0]["spec"]["ports"]}
    agent_service = find(docs, "Service", "infera-agent-metrics")
    assert agent_service["spec"]["clusterIP"] == "None"
