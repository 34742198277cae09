"""``temper extender config`` prints the KubeSchedulerConfiguration the service expects."""

from __future__ import annotations

import pytest
import yaml

from extender.main import main
from extender.schedconfig import scheduler_configuration


def test_the_default_stanza_scores_only_from_the_node_cache_and_is_ignorable() -> None:
    doc = scheduler_configuration("http://temper-extender.infera.svc:8888/")
    assert doc["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert doc["profiles"] == [{"schedulerName": "infera-scheduler"}]
    assert doc["extenders"] == [{"urlPrefix": "http://temper-extender.infera.svc:8888", "prioritizeVerb": "prioritize",
                                 "weight": 5, "nodeCacheCapable": True, "httpTimeout": "1s", "ignorable": True}]


def test_https_adds_tls_fields_and_filter_adds_the_filter_verb() -> None:
    extender = scheduler_configuration("https://e.infera.svc:8443", ca_data=b"PEM", server_name="e.infera.svc",
                                       filter_enabled=True, weight=7)["extenders"][0]
    assert extender["filterVerb"] == "filter"
    assert extender["enableHTTPS"] is True
    assert extender["tlsConfig"] == {"insecure": False, "serverName": "e.infera.svc", "caData": "UEVN"}
    assert extender["weight"] == 7


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"filter_enabled": True, "complement": True}, "complement mode"),
    ({"weight": 0}, "weight"),
    ({"ca_file": "/ca"}, "https://"),
    ({"http_timeout": "soon"}, "httpTimeout"),
])
def test_invalid_combinations_are_refused_with_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scheduler_configuration("http://e:8888", **kwargs)  # type: ignore[arg-type]


def test_https_without_a_ca_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a CA"):
        scheduler_configuration("https://e:8443")


def test_the_cli_prints_yaml_and_complement_mode_never_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--url", "http://e:8888", "--complement"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert "filterVerb" not in doc["extenders"][0]
    assert main(["config", "--url", "http://e:8888", "--complement", "--filter"]) == 2
    assert "complement mode" in capsys.readouterr().err
