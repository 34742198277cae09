"""Kubernetes CPU quantities, parsed with the kubernetes client and kept as millicores.

Parsing uses ``kubernetes.utils.parse_quantity`` (the full resource.Quantity grammar:
``100m``, ``0.5``, ``2``, ``1e3m``, ``1Ki`` ...). Internally every CPU amount is an ``int``
of millicores, rounded *up* like the API server's ``MilliValue`` so a request never shrinks
by parsing. ``format_cpu_milli`` prints the canonical form the API server itself would
print (``250m``, ``2``), which is what the webhook writes back into pods.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from kubernetes.utils import parse_quantity as _parse_quantity

MAX_CPU_MILLI = 10**12
"""Reject absurd values (a billion cores) instead of letting them skew plans."""


def parse_quantity(value: object) -> Decimal:
    """The kubernetes client's parser (untyped upstream), typed for the rest of the code."""
    result: Decimal = _parse_quantity(value)  # type: ignore[no-untyped-call]  # kubernetes has no hints
    return result


class QuantityError(ValueError):
    """A CPU quantity that is not valid Kubernetes quantity syntax, negative, or absurd."""


def parse_cpu_milli(value: object) -> int:
    """Parse a CPU quantity (string, or a JSON number as the API accepts) into millicores."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError(f"CPU quantity must be a string or number, got {type(value).__name__}")
    try:
        amount = parse_quantity(value)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise QuantityError(f"invalid CPU quantity {value!r}: {exc}") from None
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise QuantityError(f"invalid CPU quantity {value!r}")
    if amount < 0:
        raise QuantityError(f"negative CPU quantity {value!r}")
    milli = math.ceil(amount * 1000)
    if milli > MAX_CPU_MILLI:
        raise QuantityError(f"CPU quantity {value!r} is out of range")
    return int(milli)


def format_cpu_milli(milli: int) -> str:
    """Canonical Kubernetes form: whole cores as ``"2"``, everything else as ``"250m"``."""
    if milli < 0:
        raise QuantityError(f"negative CPU amount {milli}m")
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli}m"
