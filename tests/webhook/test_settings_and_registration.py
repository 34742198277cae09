"""The ``webhook:`` config section is strict, and the generated registration keeps its defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from temper.config import ConfigError
from temper.tiers import Tier
from tests.certs.pki_helpers import mint
from webhook.main import main as webhook_main
from webhook.manifest import mutating_webhook_configuration
from webhook.settings import NamespaceCheck, load_webhook_settings, parse_webhook_settings


def test_defaults_apply_when_the_section_is_absent() -> None:
    settings = parse_webhook_settings({})
    assert settings.policy.floor_milli == 10
    assert settings.policy.factor(Tier.CRITICAL) == 1.0
    assert settings.policy.factor(Tier.LOW) == 0.5
    assert settings.policy.allow_guaranteed is False


def test_factors_floor_and_switches_are_read_from_the_shared_config_file(tmp_path: Path) -> None:
    path = tmp_path / "temper.yaml"
    path.write_text("webhook:\n  factors: {normal: 0.5}\n  floor: '0.05'\n  allowGuaranteed: true\n"
                    "planner: {}\n")
    settings = load_webhook_settings(path)
    assert settings.policy.factor(Tier.NORMAL) == 0.5
    assert settings.policy.floor_milli == 50
    assert settings.policy.allow_guaranteed is True


@pytest.mark.parametrize(("section", "message"), [
    ({"factors": {"critical": 0.5}}, "never scaled"),
    ({"factors": {"low": 1.5}}, "(0, 1]"),
    ({"factors": {"lowest": 0.5}}, "unknown tier"),
    ({"floor": "lots"}, "webhook.floor"),
    ({"flor": "10m"}, "unknown key"),
    ({"listen": "8443"}, "webhook.listen: expected HOST:PORT"),
    ({"maxConnections": 0}, "max_connections"),
    ({"namespaceCheck": "maybe"}, "namespaceCheck: expected api or off"),
])
def test_a_typo_or_bad_value_is_an_error_naming_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        parse_webhook_settings({"webhook": section})


def test_the_namespace_check_is_on_unless_switched_off() -> None:
    assert parse_webhook_settings({}).namespace_check is NamespaceCheck.API
    assert parse_webhook_settings({"webhook": {"namespaceCheck": "off"}}).namespace_check is NamespaceCheck.OFF


def test_serving_with_the_namespace_check_but_no_credentials_exits_2_with_a_hint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    mint(tmp_path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    (tmp_path / "empty-kubeconfig").write_text("")
    assert webhook_main(["serve", "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"),
                         "--kubeconfig", str(tmp_path / "empty-kubeconfig")]) == 2
    err = capsys.readouterr().err
    assert "namespaceCheck api needs Kubernetes credentials" in err and "namespaceCheck: off" in err


def test_the_registration_is_safe_by_default() -> None:
    hook = mutating_webhook_configuration("temper-system", "temper-webhook", b"PEM")["webhooks"][0]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 2
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["namespaceSelector"] == {"matchLabels": {"infera.io/overcommit": "enabled"}}
    expressions = [c["expression"] for c in hook["matchConditions"]]
    assert 'request.namespace != "kube-system"' in expressions
    assert 'request.namespace != "temper-system"' in expressions
    assert hook["rules"] == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                              "resources": ["pods"], "scope": "Namespaced"}]  # pods/resize not included
    assert hook["clientConfig"]["caBundle"] == "UEVN"


def test_webhook_config_prints_the_registration_as_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ca.crt").write_bytes(b"PEM")
    assert webhook_main(["config", "--ca-file", str(tmp_path / "ca.crt")]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert document["kind"] == "MutatingWebhookConfiguration"
    assert document["webhooks"][0]["clientConfig"]["service"]["path"] == "/mutate"


def test_serving_without_usable_tls_files_exits_2_with_a_message(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert webhook_main(["--cert-file", str(tmp_path / "no.crt"), "--key-file", str(tmp_path / "no.key")]) == 2
    assert "no.crt" in capsys.readouterr().err
