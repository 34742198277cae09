"""Where kubelet puts a pod's cgroup on cgroup v2, for both cgroup drivers (pure).

systemd driver::

    kubepods.slice/kubepods-pod<uid_>.slice/                                   Guaranteed
    kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
    kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/

cgroupfs driver::

    kubepods/pod<uid>/                 Guaranteed
    kubepods/burstable/pod<uid>/
    kubepods/besteffort/pod<uid>/

``<uid_>`` is the pod UID with ``-`` replaced by ``_`` (systemd unit names reserve ``-`` as
the hierarchy separator). Paths are relative to the cgroup v2 mount, without a leading
``/`` — the form scx_layered matches on and the node agent joins to its cgroup root.
"""

from __future__ import annotations

import enum
import re

from temper.pods import QosClass

_UID = re.compile(r"^[0-9a-fA-F-]{1,64}$")


class CgroupDriver(enum.Enum):
    SYSTEMD = "systemd"
    CGROUPFS = "cgroupfs"


def _checked_uid(uid: str) -> str:
    if not _UID.match(uid):
        raise ValueError(f"pod uid {uid!r} is not a UID")
    return uid


def pod_cgroup_path(uid: str, qos: QosClass, driver: CgroupDriver = CgroupDriver.SYSTEMD) -> str:
    uid = _checked_uid(uid)
    if driver is CgroupDriver.SYSTEMD:
        escaped = uid.replace("-", "_")
        if qos is QosClass.GUARANTEED:
            return f"kubepods.slice/kubepods-pod{escaped}.slice"
        level = "burstable" if qos is QosClass.BURSTABLE else "besteffort"
        return f"kubepods.slice/kubepods-{level}.slice/kubepods-{level}-pod{escaped}.slice"
    if qos is QosClass.GUARANTEED:
        return f"kubepods/pod{uid}"
    level = "burstable" if qos is QosClass.BURSTABLE else "besteffort"
    return f"kubepods/{level}/pod{uid}"


_SYSTEMD_POD = re.compile(r"^kubepods(?:-(?:burstable|besteffort))?-pod([0-9a-fA-F_]+)\.slice$")
_CGROUPFS_POD = re.compile(r"^pod([0-9a-fA-F-]+)$")


def uid_from_cgroup_dirname(name: str) -> str | None:
    """The pod UID encoded in a pod cgroup directory name, or None if it is not one."""
    match = _SYSTEMD_POD.match(name)
    if match:
        return match.group(1).replace("_", "-")
    match = _CGROUPFS_POD.match(name)
    return match.group(1) if match else None
