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
- ``read_usage_usec`` / ``read_pressure_avg10`` read ``cpu.stat`` and ``cpu.pressure``.
- ``UsageTracker`` turns cumulative ``usage_usec`` samples into millicores over the interval
  (pure arithmetic, fed by the reads above).

Failure model: pods come and go while we scan. A directory that vanishes between listing and
``stat`` (``FileNotFoundError``), one we may not read (``PermissionError``) or a malformed
file only skips *that pod* and is counted by reason in ``CgroupScan.skipped`` /
``UsageRead.skipped``; nothing here raises for per-pod trouble. ``CgroupError`` is raised
only when the cgroup root itself is unusable (not a directory).
"""

from __future__ import annotations

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


def _skip_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return SKIP_VANISHED
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
        scan.skipped[_skip_reason(exc)] += 1
        return []


def _add_pod(root: str, relative: str, driver: CgroupDriver, scan: CgroupScan) -> None:
    uid = uid_from_cgroup_dirname(relative.rsplit("/", 1)[-1])
    if uid is None:
        return
    try:
        inode = os.stat(f"{root}/{relative}").st_ino
    except OSError as exc:
        scan.skipped[_skip_reason(exc)] += 1
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
            result.skipped[_skip_reason(exc)] += 1
        except CgroupReadError:
            result.skipped[SKIP_MALFORMED] += 1
    return result


class UsageTracker:
    """Millicores used per pod between two samples of cumulative ``usage_usec``.

    millicores = delta_usec / delta_seconds / 1000 (1 CPU fully busy for 1 s = 1e6 usec =
    1000m). A counter that goes backwards (the pod's cgroup was recreated under the same
    uid) restarts the baseline instead of reporting a negative or huge value; a pod with one
    sample only has no rate yet.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, float]] = {}

    def update(self, samples: Mapping[str, int], now: float) -> dict[str, int]:
        rates: dict[str, int] = {}
        current: dict[str, tuple[int, float]] = {}
        for uid, usec in samples.items():
            current[uid] = (usec, now)
            previous = self._last.get(uid)
            if previous is None:
                continue
            old_usec, then = previous
            elapsed = now - then
            if usec < old_usec or elapsed <= 0:
                continue
            rates[uid] = round((usec - old_usec) / elapsed / 1000.0)
        self._last = current
        return rates

    def forget(self, uids: Iterable[str]) -> None:
        for uid in uids:
            self._last.pop(uid, None)
