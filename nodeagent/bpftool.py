"""A small typed wrapper over ``bpftool`` (run as a subprocess, JSON mode ``-j``).

Why bpftool and not a BPF library: it is the tool operators already have on sched_ext
nodes, its loader (libbpf) does CO-RE relocation and struct_ops registration, and every
step the agent takes can be replayed by hand with the same command line.

Errors: every failure raises ``BpftoolError`` carrying bpftool's own message; for a load
failure that message includes libbpf's verifier log (bpftool prints it on stderr). Timeouts
kill the child and raise ``BpftoolError`` too. Nothing here retries: the caller decides.

The agent's own map reads and writes do not come here: they go through the bpf(2) syscall
(``nodeagent.bpfsys``), since starting bpftool costs far more than a map access, especially
under emulation. ``lookup`` and ``dump`` remain for tools and the kernel lab's checks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nodeagent.enforcement import EnforcementError

DEFAULT_TIMEOUT_S = 60.0


class BpftoolError(EnforcementError):
    """bpftool failed; ``detail`` holds its stderr (the verifier log for load failures)."""


def hex_bytes(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def parse_hex_list(values: Sequence[str]) -> bytes:
    return bytes(int(v, 16) for v in values)


class Bpftool:
    def __init__(self, binary: str = "bpftool", timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.binary = binary
        self.timeout_s = timeout_s

    async def _run(self, args: Sequence[str], stdin: bytes | None = None) -> tuple[str, str]:
        try:
            process = await asyncio.create_subprocess_exec(
                self.binary, *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise BpftoolError(f"cannot run {self.binary}: {exc.strerror}") from None
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin), self.timeout_s)
        except TimeoutError:
            await _reap(process)
            raise BpftoolError(f"bpftool {' '.join(args[:3])} timed out after {self.timeout_s:.0f}s") from None
        except asyncio.CancelledError:
            # Never leave bpftool running on its own (it could still attach or pin something).
            await asyncio.shield(_reap(process))
            raise
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        if process.returncode != 0:
            message = _json_error(stdout) or stderr.strip().splitlines()[-1:] or ["unknown error"]
            text = message if isinstance(message, str) else message[0]
            raise BpftoolError(f"bpftool {' '.join(args[:3])}: {text}", detail=stderr[-16000:])
        return stdout, stderr

    async def run_json(self, *args: str) -> Any:
        stdout, _ = await self._run(["-j", *args])
        try:
            return json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            raise BpftoolError(f"bpftool {' '.join(args[:3])}: output is not JSON", detail=stdout[-2000:]) from None

    async def version(self) -> str:
        info = await self.run_json("version")
        return str(info.get("version", "")) if isinstance(info, dict) else ""

    async def register_struct_ops(self, obj: Path, pin_dir: Path) -> str:
        """Load ``obj`` and attach its struct_ops maps, pinning the links in ``pin_dir``."""
        stdout, stderr = await self._run(["struct_ops", "register", str(obj), str(pin_dir)])
        return (stdout + stderr).strip()

    async def programs(self) -> list[dict[str, Any]]:
        result = await self.run_json("prog", "show")
        return [p for p in result if isinstance(p, dict)] if isinstance(result, list) else []

    async def maps(self) -> list[dict[str, Any]]:
        result = await self.run_json("map", "show")
        return [m for m in result if isinstance(m, dict)] if isinstance(result, list) else []

    async def map_info(self, map_id: int) -> dict[str, Any]:
        result = await self.run_json("map", "show", "id", str(map_id))
        if not isinstance(result, dict):
            raise BpftoolError(f"bpftool map show id {map_id}: unexpected output")
        return result

    async def pin_map(self, map_id: int, path: Path) -> None:
        await self._run(["map", "pin", "id", str(map_id), str(path)])

    async def lookup(self, path: Path, key: bytes) -> bytes:
        result = await self.run_json("map", "lookup", "pinned", str(path), "key", "hex", *hex_bytes(key).split())
        if not isinstance(result, dict) or not isinstance(result.get("value"), list):
            raise BpftoolError(f"bpftool map lookup {path}: unexpected output")
        return parse_hex_list(result["value"])

    async def dump(self, path: Path) -> list[tuple[bytes, list[bytes]]]:
        """All entries as (key, [value]) — per-CPU maps give one value per CPU."""
        result = await self.run_json("map", "dump", "pinned", str(path))
        entries: list[tuple[bytes, list[bytes]]] = []
        for item in result if isinstance(result, list) else []:
            if not isinstance(item, dict) or "key" not in item:
                continue
            key = parse_hex_list(item["key"])
            if "values" in item:
                entries.append((key, [parse_hex_list(v["value"]) for v in item["values"]]))
            else:
                entries.append((key, [parse_hex_list(item["value"])]))
        return entries


async def _reap(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.wait()


def _json_error(stdout: str) -> str | None:
    try:
        doc = json.loads(stdout)
    except (json.JSONDecodeError, ValueError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return str(doc["error"])
    return None
