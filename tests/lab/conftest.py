"""Lab test tier: registers the ``lab`` marker and shares the prepared lab.

Why it exists: tests marked ``lab`` boot real sched_ext kernels under QEMU; they prepare
the lab themselves (idempotent, cached) and fail, never skip, when it cannot be
prepared, because CI must prove them.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: boots a real sched_ext kernel under QEMU")
