"""Kubelet emulation for the lab guest: pod cgroups laid out as the real kubelet does.

Why it exists: the node agent and the BPF scheduler key on kubelet's cgroup layout and
the CPU weights/limits kubelet writes.  No kubelet runs in the guest, so this module
reproduces what matters: the systemd cgroup driver's layout on cgroup v2, QoS classes,
``cpu.weight``/``cpu.max`` on pod cgroups, and container processes placed in their
``cri-containerd-<id>.scope`` before they exec.

Layout (systemd driver, cgroup v2), relative to the cgroup root::

    kubepods.slice/kubepods-pod<uid_>.slice/                                 Guaranteed
    kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
    kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/
    .../cri-containerd-<64 hex>.scope                                        containers

``<uid_>`` is the pod UID with ``-`` replaced by ``_`` (systemd unit-name escaping).

Formulas (pkg/kubelet/cm): shares = milliCPU * 1024 / 1000, at least 2 (2 when no
request); weight = 1 + ((shares - 2) * 9999) / 262142; cpu.max quota = milliCPU *
100000 / 1000 with period 100000 (``max`` when no limit).  BestEffort pods get shares 2.

Input: a ``kubectl get pods -o json`` List.  The lab-only annotation
``lab.temper.io/command`` (JSON list of argv) on a pod starts that command in every
container; ``lab.temper.io/command.<container name>`` overrides it per container.

Invariants: stdlib only (runs under the guest's Python 3.13); path and value computation
is pure (tested on the host); every filesystem write goes under the ``root`` parameter.

CLI: ``python3 -m kernellab.guest.kubelet PODS_JSON [--root /sys/fs/cgroup]
[--state /run/temper-lab/pods.json] [--no-start]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

COMMAND_ANNOTATION = "lab.temper.io/command"
CPU_PERIOD_US = 100000
MIN_SHARES = 2
MAX_SHARES = 262144
CONTROLLERS = "+cpu +cpuset +memory +pids"


def parse_cpu_millis(q: str | int | float | None) -> int:
    """Kubernetes CPU quantity to milliCPU ("250m" -> 250, "1.5" -> 1500)."""
    if q is None:
        return 0
    s = str(q).strip()
    if s.endswith("m"):
        return int(Decimal(s[:-1]))
    return int((Decimal(s) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def _resources(container: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    res = container.get("resources") or {}
    return dict(res.get("requests") or {}), dict(res.get("limits") or {})


_SUFFIX: dict[str, int | Decimal] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10**3,
           "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def parse_quantity(q: str | int | float) -> Decimal:
    """A Kubernetes resource quantity as a number ("128Mi" -> 134217728)."""
    s = str(q).strip()
    for suf in sorted(_SUFFIX, key=len, reverse=True):
        if s.endswith(suf) and s[: -len(suf)]:
            return Decimal(s[: -len(suf)]) * Decimal(_SUFFIX[suf])
    return Decimal(s)


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, as Kubernetes computes it (cpu + memory).

    Requests default to limits when only limits are set.  Guaranteed: every container
    has cpu and memory limits and requests equal to them; BestEffort: no container sets
    any cpu/memory request or limit; otherwise Burstable.
    """
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        req, lim = _resources(c)
        req = {k: parse_quantity(v) for k, v in req.items() if k in ("cpu", "memory")}
        lim = {k: parse_quantity(v) for k, v in lim.items() if k in ("cpu", "memory")}
        any_set = any_set or bool(req or lim)
        eff_req = {**lim, **req}
        for r in ("cpu", "memory"):
            if r not in lim or eff_req.get(r) != lim[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def pod_cpu_millis(pod: dict[str, Any]) -> tuple[int, int | None]:
    """(sum of container CPU requests, sum of limits or None if any container lacks one)."""
    req_total = 0
    lim_total: int | None = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        req, lim = _resources(c)
        cpu_req = req.get("cpu", lim.get("cpu"))
        req_total += parse_cpu_millis(cpu_req)
        if "cpu" in lim and lim_total is not None:
            lim_total += parse_cpu_millis(lim["cpu"])
        else:
            lim_total = None
    return req_total, lim_total


def shares_from_millis(millis: int) -> int:
    if millis == 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, millis * 1024 // 1000))


def weight_from_shares(shares: int) -> int:
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_max(limit_millis: int | None) -> str:
    if limit_millis is None or limit_millis == 0:
        return f"max {CPU_PERIOD_US}"
    return f"{max(1000, limit_millis * CPU_PERIOD_US // 1000)} {CPU_PERIOD_US}"


def escape_uid(uid: str) -> str:
    return uid.replace("-", "_")


def pod_cgroup(uid: str, qos: str) -> str:
    """Pod cgroup path relative to the cgroup v2 root (no leading/trailing slash)."""
    u = escape_uid(uid)
    if qos == "Guaranteed":
        return f"kubepods.slice/kubepods-pod{u}.slice"
    tier = qos.lower()
    return f"kubepods.slice/kubepods-{tier}.slice/kubepods-{tier}-pod{u}.slice"


def container_id(uid: str, name: str, status_id: str | None = None) -> str:
    """The 64-hex container ID: from the status (``containerd://...``) or derived."""
    if status_id:
        return status_id.split("://", 1)[-1]
    return hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()


def container_scope(cid: str) -> str:
    return f"cri-containerd-{cid}.scope"


@dataclass
class ContainerPlan:
    name: str
    id: str
    cgroup: str
    command: list[str] | None
    pids: list[int] = field(default_factory=list)


@dataclass
class PodPlan:
    uid: str
    namespace: str
    name: str
    qos: str
    cgroup: str
    cpu_weight: int
    cpu_max: str
    containers: list[ContainerPlan]


def _command(pod: dict[str, Any], container: str) -> list[str] | None:
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    raw = ann.get(f"{COMMAND_ANNOTATION}.{container}", ann.get(COMMAND_ANNOTATION))
    if raw is None:
        return None
    argv = json.loads(raw)
    if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise ValueError(f"{COMMAND_ANNOTATION} must be a JSON list of strings")
    return argv


def plan_pod(pod: dict[str, Any]) -> PodPlan:
    """Pure: the cgroups and values kubelet would produce for ``pod``."""
    meta = pod.get("metadata") or {}
    uid = str(meta["uid"])
    qos = qos_class(pod)
    req, lim = pod_cpu_millis(pod)
    shares = MIN_SHARES if qos == "BestEffort" else shares_from_millis(req)
    base = pod_cgroup(uid, qos)
    statuses = {s.get("name"): s.get("containerID")
                for s in (pod.get("status") or {}).get("containerStatuses") or []}
    containers = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        cid = container_id(uid, c["name"], statuses.get(c["name"]))
        containers.append(ContainerPlan(c["name"], cid, f"{base}/{container_scope(cid)}",
                                        _command(pod, c["name"])))
    return PodPlan(uid, meta.get("namespace", "default"), meta.get("name", uid), qos, base,
                   weight_from_shares(shares), cpu_max(lim), containers)


def plan(pods_list: dict[str, Any]) -> list[PodPlan]:
    return [plan_pod(p) for p in pods_list.get("items") or []]


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        print(f"kubelet-emu: write {value!r} to {path}: {exc}", file=sys.stderr)


def _mkcg(root: Path, rel: str, *, delegate: bool) -> Path:
    path = root / rel
    path.mkdir(parents=True, exist_ok=True)
    if delegate:
        _write(path / "cgroup.subtree_control", CONTROLLERS)
    return path


def apply(plans: list[PodPlan], root: Path, *, start: bool = True) -> list[PodPlan]:
    """Create the cgroups under ``root``, write weights/limits, start workloads."""
    _write(root / "cgroup.subtree_control", CONTROLLERS)
    for rel in ("kubepods.slice", "kubepods.slice/kubepods-burstable.slice",
                "kubepods.slice/kubepods-besteffort.slice"):
        _mkcg(root, rel, delegate=True)
    for p in plans:
        pod_dir = _mkcg(root, p.cgroup, delegate=True)
        _write(pod_dir / "cpu.weight", str(p.cpu_weight))
        _write(pod_dir / "cpu.max", p.cpu_max)
        for c in p.containers:
            scope = _mkcg(root, c.cgroup, delegate=False)
            if start and c.command:
                procs = str(scope / "cgroup.procs")

                def enter(procs: str = procs) -> None:
                    # runs in the child between fork and exec: join the scope first
                    with open(procs, "w") as f:
                        f.write(str(os.getpid()))

                child = subprocess.Popen(c.command, preexec_fn=enter,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
                c.pids.append(child.pid)
    return plans


def state(plans: list[PodPlan]) -> dict[str, Any]:
    """The state file's content: pod uid -> cgroup, values, containers and pids."""
    return {"pods": {p.uid: asdict(p) for p in plans}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kubelet-emu")
    ap.add_argument("pods_json")
    ap.add_argument("--root", default="/sys/fs/cgroup")
    ap.add_argument("--state", default="/run/temper-lab/pods.json")
    ap.add_argument("--no-start", action="store_true")
    a = ap.parse_args(argv)
    plans = apply(plan(json.loads(Path(a.pods_json).read_text())), Path(a.root),
                  start=not a.no_start)
    out = Path(a.state)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(state(plans), indent=1))
    print(json.dumps(state(plans)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
