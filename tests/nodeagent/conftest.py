"""Fixtures for the nodeagent tests that use the host kernel's BPF maps.

``bpffs`` mounts a private BPF filesystem on a temporary directory (and unmounts it after),
so the tests pin and open maps exactly as the agent does under ``/sys/fs/bpf`` without
touching the host's own pins. These tests need root and a kernel with BPF: where the mount
fails they fail with the reason, never skip."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def bpffs(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "bpffs"
    directory.mkdir()
    mounted = subprocess.run(["mount", "-t", "bpf", "bpf", str(directory)], capture_output=True, text=True,
                             check=False)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a BPF filesystem at {directory}: {mounted.stderr.strip() or mounted.returncode} "
                    "(these tests need root and a kernel with CONFIG_BPF_SYSCALL)")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], capture_output=True, check=False)
