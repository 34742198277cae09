"""Lab test tier: registers the ``lab`` marker and shares the prepared lab.

Why it exists: tests marked ``lab`` boot real sched_ext kernels under QEMU; they prepare
the lab themselves (idempotent, cached) and fail, never skip, when it cannot be
prepared, because CI must prove them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kernellab import fetch, vm

ROOT = Path(__file__).resolve().parents[2]
BOTH_KERNELS = ["7.2", "6.12"]


@pytest.fixture(scope="module")
def built_lab() -> fetch.Lab:
    """Both lab kernels fetched and the production scheduler objects built (scripts/build-bpf.sh)."""
    lab = fetch.fetch_all(BOTH_KERNELS)
    subprocess.run(["bash", str(ROOT / "scripts" / "build-bpf.sh")], check=True, cwd=ROOT)
    return lab


def failed_checks(result: vm.ScenarioResult) -> list[dict[str, object]]:
    """The scenario's records that reported ``ok: false``."""
    return [r for r in result.records if r.get("ok") is False]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: boots a real sched_ext kernel under QEMU")
