"""Fixtures for the chart tests: the real Helm v3 binary, and the chart rendered per value set.

Rendering is cached per (value set, Kubernetes version) for the session: ``helm template`` is
fast, but the assertions in several files look at the same outputs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helmbin import helm_path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "infera"
RELEASE = "infera"
NAMESPACE = "infera"
KUBE_VERSIONS = ("1.30.0", "1.37.0")
"""The oldest version the chart supports (ValidatingAdmissionPolicy GA) and the newest the
validator knows."""

VALUE_SETS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "scheduler": ("scheduler.enabled=true",),
    "overcommit": ("overcommit.enabled=true",),
    "everything": ("scheduler.enabled=true", "overcommit.enabled=true",
                   "metrics.serviceMonitor.enabled=true", "metrics.dashboard.enabled=true"),
    "scheduler-filtering": ("scheduler.enabled=true", "scheduler.complement=false", "scheduler.filter=true"),
    "console": ("console.enabled=true",),
    "console-full": ("console.enabled=true", "scheduler.enabled=true", "overcommit.enabled=true",
                     "console.tokenReview.enabled=true", "console.tokenReview.groups.ops-team=operator",
                     "console.prices.book.currency=USD", "console.prices.book.default.vcpuHour=1",
                     "console.hub.peers[0].name=eu-west", "console.hub.peers[0].url=https://console.eu.example:8443",
                     "console.hub.peers[0].tokenFile=/etc/temper/console/peer-tokens/eu-west",
                     "console.hub.peers[1].name=edge-7", "console.hub.peers[1].mode=dial-in",
                     "console.hub.tokensSecret=peer-tokens"),
}
"""Named ``--set`` lists; the first four are the issue's matrix, the fifth a positive control,
the last two the management plane (off in every other set) alone and with every option."""

Doc = dict[str, Any]


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_path()), *args], capture_output=True, text=True, check=False)


@cache
def render_text(value_set: str, kube_version: str = KUBE_VERSIONS[-1], extra: tuple[str, ...] = ()) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version]
    for item in (*VALUE_SETS[value_set], *extra):
        args += ["--set", item]
    result = run_helm(*args)
    assert result.returncode == 0, f"helm template ({value_set}) failed:\n{result.stderr}"
    return result.stdout


def render(value_set: str, kube_version: str = KUBE_VERSIONS[-1], extra: tuple[str, ...] = ()) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(render_text(value_set, kube_version, extra)) if doc]


def find(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def kinds(docs: list[Doc]) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["metadata"]["name"]) for d in docs)


def served_names(secret: Mapping[str, Any]) -> list[str]:
    """The DNS names of a kubernetes.io/tls Secret's leaf, after checking its ca.crt issued it."""
    import base64

    from cryptography import x509

    assert secret["type"] == "kubernetes.io/tls"
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    leaf.verify_directly_issued_by(ca)
    names: list[str] = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    return names


def embedded_yaml(configmap: Mapping[str, Any], key: str = "config.yaml") -> Any:
    return yaml.safe_load(configmap["data"][key])


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned Helm v3; a missing tool is a failure, never a skip."""
    return helm_path()


@pytest.fixture(scope="session")
def rendered() -> Callable[..., list[Doc]]:
    return render
