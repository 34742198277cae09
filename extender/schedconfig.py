"""The KubeSchedulerConfiguration that wires kube-scheduler to this extender — a pure printer.

Why it exists: the scheduler side of the contract (verbs, weight, nodeCacheCapable, TLS,
timeouts) must match what the service serves; ``temper extender config`` prints it and the
Helm chart renders the same stanza, so both are generated from ``scheduler_configuration``.

Design: extenders are global to a kube-scheduler *process* (the ``extenders:`` list is not
per profile), so the printed document configures a **second kube-scheduler instance** whose
only profile is ``infera-scheduler``; pods opt in with ``spec.schedulerName:
infera-scheduler`` and the default scheduler is untouched. Its leader-election lease gets its
own name so the two instances never contend.

Rules (each enforced, ``ValueError`` otherwise):
- ``prioritizeVerb`` always; ``filterVerb`` only with ``filter_enabled`` — and never with
  ``complement`` (Karpenter / Cast AI keep placement; Karpenter's simulation cannot model
  extender filtering, so pods the extender filters out could stay Pending forever).
- ``nodeCacheCapable: true`` (the service keeps its own node cache; REFERENCE: with ``false``
  a recent upstream regression makes NodeResourcesFit score every node as idle).
- ``ignorable: true``: when the extender is down, scheduling proceeds without it.
- ``enableHTTPS`` and ``tlsConfig`` exactly when the URL is ``https://``; a CA (file or data)
  is required then, ``insecure`` is never set.
- ``weight`` 1..100: the extender adds ``score × weight × 10`` to each node's total.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import yaml

SCHEDULER_NAME = "infera-scheduler"
API_VERSION = "kubescheduler.config.k8s.io/v1"
DEFAULT_WEIGHT = 5
DEFAULT_HTTP_TIMEOUT = "1s"
"""A timed-out prioritize is ignored by kube-scheduler; a short timeout bounds the delay a
slow extender adds to a scheduling cycle (the upstream default is 5s)."""
MAX_WEIGHT = 100
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")


def scheduler_configuration(url: str, *, weight: int = DEFAULT_WEIGHT, filter_enabled: bool = False,
                            complement: bool = False, ca_file: str | None = None, ca_data: bytes | None = None,
                            server_name: str | None = None, http_timeout: str = DEFAULT_HTTP_TIMEOUT,
                            scheduler_name: str = SCHEDULER_NAME,
                            lease_namespace: str = "kube-system") -> dict[str, Any]:
    """The KubeSchedulerConfiguration document (see the module docstring for the rules)."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ValueError(f"extender URL must start with http:// or https://, got {url!r}")
    if not 1 <= weight <= MAX_WEIGHT:
        raise ValueError(f"weight must be within 1..{MAX_WEIGHT}, got {weight}")
    if filter_enabled and complement:
        raise ValueError("filtering cannot be enabled in complement mode: Karpenter / Cast AI cannot "
                         "model extender filtering, so filtered pods could stay Pending forever")
    if not _DURATION.match(http_timeout):
        raise ValueError(f"httpTimeout must be a duration like 1s or 500ms, got {http_timeout!r}")
    https = url.startswith("https://")
    if not https and (ca_file or ca_data or server_name):
        raise ValueError("TLS settings (CA, server name) need an https:// URL")
    if https and not (ca_file or ca_data):
        raise ValueError("an https:// extender needs a CA to verify it (ca_file or ca_data)")
    extender: dict[str, Any] = {"urlPrefix": url}
    if filter_enabled:
        extender["filterVerb"] = "filter"
    extender.update({"prioritizeVerb": "prioritize", "weight": weight, "nodeCacheCapable": True,
                     "httpTimeout": http_timeout, "ignorable": True})
    if https:
        tls: dict[str, Any] = {"insecure": False}
        if server_name:
            tls["serverName"] = server_name
        if ca_file:
            tls["caFile"] = ca_file
        if ca_data:
            tls["caData"] = base64.b64encode(ca_data).decode()
        extender["enableHTTPS"] = True
        extender["tlsConfig"] = tls
    return {
        "apiVersion": API_VERSION,
        "kind": "KubeSchedulerConfiguration",
        "leaderElection": {"leaderElect": True, "resourceName": scheduler_name,
                           "resourceNamespace": lease_namespace},
        "profiles": [{"schedulerName": scheduler_name}],
        "extenders": [extender],
    }


def render_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)
