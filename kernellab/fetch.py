"""Fetches, unpacks and caches everything the lab boots: kernels, QEMU, guest userspace.

Why it exists: one idempotent entry point (:func:`fetch_all`) that turns a bare Debian 12
host into one that can boot sched_ext guests, so tests and CI can call it unconditionally.

What it produces (all under :func:`kernellab.cache.cache_root`):
- ``kernels/linux-7.2.N/``: ``vmlinux`` (ELF extracted from Debian's cloud ``vmlinuz``,
  boots with ``-kernel`` and carries BTF), ``config``, ``vmlinux.h``;
- ``kernels/linux-6.12-KEY/``: ``bzImage``, ``vmlinux``, ``config``, ``vmlinux.h``
  (built by :mod:`kernellab.kbuild`);
- ``qemu-VERSION/``: QEMU >= 10 unpacked from bookworm-backports, with its firmware;
- ``rootfs/base-KEY/`` and ``rootfs/workloads-KEY/``: guest trees unpacked from trixie/sid
  packages, with Python wheels in the base tree's site-packages;
- ``hosttools-KEY/``: sid's bpftool (run through its own loader) and libbpf headers.

Invariants:
- every step checks its ``.done`` marker first and writes through
  :func:`kernellab.cache.atomic_dir`, so a killed fetch is resumed by rerunning it;
- only :func:`install_host_tools` touches the host, through the host's own apt, and only
  with the package names listed in this module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kernellab import kbuild
from kernellab.aptsuite import PrivateApt, extract_deb
from kernellab.cache import atomic_dir, atomic_path, cache_key, cache_root, is_done, locked

# Host packages (Debian 12, host apt): kernel build, BPF compiler, QEMU's shared libraries.
HOST_BUILD_PACKAGES: tuple[str, ...] = (
    "gcc", "make", "flex", "bison", "bc", "libelf-dev", "libssl-dev", "dwarves", "cpio",
    "zstd", "xz-utils",
)
# clang-16 is the newest clang Debian 12 (incl. bookworm-backports) ships.
HOST_CLANG_PACKAGES: tuple[str, ...] = ("clang-16", "llvm-16")
CLANG = "clang-16"
HOST_QEMU_LIBS: tuple[str, ...] = (
    "libaio1", "libbpf1", "libcapstone4", "libfdt1", "libfuse3-3", "libglib2.0-0",
    "libgmp10", "libgnutls30", "libibverbs1", "libjpeg62-turbo", "libnettle8", "libnuma1",
    "libpixman-1-0", "libpmem1", "libpng16-16", "librdmacm1", "libsasl2-2", "libseccomp2",
    "libslirp0", "libudev1", "liburing2", "libvdeplug2", "libzstd1", "zlib1g",
)

QEMU_SUITE = "bookworm-backports"
QEMU_PACKAGES: tuple[str, ...] = ("qemu-system-x86", "qemu-system-common", "qemu-system-data",
                                  "seabios")

# Guest userspace: requested packages; their Depends closure is resolved by apt.
BASE_PACKAGES: tuple[str, ...] = (
    "busybox-static", "libc6", "libelf1t64", "zlib1g", "libzstd1", "libcap2", "libssl3t64",
    "bpftool/sid", "python3.13-minimal", "libpython3.13-minimal", "libpython3.13-stdlib",
    "libexpat1", "libffi8", "libmpdec4", "libbz2-1.0", "liblzma5",
)
WORKLOAD_PACKAGES: tuple[str, ...] = ("stress-ng", "rt-tests", "memcached")
# Pulled in only for maintainer scripts or boot-time tooling the guest never runs.
EXCLUDED_PACKAGES: frozenset[str] = frozenset({
    "dpkg", "perl-base", "perl", "perl-modules-5.40", "libperl5.40", "debconf", "adduser",
    "passwd", "login.defs", "init-system-helpers", "sysvinit-utils", "lsb-base",
    "base-passwd", "tar", "libpam0g", "libpam-modules", "libpam-modules-bin",
    "libsemanage2", "libsemanage-common", "libsepol2", "libdebconfclient0", "libgdbm6t64",
    "libgdbm-compat4t64", "libdb5.3t64", "tzdata", "libaudit1", "libaudit-common",
    "libcap-ng0", "readline-common",
})

WHEELS: tuple[str, ...] = ("aiohttp", "prometheus_client", "cbor2", "PyYAML", "kubernetes")
GUEST_PYTHON = "3.13"
# bpftool with its library closure; libbpf-dev only for its BPF-side headers (no deps).
HOST_TOOL_PACKAGES: tuple[str, ...] = ("bpftool/sid",)
HEADER_PACKAGES: tuple[tuple[str, str], ...] = (("libbpf-dev", "sid"),)

KERNEL_72_PATTERN = r"^linux-binary(-unsigned)?-7\.2\.[0-9]+\+deb1[34]-cloud-amd64$"
KERNELS: tuple[str, ...] = ("7.2", "6.12")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def log(msg: str) -> None:
    print(f"kernellab: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- host tools

def _missing_host_packages(names: Sequence[str]) -> list[str]:
    missing = []
    for n in names:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", n], capture_output=True,
                              text=True, check=False)
        if "install ok installed" not in proc.stdout:
            missing.append(n)
    return missing


def install_host_tools() -> None:
    """apt-get install the host build/BPF/QEMU-library packages that are missing."""
    missing = _missing_host_packages(
        [*HOST_BUILD_PACKAGES, *HOST_CLANG_PACKAGES, *HOST_QEMU_LIBS])
    if not missing:
        return
    log(f"installing host packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env)


# --------------------------------------------------------------------------- apt helpers

def private_apt(root: Path | None = None) -> PrivateApt:
    apt = PrivateApt((root or cache_root()) / "apt")
    apt.setup()
    apt.update()
    return apt


def _pool(root: Path) -> Path:
    return root / "debs"


def _version_in_suite(apt: PrivateApt, package: str, suite: str) -> str:
    for version, s in apt.versions(package):
        if s == suite:
            return version
    raise RuntimeError(f"{package} not found in {suite}")


def _unpack_into(debs: Sequence[Path], dest: Path) -> None:
    for deb in debs:
        extract_deb(deb, dest)


def _merge_usr(tree: Path) -> None:
    """Create the merged-/usr aliases (``/bin``, ``/lib``, ...) a Debian system expects."""
    for name in ("bin", "sbin", "lib", "lib64"):
        target = tree / "usr" / name
        link = tree / name
        if link.is_symlink():
            continue
        if link.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            for item in link.iterdir():
                dest = target / item.name
                if not dest.exists():
                    os.replace(item, dest)
            shutil.rmtree(link)
        target.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"usr/{name}")


def _relink_absolute(tree: Path) -> None:
    """Rewrite absolute symlinks inside ``tree`` so they resolve within ``tree``."""
    for path in tree.rglob("*"):
        if path.is_symlink():
            target = os.readlink(path)
            if target.startswith("/"):
                rel = os.path.relpath(tree / target.lstrip("/"), path.parent)
                path.unlink()
                path.symlink_to(rel)


# --------------------------------------------------------------------------- kernels

@dataclass(frozen=True)
class Kernel:
    """A bootable kernel and its BTF."""

    name: str          # "7.2" or "6.12"
    release: str       # full version, e.g. "7.2.13+deb14-cloud-amd64"
    image: Path        # what QEMU's -kernel gets
    vmlinux: Path      # ELF with BTF
    directory: Path

    @property
    def vmlinux_h(self) -> Path:
        return self.directory / "vmlinux.h"


def kernel_sort_key(package: str) -> tuple[int, ...]:
    m = re.search(r"-(\d+)\.(\d+)\.(\d+)\+deb(\d+)", package)
    if not m:
        return (0,)
    return tuple(int(g) for g in m.groups())


def newest_72_package(names: Sequence[str]) -> str:
    """Newest 7.2 cloud kernel package, preferring the unsigned variant on ties."""
    cands = [n for n in names if re.match(KERNEL_72_PATTERN, n)]
    if not cands:
        raise RuntimeError("no Linux 7.2 cloud kernel package found")
    return max(cands, key=lambda n: (kernel_sort_key(n), "unsigned" in n))


def extract_vmlinux(vmlinuz: Path, out: Path) -> None:
    """Find the zstd frame in a bzImage and decompress it to the ELF ``vmlinux``."""
    data = vmlinuz.read_bytes()
    offset = data.find(ZSTD_MAGIC)
    while offset >= 0:
        proc = subprocess.run(["zstd", "-d", "-q", "-c"], input=data[offset:],
                              capture_output=True, check=False)
        # zstd complains about trailing garbage after the frame; the output is complete.
        if proc.stdout[:4] == b"\x7fELF":
            out.write_bytes(proc.stdout)
            return
        offset = data.find(ZSTD_MAGIC, offset + 1)
    raise RuntimeError(f"no zstd-compressed ELF in {vmlinuz}")


def fetch_kernel_72(root: Path, apt: PrivateApt) -> Kernel:
    names = apt.search_names(r"^linux-binary.*7\.2\..*-cloud-amd64$")
    pkg = newest_72_package(names)
    release = re.sub(r"^linux-binary(-unsigned)?-", "", pkg)
    final = root / "kernels" / f"linux-{release}"
    if not is_done(final):
        version = apt.versions(pkg)[0][0]
        (deb,) = apt.download([(pkg, version)], _pool(root))
        log(f"unpacking {deb.name}")
        with atomic_dir(final) as tmp:
            extract_deb(deb, tmp / "pkg")
            vmlinuz = next((tmp / "pkg").rglob("vmlinuz*"))
            extract_vmlinux(vmlinuz, tmp / "vmlinux")
            cfg = next((tmp / "pkg").rglob("config-*"), None)
            if cfg is not None:
                shutil.copy2(cfg, tmp / "config")
            (tmp / "release").write_text(release + "\n")
            shutil.rmtree(tmp / "pkg")
    k = Kernel("7.2", release, final / "vmlinux", final / "vmlinux", final)
    return k


def fetch_kernel_612(root: Path, apt: PrivateApt) -> Kernel:
    version = _version_in_suite(apt, "linux-source-6.12", "trixie")
    key = cache_key("kbuild-6.12", version, kbuild.fragment())[:16]
    out = root / "kernels"
    if not is_done(out / f"linux-6.12-{key}"):
        (deb,) = apt.download([("linux-source-6.12", version)], _pool(root))
        with locked(root, "kbuild"):
            built = kbuild.build_612(deb, version, out)
    else:
        built = kbuild.BuiltKernel(out / f"linux-6.12-{key}")
    return Kernel("6.12", version, built.bzimage, built.vmlinux, built.directory)


# --------------------------------------------------------------------------- QEMU

@dataclass(frozen=True)
class Qemu:
    root: Path

    @property
    def binary(self) -> Path:
        return self.root / "usr" / "bin" / "qemu-system-x86_64"

    @property
    def data_dirs(self) -> list[Path]:
        return [self.root / "usr" / "share" / "qemu", self.root / "usr" / "share" / "seabios"]


def fetch_qemu(root: Path, apt: PrivateApt) -> Qemu:
    pkgs = [(p, _version_in_suite(apt, p, QEMU_SUITE)) for p in QEMU_PACKAGES]
    final = root / f"qemu-{cache_key(pkgs)[:12]}"
    if not is_done(final):
        debs = apt.download(pkgs, _pool(root))
        with atomic_dir(final) as tmp:
            _unpack_into(debs, tmp)
            _relink_absolute(tmp)
    return Qemu(final)


# --------------------------------------------------------------------------- guest trees

def resolve_guest(apt: PrivateApt, requests: Sequence[str],
                  exclude: frozenset[str] = EXCLUDED_PACKAGES) -> list[tuple[str, str]]:
    return [(p, v) for p, v in apt.resolve(requests) if p not in exclude]


def fetch_tree(root: Path, apt: PrivateApt, kind: str, requests: Sequence[str],
               *, minus: Sequence[tuple[str, str]] = ()) -> tuple[Path, list[tuple[str, str]]]:
    """Unpack the closure of ``requests`` (minus packages already in a lower layer)."""
    pkgs = [pv for pv in resolve_guest(apt, requests) if pv not in set(minus)]
    final = root / "rootfs" / f"{kind}-{cache_key(pkgs)[:16]}"
    if not is_done(final):
        debs = apt.download(pkgs, _pool(root))
        log(f"unpacking {len(debs)} packages into the {kind} guest tree")
        with atomic_dir(final) as tmp:
            _unpack_into(debs, tmp)
            if kind == "base":
                _merge_usr(tmp)
            else:
                for name in ("bin", "sbin", "lib", "lib64"):
                    if (tmp / name).is_dir() and not (tmp / name).is_symlink():
                        (tmp / "usr" / name).mkdir(parents=True, exist_ok=True)
                        shutil.copytree(tmp / name, tmp / "usr" / name, symlinks=True,
                                        dirs_exist_ok=True)
                        shutil.rmtree(tmp / name)
            for junk in ("usr/share/doc", "usr/share/man", "usr/share/locale",
                         "usr/share/info", "usr/share/lintian"):
                shutil.rmtree(tmp / junk, ignore_errors=True)
            (tmp / ".packages").write_text("".join(f"{p}={v}\n" for p, v in pkgs))
    return final, pkgs


def fetch_wheels(root: Path, site_packages: Path) -> None:
    """Download manylinux wheels for the guest's Python and unpack them."""
    wheel_dir = root / f"wheels-{cache_key(WHEELS, GUEST_PYTHON)[:12]}"
    if not is_done(wheel_dir):
        with atomic_dir(wheel_dir) as tmp:
            log(f"pip download {' '.join(WHEELS)} for Python {GUEST_PYTHON}")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                 "--python-version", GUEST_PYTHON, "--implementation", "cp",
                 "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
                 "--platform", "manylinux_2_28_x86_64", "--platform", "any",
                 "-d", str(tmp), *WHEELS], check=True)
    site_packages.mkdir(parents=True, exist_ok=True)
    for whl in sorted(wheel_dir.glob("*.whl")):
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(site_packages)


