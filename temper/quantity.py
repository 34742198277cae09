"""Kubernetes CPU quantities, parsed with the kubernetes client and kept as millicores.

Parsing uses the kubernetes client's own parser, ``kubernetes/utils/quantity.py`` (the full
resource.Quantity grammar: ``100m``, ``0.5``, ``2``, ``1e3m``, ``1Ki`` ...). That file
depends on nothing but ``decimal``, so it is loaded straight from the installed package
without executing ``kubernetes/__init__`` — which would import the whole API client (about
0.3 s on a server, several seconds under the lab's CPU emulation) into every process that
merely decodes a pod, the node agent's ``--pods-file`` path included. Internally every CPU amount is an ``int``
of millicores, rounded *up* like the API server's ``MilliValue`` so a request never shrinks
by parsing. ``format_cpu_milli`` prints the canonical form the API server itself would
print (``250m``, ``2``), which is what the webhook writes back into pods.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

MAX_CPU_MILLI = 10**12
"""Reject absurd values (a billion cores) instead of letting them skew plans."""


def _load_client_parser() -> Callable[[object], Decimal]:
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the kubernetes package is required (pip install kubernetes)")
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "quantity.py"
    name = "temper._kubernetes_quantity"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    parser: Callable[[object], Decimal] = module.parse_quantity
    return parser


_client_parse_quantity = _load_client_parser()


@functools.lru_cache(maxsize=4096)
def _parse_quantity_text(text: str) -> Decimal:
    return _client_parse_quantity(text)


def parse_quantity(value: object) -> Decimal:
    """The kubernetes client's ``parse_quantity`` (any resource), typed.

    Strings are memoised (bounded): pods repeat the same few quantities ("100m", "1Gi")
    endlessly and ``Decimal`` is immutable, so the webhook and the agent parse each once.
    """
    if isinstance(value, str):
        return _parse_quantity_text(value)
    return _client_parse_quantity(value)


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
