"""CPU quantities use the Kubernetes grammar; pod requests follow kube-scheduler's rules."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper.pods import PodError, QosClass, decode_pod, decode_pod_list, effective_cpu_request_milli
from temper.quantity import QuantityError, format_cpu_milli, parse_cpu_milli
from tests.core.factories import container, pod


@pytest.mark.parametrize(("text", "milli"), [
    ("100m", 100), ("0.5", 500), ("2", 2000), ("1e3", 1_000_000), ("1e-3", 1), ("0.0001", 1), ("1.5", 1500),
    (1, 1000), (0.25, 250), ("0", 0),
])
def test_parse_cpu_quantities(text: object, milli: int) -> None:
    assert parse_cpu_milli(text) == milli


@pytest.mark.parametrize("bad", ["abc", "-1", "1.2.3", "", None, True, [], "5Zi", "1e3m",
                                 "1e999999", "1e200000", "\u0661\u0662\u0663", "\uff11\uff12", "1_000",
                                 " 1 ", "1\n", "+", ".", "9223372036854775808", "8Ei", float("inf")])
def test_invalid_quantities_are_rejected(bad: object) -> None:
    with pytest.raises(QuantityError):
        parse_cpu_milli(bad)


@given(st.integers(min_value=0, max_value=10**9))
def test_canonical_format_round_trips(milli: int) -> None:
    text = format_cpu_milli(milli)
    assert parse_cpu_milli(text) == milli
    assert text.endswith("m") or milli % 1000 == 0


def test_format_is_canonical() -> None:
    assert format_cpu_milli(250) == "250m"
    assert format_cpu_milli(2000) == "2"


def spec(*, containers: list[dict[str, object]], init: list[dict[str, object]] | None = None,
         overhead: str | None = None) -> dict[str, object]:
    result: dict[str, object] = {"containers": containers}
    if init:
        result["initContainers"] = init
    if overhead:
        result["overhead"] = {"cpu": overhead}
    return result


def test_request_is_sum_of_containers() -> None:
    assert effective_cpu_request_milli(spec(containers=[container(cpu_request="100m"),
                                                        container(cpu_request="0.4")])) == 500


def test_big_init_container_dominates() -> None:
    assert effective_cpu_request_milli(spec(containers=[container(cpu_request="100m")],
                                            init=[container(cpu_request="2")])) == 2000


def test_sidecars_add_to_containers_and_to_later_init_containers() -> None:
    s = spec(containers=[container(cpu_request="500m")],
             init=[container("sidecar", cpu_request="200m", restart_policy="Always"),
                   container("migrate", cpu_request="1")])
    # init phase: sidecar (200m) running while migrate (1000m) runs = 1200m; steady: 700m.
    assert effective_cpu_request_milli(s) == 1200


def test_limit_only_defaults_request_and_overhead_adds() -> None:
    assert effective_cpu_request_milli(spec(containers=[container(cpu_limit="300m")], overhead="50m")) == 350


def test_qos_classes() -> None:
    guaranteed = pod(containers=[container(cpu_request="1", cpu_limit="1", memory="1Gi")])
    guaranteed["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1000m"
    assert decode_pod(guaranteed).qos is QosClass.GUARANTEED
    assert decode_pod(pod(containers=[container()])).qos is QosClass.BEST_EFFORT
    assert decode_pod(pod(containers=[container(cpu_request="1")])).qos is QosClass.BURSTABLE


def test_malformed_pods_are_named_in_the_error() -> None:
    bad = pod(name="broken", containers=[container(cpu_request="lots")])
    with pytest.raises(PodError, match=r"default/broken.*containers\[0\].*cpu"):
        decode_pod(bad)
    result = decode_pod_list({"kind": "List", "items": [bad, pod(name="fine"), {"metadata": {}}]})
    assert [p.name for p in result.pods] == ["fine"]
    assert len(result.errors) == 2
