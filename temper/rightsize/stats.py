"""The two statistics the method uses, written once: nearest-rank percentile and rounding up.

Nearest rank (not interpolation) so a percentile is always a value that was observed, and so
it is monotone in ``p`` by construction: ``percentile(xs, p) = sorted(xs)[ceil(p/100 * n) - 1]``
(p in (0, 100]; the first element for tiny p). Example: p95 of 20 samples is the 19th smallest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def round_up(value: float, step: int) -> int:
    """The smallest multiple of ``step`` that is >= value (value >= 0)."""
    return math.ceil(value / step - 1e-9) * step  # 1e-9: 100 x 1.15 is 115.00000000000001
