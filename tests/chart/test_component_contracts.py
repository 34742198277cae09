"""The chart and the components agree: each rendered command line parses with the component's
own argument parser, each rendered config file loads with the component's strict loader, and
the scheduler and webhook registrations equal what the components themselves generate
(``temper extender config``, ``temper webhook config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import embedded_yaml, find, render

pytestmark = pytest.mark.tools


def command(docs: list[dict[str, Any]], kind: str, name: str) -> list[str]:
    (container,) = find(docs, kind, name)["spec"]["template"]["spec"]["containers"]
    args: list[str] = container["command"]
    assert args[0] == "temper"
    return args[1:]


def test_agent_command_and_config_load_with_the_agent_parsers(helm: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nodeagent.main import parse_args
    from temper.config import parse_agent_config

    docs = render("defaults")
    argv = command(docs, "DaemonSet", "infera-agent")
    assert argv[0] == "agent"
    args = parse_args(argv[1:])
    assert args.command == "serve"
    assert "deprecated" not in capsys.readouterr().err
    assert args.config == "/etc/temper/config.yaml"
    assert args.configmap == "infera/infera-agent"
    config = parse_agent_config(embedded_yaml(find(docs, "ConfigMap", "infera-agent")))
    assert config.cgroup_root == "/host/sys/fs/cgroup"
    assert config.listen == "0.0.0.0:9470"
    assert config.observe_only is False


def test_every_agent_config_default_in_values_equals_the_schema_default(helm: Path) -> None:
    """values.yaml spells the defaults out for documentation; they must be the real ones."""
    from temper.config import AgentConfig, parse_agent_config

    rendered = embedded_yaml(find(render("defaults"), "ConfigMap", "infera-agent"))
    schema_default = AgentConfig()
    loaded = parse_agent_config(rendered)
    assert loaded.plan == schema_default.plan
    assert loaded.publish == schema_default.publish
    assert loaded.scan_interval_s == schema_default.scan_interval_s
    assert loaded.safe_mode_poll_s == schema_default.safe_mode_poll_s


def test_extender_command_parses_and_scheduler_config_is_what_the_extender_prints(helm: Path) -> None:
    import base64

    from extender.main import cli
    from extender.schedconfig import scheduler_configuration

    for value_set, filtering in (("scheduler", False), ("scheduler-filtering", True)):
        docs = render(value_set)
        argv = command(docs, "Deployment", "infera-extender")
        assert argv[0] == "extender"
        args = cli().parse(argv[1:])
        assert args.command == "serve" and args.listen == "0.0.0.0:9471" and args.filter is filtering
        assert args.metrics_listen == "0.0.0.0:9472"
        assert (args.tls_cert, args.tls_key) == ("/etc/temper/tls/tls.crt", "/etc/temper/tls/tls.key")
        rendered = embedded_yaml(find(docs, "ConfigMap", "infera-scheduler"))
        ca = base64.b64decode(find(docs, "Secret", "infera-extender-tls")["data"]["ca.crt"])
        expected = scheduler_configuration(
            "https://infera-extender.infera.svc:9471", weight=5, filter_enabled=filtering,
            complement=not filtering, http_timeout="1s", lease_namespace="infera", ca_data=ca)
        assert rendered == expected


def test_plain_http_extender_config_is_what_the_extender_prints(helm: Path) -> None:
    from extender.main import cli
    from extender.schedconfig import scheduler_configuration

    docs = render("scheduler", extra=("scheduler.extender.tls.enabled=false",))
    args = cli().parse(command(docs, "Deployment", "infera-extender")[1:])
    assert args.tls_cert is None and args.tls_key is None
    assert [d for d in docs if d["kind"] == "Secret"] == []
    assert embedded_yaml(find(docs, "ConfigMap", "infera-scheduler")) == scheduler_configuration(
        "http://infera-extender.infera.svc:9471", weight=5, complement=True, http_timeout="1s",
        lease_namespace="infera")


def test_webhook_command_and_config_load_with_the_webhook_parsers(helm: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from webhook.main import _settings, parse_args

    docs = render("overcommit")
    argv = command(docs, "Deployment", "infera-webhook")
    assert argv[0] == "webhook"
    args = parse_args(argv[1:])
    assert args.command == "serve"
    assert "deprecated" not in capsys.readouterr().err  # the chart uses the current spellings
    config_map = find(docs, "ConfigMap", "infera-webhook")
    from webhook.settings import parse_webhook_settings

    settings = parse_webhook_settings(embedded_yaml(config_map))
    assert settings.namespace == "infera" and settings.service_name == "infera-webhook"
    args.config = None  # the file lives in the pod; the flags alone must be valid settings
    overridden = _settings(args)
    assert overridden.listen == "0.0.0.0:9443"
    assert overridden.metrics_listen == "0.0.0.0:9472"
    assert overridden.cert_file == "/etc/temper/tls/tls.crt"
    assert overridden.key_file == "/etc/temper/tls/tls.key"


def test_webhook_registration_is_what_the_webhook_generates(helm: Path) -> None:
    from webhook.manifest import mutating_webhook_configuration

    rendered = find(render("overcommit"), "MutatingWebhookConfiguration")
    expected = mutating_webhook_configuration("infera", "infera-webhook")
    (ours,) = rendered["webhooks"]
    (theirs,) = expected["webhooks"]
    ours = {**ours, "clientConfig": {k: v for k, v in ours["clientConfig"].items() if k != "caBundle"}}
    assert ours == theirs
