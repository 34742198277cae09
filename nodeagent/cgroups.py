"""Find every pod's cgroup v2 directory and read its CPU usage and pressure.

Why it exists: the BPF scheduler identifies a pod by its cgroup id, and the load annotation
needs what each pod actually used. Kubelet lays pod cgroups out in one of two shapes
(``temper.cgroupnames`` documents both drivers); this module scans whichever is present.

Design:
- ``scan_pods(root)`` walks only the two or three directory levels kubelet uses (never the
  containers below a pod), auto-detects the driver (``kubepods.slice`` = systemd,
  ``kubepods`` = cgroupfs; both are scanned if both exist), and returns uid -> ``PodCgroup``
  (path relative to the cgroup root, cgroup id). On cgroup v2 the cgroup id BPF sees
  (``bpf_get_current_cgroup_id``, ``cgrp->kn->id``) is the directory's inode number, so the
  id is ``os.stat(dir).st_ino``.
- ``read_usage_usec`` / ``read_pressure_avg10`` read ``cpu.stat`` and ``cpu.pressure``;
  ``read_pods`` reads them for a set of pods, opening each file.
- ``UsageReader`` is the control loop's steady-state reader: it keeps each pod's files open
  and reads them with ``os.pread`` from offset 0 every scan (one syscall per file instead of three;
  kernfs regenerates the contents on every read from 0), parsing the bytes directly. A
  descriptor is closed when its pod's cgroup leaves the set (``retain``, after every rescan,
  also when the cgroup was recreated under the same path with a new id) or a read fails — a
  removed cgroup's files fail with ``ENODEV``, counted as vanished, which makes the agent
  rescan.
- Container cgroups (the pod cgroup's children) and the limit/cpuset files are read by
  ``nodeagent.cgroupfacts``, with the same descriptor cache (``pread_or_forget``).
- ``UsageTracker`` turns cumulative ``usage_usec`` samples into millicores over the interval
  (pure arithmetic, fed by the reads above).

Failure model: pods come and go while we scan. A directory that vanishes between listing and
``stat`` (``FileNotFoundError``), one we may not read (``PermissionError``) or a malformed
file only skips *that pod* and is counted by reason in ``CgroupScan.skipped`` /
``UsageRead.skipped``; nothing here raises for per-pod trouble. ``CgroupError`` is raised
only when the cgroup root itself is unusable (not a directory).
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temper.cgroupnames import CgroupDriver, uid_from_cgroup_dirname

SKIP_VANISHED = "cgroup_vanished"
SKIP_PERMISSION = "cgroup_permission"
SKIP_MALFORMED = "cgroup_malformed"
SKIP_DUPLICATE = "cgroup_duplicate"
SKIP_REASONS = (SKIP_VANISHED, SKIP_PERMISSION, SKIP_MALFORMED, SKIP_DUPLICATE)
"""Every reason a pod's cgroup can be skipped (bounded metric label values)."""

_SYSTEMD_TOP = "kubepods.slice"
_SYSTEMD_QOS = ("kubepods-burstable.slice", "kubepods-besteffort.slice")
_CGROUPFS_TOP = "kubepods"
_CGROUPFS_QOS = ("burstable", "besteffort")
_MAX_FILE_BYTES = 4096
"""cpu.stat and cpu.pressure are a few hundred bytes; anything larger is not theirs."""


class CgroupError(OSError):
    """The cgroup root cannot be scanned at all (missing, not a directory)."""


@dataclass(frozen=True)
class PodCgroup:
    path: str
    """Relative to the cgroup v2 root, no leading ``/`` (scx_layered's form)."""
    cgroup_id: int
    driver: CgroupDriver


@dataclass
class CgroupScan:
    pods: dict[str, PodCgroup] = field(default_factory=dict)
    drivers: set[CgroupDriver] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)


def skip_reason(exc: OSError) -> str:
    """The ``SKIP_REASONS`` value for a failed cgroup read."""
    if isinstance(exc, FileNotFoundError | NotADirectoryError) or exc.errno == errno.ENODEV:
        return SKIP_VANISHED  # ENODEV: a file of a removed cgroup, still open
    if isinstance(exc, PermissionError):
        return SKIP_PERMISSION
    return SKIP_MALFORMED


def _list_dirs(directory: str, scan: CgroupScan) -> list[str]:
    # Names only: interface files (cpu.stat, ...) never match a pod or QoS directory name.
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        scan.skipped[skip_reason(exc)] += 1
        return []


