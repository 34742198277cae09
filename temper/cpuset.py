"""CPU lists in the kernel's cpulist format ("0-3,8,10-11").

The kernel (``/sys/devices/system/cpu/online``, ``cpuset.cpus``), scx_layered and our node
annotation all speak this format, so it is parsed and printed in exactly one place.
Invariant: ``format_cpulist(parse_cpulist(s))`` is the canonical form of ``s``; parsing
rejects anything the kernel would reject (descending ranges, junk, negative ids) with
``ValueError`` rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_CPUS = 8192
"""Upper bound on a CPU id we accept from any input (the kernel's NR_CPUS maximum)."""


def parse_cpulist(text: str) -> frozenset[int]:
    """Parse ``"0-3,8"`` into ``{0, 1, 2, 3, 8}``; the empty string is the empty set."""
    text = text.strip()
    if not text:
        return frozenset()
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        lo_text, sep, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if sep else lo
        except ValueError:
            raise ValueError(f"invalid cpulist element {part!r} in {text!r}") from None
        if lo < 0 or hi < lo or hi >= MAX_CPUS:
            raise ValueError(f"invalid cpulist range {part!r} in {text!r}")
        cpus.update(range(lo, hi + 1))
    return frozenset(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """Format CPU ids as the shortest canonical cpulist (sorted, ranges merged)."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
