"""Builds the guest's initramfs: cached base layers plus a small per-run payload.

Why it exists: unpacking ~100 Debian packages and wheels into a cpio takes seconds, while
a test changes only a few files.  The kernel unpacks concatenated cpio archives in order
(later entries win), so we build the heavy layers once, keyed by a content hash of what
went into them, and append a payload archive built per run.

Layers, in boot order:
1. ``base``: trixie/sid userspace (busybox, glibc, bpftool 7.8, Python 3.13 + wheels)
   and the guest ``/init``;
2. ``workloads`` (optional): stress-ng, rt-tests, memcached and their libraries;
3. payload: repository packages under ``/opt/temper`` (on ``PYTHONPATH``), the
   scenario and its inputs under ``/lab``.

Invariants:
- archives are ``newc`` cpio, gzip-compressed, entries sorted, owned by root, so equal
  inputs give byte-equal layers;
- cached layers are written atomically under ``cache_root()/images``.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kernellab.cache import atomic_path, cache_key

IMAGE_FORMAT_VERSION = 3
GUEST_PYTHONPATH = "/opt/temper"
HERE = Path(__file__).resolve().parent


class CpioWriter:
    """Minimal ``newc`` cpio writer (what the kernel's initramfs unpacker reads)."""

    def __init__(self, out: io.BufferedIOBase | gzip.GzipFile) -> None:
        self._out = out
        self._ino = 1
        self._seen: set[str] = set()

    def _header(self, name: str, mode: int, size: int, nlink: int = 1,
                mtime: int = 0) -> None:
        namez = name.encode() + b"\0"
        fields = [self._ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, len(namez), 0]
        self._ino += 1
        hdr = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        self._out.write(hdr + namez)
        self._pad(len(hdr) + len(namez))

    def _pad(self, n: int) -> None:
        if n % 4:
            self._out.write(b"\0" * (4 - n % 4))

    def _parents(self, name: str) -> None:
        parts = PurePosixPath(name).parts[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self._seen:
                self.add_dir(d)

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        name = name.strip("/")
        if name in self._seen:
            return
        self._parents(name)
        self._seen.add(name)
        self._header(name, stat.S_IFDIR | mode, 0, nlink=2)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        name = name.strip("/")
        self._parents(name)
        self._seen.add(name)
        self._header(name, stat.S_IFREG | mode, len(data))
        self._out.write(data)
        self._pad(len(data))

    def add_symlink(self, name: str, target: str) -> None:
        name = name.strip("/")
        self._parents(name)
        self._seen.add(name)
        data = target.encode()
        self._header(name, stat.S_IFLNK | 0o777, len(data))
        self._out.write(data)
        self._pad(len(data))

    def add_tree(self, tree: Path, prefix: str = "") -> None:
        """Add every file under ``tree`` (sorted), rooted at ``prefix``."""
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, tree)
            for n in sorted(dirnames + filenames):
                full = Path(dirpath) / n
                rel = n if rel_dir == "." else f"{rel_dir}/{n}"
                if rel in (".done", ".packages", ".wheels") or "__pycache__" in rel:
                    continue
                name = f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel
                st = full.lstat()
                if stat.S_ISLNK(st.st_mode):
                    self.add_symlink(name, os.readlink(full))
                elif stat.S_ISDIR(st.st_mode):
                    self.add_dir(name, stat.S_IMODE(st.st_mode) | 0o700)
                elif stat.S_ISREG(st.st_mode):
                    self.add_file(name, full.read_bytes(), stat.S_IMODE(st.st_mode))

    def close(self) -> None:
        self._header("TRAILER!!!", 0, 0)


def _write_gz_cpio(final: Path, fill: Fill) -> Path:
    with atomic_path(final) as tmp, tmp.open("wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
        w = CpioWriter(gz)
        fill(w)
        w.close()
    return final


class Fill:
    """Callable that adds entries to a :class:`CpioWriter` (a typed seam for layers)."""

    def __call__(self, w: CpioWriter) -> None:  # pragma: no cover - interface
        raise NotImplementedError


INIT_SCRIPT = (HERE / "guest" / "init.sh")

SKELETON_DIRS = ("proc", "sys", "dev", "tmp", "run", "root", "mnt", "var/tmp", "var/run",
                 "var/log", "lab", "opt/temper", "etc")


def _etc_files() -> dict[str, bytes]:
    return {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
                      b"memcache:x:100:100:memcached:/:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\nmemcache:x:100:\n",
        "etc/hosts": b"127.0.0.1 localhost\n::1 localhost\n",
        "etc/nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
        "etc/hostname": b"temper-lab\n",
    }


@dataclass
class _BaseFill(Fill):
    tree: Path

    def __call__(self, w: CpioWriter) -> None:
        for d in SKELETON_DIRS:
            w.add_dir(d)
        w.add_tree(self.tree)
        for name, data in _etc_files().items():
            w.add_file(name, data)
        w.add_file("init", INIT_SCRIPT.read_bytes(), 0o755)
        if not (self.tree / "usr/bin/python3").exists():
            w.add_symlink("usr/bin/python3", "python3.13")


@dataclass
class _TreeFill(Fill):
    tree: Path

    def __call__(self, w: CpioWriter) -> None:
        w.add_tree(self.tree)


def base_layer(tree: Path, images: Path) -> Path:
    """The cached base initramfs for guest tree ``tree`` (its name carries its key)."""
    key = cache_key("base", IMAGE_FORMAT_VERSION, tree.name,
                    (tree / ".wheels").read_text() if (tree / ".wheels").exists() else "",
                    INIT_SCRIPT.read_text(), Path(__file__).read_text())[:16]
    final = images / f"base-{key}.cpio.gz"
    if not final.exists():
        _write_gz_cpio(final, _BaseFill(tree))
    return final


def tree_layer(tree: Path, images: Path, kind: str) -> Path:
    key = cache_key(kind, IMAGE_FORMAT_VERSION, tree.name)[:16]
    final = images / f"{kind}-{key}.cpio.gz"
    if not final.exists():
        _write_gz_cpio(final, _TreeFill(tree))
    return final


@dataclass
class Payload:
    """What one run adds to the guest.

    ``packages``: host directories copied to ``/opt/temper/<name>`` (on ``PYTHONPATH``);
    ``files``: guest path -> host path; ``data``: guest path -> bytes.
    """

    packages: Mapping[str, Path] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)
    data: Mapping[str, bytes] = field(default_factory=dict)

    def entries(self) -> Iterable[tuple[str, bytes, int]]:
        for name, src in sorted(self.packages.items()):
            for f in sorted(src.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts:
                    rel = f.relative_to(src).as_posix()
                    yield (f"{GUEST_PYTHONPATH}/{name}/{rel}", f.read_bytes(),
                           stat.S_IMODE(f.stat().st_mode))
        for guest, host in sorted(self.files.items()):
            yield guest, host.read_bytes(), stat.S_IMODE(host.stat().st_mode)
        for guest, data in sorted(self.data.items()):
            yield guest, data, 0o644


def write_payload(payload: Payload, out: Path) -> Path:
    """Write the per-run payload archive to ``out``."""

    @dataclass
    class _PayloadFill(Fill):
        def __call__(self, w: CpioWriter) -> None:
            for name, data, mode in payload.entries():
                w.add_file(name, data, mode)

    return _write_gz_cpio(out, _PayloadFill())


def concat(layers: Iterable[Path], out: Path) -> Path:
    """Concatenate gzip cpio layers into one initrd file (the kernel reads them in order)."""
    with atomic_path(out) as tmp, tmp.open("wb") as f:
        for layer in layers:
            with layer.open("rb") as src:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
    return out