def _add_pod(root: str, relative: str, driver: CgroupDriver, scan: CgroupScan) -> None:
    uid = uid_from_cgroup_dirname(relative.rsplit("/", 1)[-1])
    if uid is None:
        return
    try:
        inode = os.stat(f"{root}/{relative}").st_ino
    except OSError as exc:
        scan.skipped[skip_reason(exc)] += 1
        return
    if uid in scan.pods:
        scan.skipped[SKIP_DUPLICATE] += 1
        return
    scan.pods[uid] = PodCgroup(relative, inode, driver)


def scan_pods(root: str | Path) -> CgroupScan:
    """Map pod uid -> its cgroup for every kubelet pod cgroup under ``root``."""
    base = os.fspath(root)
    if not os.path.isdir(base):
        raise CgroupError(f"cgroup root {base} is not a directory")
    scan = CgroupScan()
    layouts = (
        (CgroupDriver.SYSTEMD, _SYSTEMD_TOP, _SYSTEMD_QOS),
        (CgroupDriver.CGROUPFS, _CGROUPFS_TOP, _CGROUPFS_QOS),
    )
    for driver, top, qos_dirs in layouts:
        if not os.path.isdir(f"{base}/{top}"):
            continue
        scan.drivers.add(driver)
        for name in _list_dirs(f"{base}/{top}", scan):
            if name in qos_dirs:
                for pod_dir in _list_dirs(f"{base}/{top}/{name}", scan):
                    _add_pod(base, f"{top}/{name}/{pod_dir}", driver, scan)
            else:
                _add_pod(base, f"{top}/{name}", driver, scan)
    return scan


def _read_small(path: str | Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, _MAX_FILE_BYTES)
    finally:
        os.close(fd)
    return data.decode("ascii", "replace")


class CgroupReadError(ValueError):
    """A cgroup file that exists but does not say what it should (malformed)."""


