"""Quantities follow Kubernetes' exact grammar and range; hostile text only ever raises
QuantityError, and one bad pod is that pod's rejection (issue 15 §1)."""

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper.pods import POD_DECODE_FAILED, POD_INVALID_QUANTITY, RejectedPod, decode_or_reject
from temper.quantity import QuantityError, parse_cpu_milli, parse_quantity
from tests.core.factories import container, pod


@pytest.mark.parametrize(("text", "value"), [
    ("1Ki", Decimal(1024)), ("1.5Gi", Decimal(1610612736)), ("1n", Decimal("1E-9")), ("+5", Decimal(5)),
    ("5.", Decimal(5)), (".5", Decimal("0.5")), ("1e+3", Decimal(1000)), ("1E", Decimal(10**18)),
    ("0.0000000001", Decimal("1E-9")), ("1e-30", Decimal("1E-9")), ("-1", Decimal(-1)),
    ("9223372036854775807", Decimal(2**63 - 1)),
])
def test_kubernetes_grammar_values_round_up_to_a_nano(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_a_long_fraction_keeps_its_exact_ceiling() -> None:
    assert parse_quantity("0." + "0" * 5000 + "1") == Decimal("1E-9")
    assert parse_quantity("1." + "3" * 3000 + "Ki") == Decimal("1365.333333334")


@given(st.text(alphabet="0123456789.+-eEKMGTPEinumk _\u0661\uff11 \n", max_size=40)
       | st.from_regex(r"[0-9]{1,3}[eE][+-]?[0-9]{4,9}", fullmatch=True))
def test_any_text_parses_or_raises_quantity_error(text: str) -> None:
    with contextlib.suppress(QuantityError):
        assert parse_cpu_milli(text) >= 0


def test_a_pod_with_a_huge_exponent_is_rejected_as_invalid_quantity() -> None:
    rejected = decode_or_reject(pod(name="bomb", containers=[container(cpu_request="1e999999")]))
    assert isinstance(rejected, RejectedPod)
    assert rejected.reason == POD_INVALID_QUANTITY and rejected.key == "default/bomb"


def test_an_invalid_memory_quantity_is_the_pods_error_too() -> None:
    bad = pod(name="mem", containers=[container(cpu_request="1", cpu_limit="1", memory="1\uff11Gi")])
    rejected = decode_or_reject(bad)
    assert isinstance(rejected, RejectedPod) and rejected.reason == POD_INVALID_QUANTITY


def test_an_unexpected_decoder_failure_stays_the_pods_problem() -> None:
    class Hostile(dict[str, object]):
        def get(self, *args: object) -> object:
            raise RuntimeError("boom")

    rejected = decode_or_reject(Hostile())
    assert isinstance(rejected, RejectedPod) and rejected.reason == POD_DECODE_FAILED
