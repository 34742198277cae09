"""Runs one scenario inside the guest and reports over the results serial port.

Why it exists: ``/init`` hands control here; this module loads the scenario named in
``/lab/run.json`` (a module under ``kernellab.scenarios`` or a file path), gives it a
:class:`Context` for emitting records, and turns its outcome into ``TEMPER-EXIT``.
Invariant: any exception in a scenario becomes a record named ``error`` and a non-zero
exit status; it never leaves the guest hanging.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from kernellab.protocol import format_result

RESULTS_PORT = "/dev/ttyS1"


class Context:
    """What a scenario's ``guest_main`` receives."""

    def __init__(self, args: dict[str, Any], out: TextIO | None) -> None:
        self.args = args
        self._out = out
        self.failed: list[str] = []
        self.inputs = Path("/lab/inputs")

    def emit(self, name: str, **fields: Any) -> None:
        line = format_result({"name": name, **fields})
        print(line, flush=True)
        if self._out is not None:
            self._out.write(line + "\n")
            self._out.flush()

    def check(self, name: str, ok: bool, **fields: Any) -> bool:
        """Emit a record with ``ok``; a false one makes the scenario fail."""
        if not ok:
            self.failed.append(name)
        self.emit(name, ok=bool(ok), **fields)
        return ok

    @staticmethod
    def sh(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)

    @staticmethod
    def wait_for(pred: Any, timeout: float, interval: float = 0.02) -> float | None:
        """Poll ``pred()`` until true; return seconds waited, or None on timeout."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pred():
                return time.monotonic() - t0
            time.sleep(interval)
        return None


def _load(name: str) -> ModuleType:
    if name.endswith(".py"):
        spec = importlib.util.spec_from_file_location("lab_scenario", name)
        if spec is None or spec.loader is None:
            raise ImportError(name)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module(f"kernellab.scenarios.{name}")


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    try:
        out: TextIO | None = open(RESULTS_PORT, "w")  # noqa: SIM115 - lives for the run
    except OSError:
        out = None
    ctx = Context(spec.get("args", {}), out)
    try:
        mod = _load(spec["scenario"])
        rc = int(mod.guest_main(ctx) or 0)
    except Exception as exc:
        ctx.emit("error", ok=False, error=repr(exc), traceback=traceback.format_exc())
        rc = 2
    if rc == 0 and ctx.failed:
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
