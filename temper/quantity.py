"""Kubernetes resource quantities: one strict, bounded parser, CPU amounts kept as millicores.

Why it exists: every component reads quantities out of pod objects it did not write (the
node agent from the API server or a pods file, the webhook and the extender from requests,
``temper overcommit`` from the whole cluster). One parser, here, decides what is a quantity;
callers only ever see a ``QuantityError`` (a ``ValueError``), never ``decimal.Overflow``,
``MemoryError`` or a slow parse.

Grammar (``k8s.io/apimachinery/pkg/api/resource.Quantity``)::

    quantity        ::= signedNumber suffix
    signedNumber    ::= number | sign number          sign ::= "+" | "-"
    number          ::= digits | digits "." digits | digits "." | "." digits
    digits          ::= [0-9]+                        (ASCII only)
    suffix          ::= binarySI | decimalSI | decimalExponent
    binarySI        ::= Ki | Mi | Gi | Ti | Pi | Ei
    decimalSI       ::= n | u | m | "" | k | M | G | T | P | E
    decimalExponent ::= ("e" | "E") sign? digits

No whitespace, underscores, non-ASCII digits (``"١٢٣"``, ``"１２"``) or trailing newline.
(The API server's JSON decoder trims surrounding whitespace before parsing, and its hand-written
scanner happens to take a lone ``"+"``, ``"-"`` or ``"."`` as zero; neither ever reaches us
from an API server, which re-serialises quantities canonically, so both are rejected here.)

Value and range, as the API server computes them: the exact value is rounded *up* (away from
zero) to a multiple of 1n (10^-9), so a non-zero request never becomes zero; magnitudes above
2^63-1 are out of range (the API server clamps binary-SI values there and keeps decimal ones
as an unbounded ``inf.Dec``; Temper refuses both — no real resource is that large).

Bounded work: the exponent and the count of significant digits are checked against the
range *before* any arithmetic, so ``"1e999999"`` is refused in microseconds; the significant
digits kept are at most ``_KEPT_DIGITS`` (see ``_nanos``), so a 64 KiB string of digits costs
a scan, not a bignum multiplication. All arithmetic is on Python integers (exact): nanos.

Internally every CPU amount is an ``int`` of millicores, rounded up like ``MilliValue``.
``format_cpu_milli`` prints the canonical form the API server itself would print (``250m``,
``2``), which is what the webhook writes back into pods. Parsed strings are memoised
(bounded LRU): pods repeat the same few quantities endlessly and the result is immutable.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal

MAX_CPU_MILLI = 10**12
"""Reject absurd CPU values (a billion cores) instead of letting them skew plans."""

MAX_QUANTITY = 2**63 - 1
"""The largest magnitude Kubernetes represents (``maxAllowed``), in base units."""
_MAX_NANOS = MAX_QUANTITY * 10**9
_MAX_DIGITS = len(str(MAX_QUANTITY))  # 19: any value with more integer digits is out of range

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
"""Binary-SI suffix -> power of two."""
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
"""Decimal-SI suffix -> power of ten."""

_QUANTITY_RE = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?:(?P<exp>[eE](?P<expsign>[+-]?)(?P<expdigits>[0-9]+))|(?P<suffix>[KMGTPE]i|[numkMGTPE]?))"
)
_MAX_EXPONENT_DIGITS = 4
"""An exponent of more than four significant digits (|e| >= 10^4) is far outside the range
whatever the mantissa (see ``_nanos``); refused before ``int()`` reads it."""
_KEPT_DIGITS = 100
"""Significant digits kept exactly; the rest only matter as "non-zero" (see ``_nanos``)."""
_MAX_TEXT = 1 << 16
"""Longer strings are refused outright (a real quantity is a few characters)."""


class QuantityError(ValueError):
    """A quantity that is not valid Kubernetes syntax or is out of range (CPU: also negative
    or absurd). The message quotes at most a short prefix of the input."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _nanos(digits: str, scale10: int, power2: int, text: str) -> int:
    """ceil(int(digits) * 10^scale10 * 2^power2 * 10^9) for non-negative values, range-checked.

    ``digits`` has no leading zeros. Checks before arithmetic: the value is at least
    10^(len(digits)-1+scale10) (so more than 19 integer digits is out of range) and below
    10^(len(digits)+scale10+19) (2^60 < 10^19), so at len+scale10 <= -28 it is below 1n and
    rounds up to exactly 1n.

    Digits beyond the first ``_KEPT_DIGITS`` are replaced by one sticky ``1``: the value lies
    strictly between D and D+1 units of the last kept digit either way, and no multiple of
    10^-9 falls strictly inside that interval (its width in nanos is 2^p / 10^m with
    m > 60 >= p, so its end points are k*10^m/2^p for integers k), so the ceiling is the same.
    """
    significant = digits.rstrip("0")
    if not significant:
        return 0
    scale10 += len(digits) - len(significant)
    digits = significant
    if len(digits) - 1 + scale10 >= _MAX_DIGITS:
        raise QuantityError(f"quantity {_shown(text)} is out of range (above 2^63-1)")
    if len(digits) + scale10 <= -28:
        return 1
    if len(digits) > _KEPT_DIGITS:
        scale10 += len(digits) - _KEPT_DIGITS - 1
        digits = digits[:_KEPT_DIGITS] + "1"
    numerator = int(digits) << power2
    shift = scale10 + 9
    nanos: int = numerator * 10**shift if shift >= 0 else -(-numerator // 10 ** (-shift))
    if nanos > _MAX_NANOS:
        raise QuantityError(f"quantity {_shown(text)} is out of range (above 2^63-1)")
    return nanos


@functools.lru_cache(maxsize=4096)
def _parse_text_nanos(text: str) -> int:
    if len(text) > _MAX_TEXT:
        raise QuantityError(f"quantity of {len(text)} characters is too long")
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        raise QuantityError(f"invalid quantity {_shown(text)}: not Kubernetes quantity syntax "
                            "(e.g. 100m, 0.5, 2, 1Gi, 1e3)")
    whole, frac = match["int"], match["frac"] or ""
    if not whole and not frac:
        raise QuantityError(f"invalid quantity {_shown(text)}: no digits")
    scale10, power2 = -len(frac), 0
    if match["exp"] is not None:
        exponent_digits = match["expdigits"].lstrip("0") or "0"
        if len(exponent_digits) > _MAX_EXPONENT_DIGITS:
            raise QuantityError(f"quantity {_shown(text)} is out of range (exponent too large)")
        exponent = int(exponent_digits)
        scale10 += -exponent if match["expsign"] == "-" else exponent
    elif match["suffix"] in _BINARY:
        power2 = _BINARY[match["suffix"]]
    else:
        scale10 += _DECIMAL[match["suffix"]]
    digits = (whole + frac).lstrip("0")
    nanos = _nanos(digits, scale10, power2, text)
    return -nanos if match["sign"] == "-" else nanos


def _text_of(value: object) -> str:
    """A JSON scalar as the quantity text the API server would parse."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise QuantityError(f"quantity must be a string or number, got {type(value).__name__}")
    if isinstance(value, int):
        if value.bit_length() > 64:
            raise QuantityError(f"quantity {_shown(value)} is out of range (above 2^63-1)")
        return str(value)
    if not math.isfinite(value):
        raise QuantityError(f"invalid quantity {value!r}")
    return repr(value)


def parse_quantity_nanos(value: object) -> int:
    """Any resource quantity (string, or a JSON number as the API accepts) in units of 10^-9,
    rounded up away from zero like the API server; raises ``QuantityError``."""
    return _parse_text_nanos(_text_of(value))


def parse_quantity(value: object) -> Decimal:
    """Any resource quantity as an exact ``Decimal`` (``"1Ki"`` -> 1024, ``"1n"`` -> 1E-9)."""
    nanos = parse_quantity_nanos(value)
    return Decimal(f"{nanos}E-9")


def parse_cpu_milli(value: object) -> int:
    """Parse a CPU quantity into millicores (rounded up, like ``MilliValue``)."""
    nanos = parse_quantity_nanos(value)
    if nanos < 0:
        raise QuantityError(f"negative CPU quantity {_shown(value)}")
    milli = -(-nanos // 10**6)
    if milli > MAX_CPU_MILLI:
        raise QuantityError(f"CPU quantity {_shown(value)} is out of range (over {MAX_CPU_MILLI // 1000} cores)")
    return milli


def format_cpu_milli(milli: int) -> str:
    """Canonical Kubernetes form: whole cores as ``"2"``, everything else as ``"250m"``."""
    if milli < 0:
        raise QuantityError(f"negative CPU amount {milli}m")
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli}m"
