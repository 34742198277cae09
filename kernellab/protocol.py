"""The line protocol between a guest scenario and the host runner.

Why it exists: results leave the guest over a dedicated serial port as text lines;
both sides must agree on their shape, and the host must survive noise (kernel messages,
carriage returns, truncated lines from a guest killed on timeout).

Lines:
- ``TEMPER-BOOTED <uptime seconds>``: ``/init`` reached, before the scenario starts;
- ``TEMPER-RESULT <json object>``: one record; the object has at least ``"name"``;
- ``TEMPER-EXIT <int>``: the scenario's exit status (0 = success).

Invariant: stdlib only (imported in the guest), pure functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

RESULT = "TEMPER-RESULT "
EXIT = "TEMPER-EXIT "
BOOTED = "TEMPER-BOOTED "


def format_result(record: dict[str, Any]) -> str:
    """One result line (no newline)."""
    return RESULT + json.dumps(record, sort_keys=True, separators=(",", ":"))


@dataclass
class Parsed:
    """What a results stream said."""

    records: list[dict[str, Any]] = field(default_factory=list)
    exit_status: int | None = None
    booted_uptime_s: float | None = None
    garbage: list[str] = field(default_factory=list)


def parse_lines(text: str) -> Parsed:
    """Parse a results stream; malformed protocol lines land in ``garbage``."""
    out = Parsed()
    for raw in text.splitlines():
        line = raw.strip("\r\n\x00 ")
        idx = min((i for i in (line.find(RESULT), line.find(EXIT), line.find(BOOTED))
                   if i >= 0), default=-1)
        if idx < 0:
            continue
        line = line[idx:]
        try:
            if line.startswith(RESULT):
                rec = json.loads(line[len(RESULT):])
                if not isinstance(rec, dict):
                    raise ValueError("record is not an object")
                out.records.append(rec)
            elif line.startswith(EXIT):
                out.exit_status = int(line[len(EXIT):].split()[0])
            elif line.startswith(BOOTED):
                out.booted_uptime_s = float(line[len(BOOTED):].split()[0])
        except (ValueError, IndexError):
            out.garbage.append(line)
    return out