def parse_usage_usec(text: str) -> int:
    """``usage_usec`` from a cgroup v2 ``cpu.stat``."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            try:
                usec = int(value)
            except ValueError:
                break
            if usec >= 0:
                return usec
            break
    raise CgroupReadError("cpu.stat has no valid usage_usec line")


_USAGE_KEY = b"usage_usec "


def parse_usage_usec_bytes(data: bytes) -> int:
    """``parse_usage_usec`` on the raw file (the hot path: no decode, no line split).

    ``usage_usec`` is the first line of every kernel's ``cpu.stat``; another position is
    found too, but only at the start of a line."""
    if data.startswith(_USAGE_KEY):
        start = len(_USAGE_KEY)
    else:
        start = data.find(b"\n" + _USAGE_KEY) + 1 + len(_USAGE_KEY)
        if start == len(_USAGE_KEY):
            raise CgroupReadError("cpu.stat has no valid usage_usec line")
    end = data.find(b"\n", start)
    try:
        usec = int(data[start:] if end < 0 else data[start:end])
    except ValueError:
        raise CgroupReadError("cpu.stat has no valid usage_usec line") from None
    if usec < 0:
        raise CgroupReadError("cpu.stat has no valid usage_usec line")
    return usec


def parse_pressure_avg10(text: str) -> float:
    """``some avg10`` (percent) from a PSI file (``cpu.pressure`` or ``/proc/pressure/cpu``)."""
    for line in text.splitlines():
        if line.startswith("some "):
            for part in line.split()[1:]:
                key, _, value = part.partition("=")
                if key == "avg10":
                    try:
                        pct = float(value)
                    except ValueError:
                        break
                    if 0.0 <= pct <= 100.0:
                        return pct
                    break
    raise CgroupReadError("PSI file has no valid 'some avg10' field")


def read_usage_usec(root: str | Path, relative: str) -> int:
    """Raises ``OSError`` (gone, permission) or ``CgroupReadError`` (malformed)."""
    return parse_usage_usec(_read_small(Path(root) / relative / "cpu.stat"))


def read_pressure_avg10(path: str | Path) -> float:
    return parse_pressure_avg10(_read_small(Path(path)))


@dataclass
class UsageRead:
    usage_usec: dict[str, int] = field(default_factory=dict)
    pressure_pct: dict[str, float] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)


def read_pods(root: str | Path, cgroups: Mapping[str, PodCgroup], pressure: bool = True) -> UsageRead:
    """``usage_usec`` (and ``some avg10``) of each pod; per-pod failures are counted, not raised.

    Hot path (every scan, every pod): plain string paths and one ``os.read`` per file.
    """
    base = os.fspath(root)
    result = UsageRead()
    for uid, cgroup in cgroups.items():
        directory = f"{base}/{cgroup.path}/"
        try:
            result.usage_usec[uid] = parse_usage_usec(_read_small(directory + "cpu.stat"))
            if pressure:
                result.pressure_pct[uid] = parse_pressure_avg10(_read_small(directory + "cpu.pressure"))
        except OSError as exc:
            result.skipped[skip_reason(exc)] += 1
        except CgroupReadError:
            result.skipped[SKIP_MALFORMED] += 1
    return result


FdKey = tuple[str, int, str]
"""(cgroup path, cgroup id, file name): a descriptor kept open across scans."""


def pread_or_forget(fds: dict[FdKey, int], key: FdKey, fd: int, size: int) -> bytes:
    """``os.pread`` from offset 0; on failure the descriptor is closed and dropped from ``fds``
    (so the next read reopens it, or finds the cgroup gone) and the error raised."""
    try:
        return os.pread(fd, size, 0)
    except OSError:
        del fds[key]
        os.close(fd)
        raise


class UsageReader:
    """``read_pods`` with each pod's files kept open between scans (see the module docstring).

    Not thread-safe; call ``close`` when done (the agent holds one for its lifetime)."""

    def __init__(self, root: str | Path) -> None:
        self._base = os.fspath(root)
        self._fds: dict[FdKey, int] = {}
        """(cgroup path, cgroup id, file name) -> open descriptor."""

    def __len__(self) -> int:
        return len(self._fds)

    def _pread(self, cgroup: PodCgroup, name: str) -> bytes:
        key = (cgroup.path, cgroup.cgroup_id, name)
        fd = self._fds.get(key)
        if fd is None:
            fd = self._fds[key] = os.open(f"{self._base}/{cgroup.path}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        return pread_or_forget(self._fds, key, fd, _MAX_FILE_BYTES)

    def read(self, cgroups: Mapping[str, PodCgroup], pressure: bool = True) -> UsageRead:
        """As ``read_pods``; a failed read closes that file (reopened on the next read)."""
        result = UsageRead()
        usage, pressures, pread = result.usage_usec, result.pressure_pct, self._pread
        for uid, cgroup in cgroups.items():
            try:
                usage[uid] = parse_usage_usec_bytes(pread(cgroup, "cpu.stat"))
                if pressure:
                    pressures[uid] = parse_pressure_avg10(pread(cgroup, "cpu.pressure").decode("ascii", "replace"))
            except OSError as exc:
                result.skipped[skip_reason(exc)] += 1
            except CgroupReadError:
                result.skipped[SKIP_MALFORMED] += 1
        return result

    def retain(self, cgroups: Mapping[str, PodCgroup]) -> None:
        """Close the files of every cgroup not in ``cgroups`` (gone, or recreated with a new id)."""
        live = {(cg.path, cg.cgroup_id) for cg in cgroups.values()}
        for key in [k for k in self._fds if (k[0], k[1]) not in live]:
            os.close(self._fds.pop(key))

    def close(self) -> None:
        self.retain({})


class UsageTracker:
    """Millicores used per pod between two samples of cumulative ``usage_usec``.

    millicores = delta_usec / delta_seconds / 1000 (1 CPU fully busy for 1 s = 1e6 usec =
    1000m). A counter that goes backwards (the pod's cgroup was recreated under the same
    uid) restarts the baseline instead of reporting a negative or huge value; a pod with one
    sample only has no rate yet.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        """The previous sample of each pod, all taken at ``_then`` (pods missing from a sample
        are dropped, so they restart without a rate)."""
        self._then = 0.0

    def update(self, samples: Mapping[str, int], now: float) -> dict[str, int]:
        rates: dict[str, int] = {}
        last, elapsed = self._last, now - self._then
        if elapsed > 0:
            for uid, usec in samples.items():
                old = last.get(uid)
                if old is not None and usec >= old:
                    rates[uid] = round((usec - old) / elapsed / 1000.0)
        self._last = dict(samples)
        self._then = now
        return rates

    def forget(self, uids: Iterable[str]) -> None:
        for uid in uids:
            self._last.pop(uid, None)