def check_libraries(tree: Path, binaries: Sequence[str], lib_trees: Sequence[Path]) -> None:
    """Ask the guest's own loader whether every binary finds its shared libraries."""
    base = lib_trees[0]
    loader = base / "usr" / "lib64" / "ld-linux-x86-64.so.2"
    libpath = ":".join(str(t / d) for t in lib_trees
                       for d in ("usr/lib/x86_64-linux-gnu", "usr/lib"))
    problems = []
    for b in binaries:
        path = tree / b
        proc = subprocess.run([str(loader), "--library-path", libpath, "--list", str(path)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0 or "not found" in proc.stdout:
            problems.append(f"{b}: {proc.stdout.strip()} {proc.stderr.strip()}")
    if problems:
        raise RuntimeError("guest binaries miss libraries:\n" + "\n".join(problems))


# busybox is static: the loader cannot list it.
BASE_BINARIES = ("usr/sbin/bpftool", "usr/bin/python3.13")
WORKLOAD_BINARIES = ("usr/bin/stress-ng", "usr/bin/cyclictest", "usr/bin/memcached")


@dataclass(frozen=True)
class GuestTrees:
    base: Path
    workloads: Path

    @property
    def site_packages(self) -> Path:
        return self.base / "usr" / "lib" / "python3" / "dist-packages"


def fetch_guest(root: Path, apt: PrivateApt) -> GuestTrees:
    base, base_pkgs = fetch_tree(root, apt, "base", BASE_PACKAGES)
    marker = base / ".wheels"
    if not marker.exists() or marker.read_text() != "\n".join(WHEELS) + "\n":
        fetch_wheels(root, GuestTrees(base, base).site_packages)
        check_libraries(base, BASE_BINARIES, [base])
        marker.write_text("\n".join(WHEELS) + "\n")
    work, _ = fetch_tree(root, apt, "workloads", [*BASE_PACKAGES, *WORKLOAD_PACKAGES],
                         minus=base_pkgs)
    checked = work / ".libs-checked"
    if not checked.exists():
        check_libraries(work, WORKLOAD_BINARIES, [base, work])
        checked.write_text("ok\n")
    return GuestTrees(base, work)


# --------------------------------------------------------------------------- host BPF tools

@dataclass(frozen=True)
class HostTools:
    """sid's bpftool runnable on the host, and libbpf's BPF-side headers."""

    root: Path

    @property
    def include_dir(self) -> Path:
        return self.root / "usr" / "include"

    def bpftool_argv(self) -> list[str]:
        r = self.root
        libs = f"{r}/usr/lib/x86_64-linux-gnu:{r}/lib/x86_64-linux-gnu"
        return [f"{r}/usr/lib64/ld-linux-x86-64.so.2", "--library-path", libs,
                f"{r}/usr/sbin/bpftool"]


def fetch_host_tools(root: Path, apt: PrivateApt) -> HostTools:
    pkgs = resolve_guest(apt, HOST_TOOL_PACKAGES)
    pkgs += [(p, _version_in_suite(apt, p, suite)) for p, suite in HEADER_PACKAGES]
    final = root / f"hosttools-{cache_key(pkgs)[:12]}"
    if not is_done(final):
        debs = apt.download(pkgs, _pool(root))
        with atomic_dir(final) as tmp:
            _unpack_into(debs, tmp)
            _merge_usr(tmp)
    return HostTools(final)


def ensure_vmlinux_h(kernel: Kernel, tools: HostTools) -> Path:
    out = kernel.vmlinux_h
    if out.exists():
        return out
    with atomic_path(out) as tmp, tmp.open("w") as f:
        subprocess.run([*tools.bpftool_argv(), "btf", "dump", "file", str(kernel.vmlinux),
                        "format", "c"], stdout=f, check=True)
    return out


# --------------------------------------------------------------------------- all

@dataclass(frozen=True)
class Lab:
    """Everything needed to boot a guest and build BPF objects for it."""

    root: Path
    kernels: dict[str, Kernel]
    qemu: Qemu
    guest: GuestTrees
    tools: HostTools


def fetch_all(kernels: Sequence[str] = KERNELS, *, root: Path | None = None,
              host_setup: bool = True) -> Lab:
    """Idempotently prepare the lab for ``kernels`` ("7.2", "6.12")."""
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if host_setup:
        install_host_tools()
    apt = private_apt(root)
    qemu = fetch_qemu(root, apt)
    tools = fetch_host_tools(root, apt)
    guest = fetch_guest(root, apt)
    ks: dict[str, Kernel] = {}
    for name in kernels:
        k = fetch_kernel_72(root, apt) if name == "7.2" else fetch_kernel_612(root, apt)
        ensure_vmlinux_h(k, tools)
        ks[name] = k
    elapsed = time.monotonic() - t0
    if elapsed > 5:
        log(f"lab ready in {elapsed:.0f}s")
    return Lab(root, ks, qemu, guest, tools)


def vmlinux_h(kernel: str, *, root: Path | None = None) -> Path:
    """Path of ``vmlinux.h`` for kernel "7.2" or "6.12" (fetching/building if needed)."""
    return fetch_all([kernel], root=root).kernels[kernel].vmlinux_h
