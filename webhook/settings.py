"""The webhook service's settings: the ``webhook:`` section of Temper's config file.

Why this module exists: one strict parser (``temper.config``'s ``load_document``/``take``/
``reject_unknown``) for everything ``temper webhook`` reads, so a typo is an error naming the
key, never a silent default. Reference (all keys optional; defaults shown)::

    webhook:
      factors: {high: 0.9, normal: 0.75, low: 0.5, background: 0.25}   # 0 < f <= 1
      floor: "10m"                 # never scale a request below this
      allowGuaranteed: false       # scaling a Guaranteed pod makes it Burstable
      listen: "0.0.0.0:8443"       # HTTPS /mutate
      metricsListen: "0.0.0.0:9471"  # plain HTTP /metrics and /healthz
      certFile: /etc/temper/tls/tls.crt
      keyFile: /etc/temper/tls/tls.key
      clientCaFile: null           # set to require client certificates (mutual TLS)
      reloadIntervalSeconds: 10    # how often the certificate files are checked
      namespace: temper-system     # Temper's own namespace (excluded by matchConditions)
      serviceName: temper-webhook
      namespaceCheck: api          # api | off (see below)
      # Connection limits of both ports (temper.serving.ConnectionLimits):
      maxConnections: 1024         # new connections beyond this many open ones are closed
      tlsHandshakeTimeoutSeconds: 5
      requestHeadTimeoutSeconds: 10  # from connection ready to the end of the request head
      idleTimeoutSeconds: 15       # keep-alive idle

Flags of ``temper webhook serve`` override the file (``--listen``, ``--tls-cert``, ...).

``namespaceCheck``: the webhook checks the opt-in label of the pod's namespace itself, rather
than trust that the registration's ``namespaceSelector`` filtered the request. ``api`` (the
default, and the chart's): list+watch Namespaces with the process's Kubernetes credentials
(in-cluster, or ``--kubeconfig``; needs ``list``/``watch`` on ``namespaces``); until the first
LIST has landed nothing is scaled and ``/readyz`` answers 503. ``off``: no API access; every
namespace that reaches the webhook is taken to match the registration's selector — for tests
and for running outside a cluster only.

Exceptions: ``temper.config.ConfigError`` (a ``ValueError``) naming the file and key.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temper.config import ConfigError, load_document, section_of, take
from temper.serving import LIMIT_KEYS, ConnectionLimits, parse_connection_limits, parse_host_port
from webhook.policy import PolicyConfig, check_policy_keys, parse_policy_config


class NamespaceCheck(enum.Enum):
    API = "api"
    OFF = "off"


@dataclass(frozen=True)
class WebhookSettings:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    listen: str = "0.0.0.0:8443"
    metrics_listen: str = "0.0.0.0:9471"
    cert_file: str = "/etc/temper/tls/tls.crt"
    key_file: str = "/etc/temper/tls/tls.key"
    client_ca_file: str | None = None
    reload_interval_s: float = 10.0
    namespace: str = "temper-system"
    service_name: str = "temper-webhook"
    namespace_check: NamespaceCheck = NamespaceCheck.API
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)


def parse_webhook_settings(doc: Mapping[str, Any]) -> WebhookSettings:
    section = section_of(doc, "webhook")
    where = "webhook"
    check_policy_keys(section, {"listen", "metricsListen", "certFile", "keyFile", "clientCaFile",
                                "reloadIntervalSeconds", "namespace", "serviceName", "namespaceCheck",
                                *LIMIT_KEYS}, where)
    defaults = WebhookSettings()
    check_text = take(section, "namespaceCheck", str, defaults.namespace_check.value, where)
    try:
        namespace_check = NamespaceCheck(check_text)
    except ValueError:
        raise ConfigError(f"{where}.namespaceCheck: expected api or off, got {check_text!r}") from None
    client_ca = section.get("clientCaFile")
    if client_ca is not None and not isinstance(client_ca, str):
        raise ConfigError(f"{where}.clientCaFile: expected a path")
    settings = WebhookSettings(
        policy=parse_policy_config(section, where),
        listen=take(section, "listen", str, defaults.listen, where),
        metrics_listen=take(section, "metricsListen", str, defaults.metrics_listen, where),
        cert_file=take(section, "certFile", str, defaults.cert_file, where),
        key_file=take(section, "keyFile", str, defaults.key_file, where),
        client_ca_file=client_ca,
        reload_interval_s=take(section, "reloadIntervalSeconds", float, defaults.reload_interval_s, where),
        namespace=take(section, "namespace", str, defaults.namespace, where),
        service_name=take(section, "serviceName", str, defaults.service_name, where),
        namespace_check=namespace_check,
        limits=parse_connection_limits(section, where),
    )
    parse_host_port(settings.listen, f"{where}.listen")
    parse_host_port(settings.metrics_listen, f"{where}.metricsListen")
    if not 0.5 <= settings.reload_interval_s <= 3600:
        raise ConfigError(f"{where}.reloadIntervalSeconds must be within 0.5..3600")
    return settings


def load_webhook_settings(path: str | Path | None) -> WebhookSettings:
    return parse_webhook_settings(load_document(path))
