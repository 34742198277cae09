"""SMT scenario: batch is kept off the SMT sibling of a fenced core running Critical.

Runs ``hardening.smt_isolation`` alone on an SMT guest (e.g. ``-smp 4,sockets=1,cores=2,threads=2``):
a Critical pod (1 CPU, one busy thread) fences a whole core; 4 busy Background threads get only
the shared CPUs with ``planner.smtIsolation`` on, and the idle sibling too with it off, measured
in the same boot. On a guest without SMT the check reports ``available: false``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from kernellab.scenarios.hardening import smt_isolation

if TYPE_CHECKING:
    from kernellab.guest.runner import Context


def guest_main(ctx: Context) -> int:
    asyncio.run(smt_isolation(ctx))
    return 0
