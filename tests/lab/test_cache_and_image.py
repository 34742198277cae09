"""Cache keys are stable, writes are atomic, and initramfs layers are valid cpio."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from kernellab import image
from kernellab.cache import atomic_dir, atomic_path, cache_key, cache_root, is_done
from kernellab.fetch import newest_72_package


def test_cache_root_honours_env() -> None:
    assert cache_root({"TEMPER_LAB_CACHE": "/x"}) == Path("/x")
    assert cache_root({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == Path("/c/temper/lab")
    assert cache_root({"HOME": "/h"}) == Path("/h/.cache/temper/lab")


def test_cache_key_is_order_stable_for_mappings() -> None:
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
    assert cache_key(["a", "b"]) != cache_key(["b", "a"])


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "f"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not final.exists() and list(tmp_path.iterdir()) == []


def test_atomic_dir_is_done_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "d"
    with atomic_dir(final) as tmp:
        (tmp / "x").write_text("1")
        assert not is_done(final)
    assert is_done(final) and (final / "x").read_text() == "1"


def test_newest_72_kernel_is_picked_across_suites() -> None:
    names = ["linux-binary-unsigned-7.2.9+deb13-cloud-amd64",
             "linux-binary-unsigned-7.2.13+deb14-cloud-amd64",
             "linux-binary-7.2.13+deb14-cloud-amd64",
             "linux-binary-unsigned-7.2.12+deb13-cloud-amd64"]
    assert newest_72_package(names) == "linux-binary-unsigned-7.2.13+deb14-cloud-amd64"


def test_payload_is_a_cpio_the_cpio_tool_lists(tmp_path: Path) -> None:
    src = tmp_path / "pkg"
    (src / "sub").mkdir(parents=True)
    (src / "__init__.py").write_text("x = 1\n")
    (src / "sub" / "m.py").write_text("y = 2\n")
    out = image.write_payload(image.Payload(packages={"pkg": src},
                                            data={"/lab/run.json": b"{}"}), tmp_path / "p.gz")
    listing = subprocess.run(["cpio", "-it", "--quiet"], input=gzip.decompress(out.read_bytes()),
                             capture_output=True, check=True).stdout.decode().split()
    assert "opt/temper/pkg/sub/m.py" in listing
    assert "lab/run.json" in listing
