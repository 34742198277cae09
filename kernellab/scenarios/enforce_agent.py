"""Agent lifecycle: the real ``temper agent`` enforcing on a real sched_ext kernel.

Pods are laid out by the kubelet emulator (systemd driver), so the agent's cgroup discovery is
the production path. The agent runs in hybrid mode: pods from ``--pods-file``, annotations and
safe mode through a minimal in-guest API server (``kernellab.guest.fakeapi``). Proves, in order:
attach (state ``enabled``, ``root/ops`` = temper) and the ``enforcing`` annotation; pod tasks on
the ext class; Critical runs only on fenced CPUs while batch saturates the rest (and batch
progresses); a new pod is picked up by a live map update (``enable_seq`` unchanged); /metrics
and /observe answer; SIGKILL -> ``disabled`` with every task still running; restart ->
re-attached; safe mode on the Node -> detached within 5 s and ``safe-mode`` reported, removal ->
re-attached; SIGTERM -> detached, exit 0; a broken scheduler variant is ejected by the kernel
watchdog and the node keeps running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernellab.guest import kubelet
from kernellab.scenarios import _pods, _scx
from kernellab.scenarios._agent import ENFORCEMENT, SAFE_MODE, GuestAgent

if TYPE_CHECKING:
    from kernellab.guest.runner import Context

CGROUPS_MAP = "/sys/fs/bpf/temper/maps/temper_cgroups"


def enable_seq() -> int:
    return int(Path("/sys/kernel/sched_ext/enable_seq").read_text())


def cgroup_ids_in_map() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", CGROUPS_MAP],
                         capture_output=True, text=True, check=False).stdout
    entries = json.loads(out) if out.strip() else []
    return {int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little") for e in entries}


def guest_main(ctx: Context) -> int:
    critical = _pods.pod(1, "critical", "critical", "500m", _pods.BUSY)
    fillers = [_pods.pod(100 + i, f"filler-{i}", "background", "100m", _pods.BUSY) for i in range(2)]
    late = _pods.pod(200, "late", "normal", "200m", _pods.SLEEP)
    capped = _pods.pod(300, "capped", "normal", "300m", _pods.BUSY)
    capped["spec"]["containers"][0]["resources"]["limits"] = {"cpu": "300m"}
    laid = kubelet.apply(kubelet.plan(_pods.pod_list([critical, *fillers, late, capped])), _pods.CGROUP_ROOT)
    crit_pids, filler_pids = _pods.pids_of(laid[0]), [p for x in laid[1:3] for p in _pods.pids_of(x)]
    all_pids = [p for x in laid for p in _pods.pids_of(x)]
    agent = GuestAgent(_pods.pod_list([critical, *fillers, capped]))
    api = agent.api
    seq_before = enable_seq()
    t0 = time.monotonic()
    agent.start()
    waited = ctx.wait_for(lambda: _scx.root_ops() == "temper", 180, 0.05)
    if not ctx.check("agent_attaches", waited is not None, state=_scx.state(), ops=_scx.root_ops(),
                     seconds=round(time.monotonic() - t0, 2), log=agent.tail() if waited is None else ""):
        return 1
    ctx.check("annotation_enforcing", ctx.wait_for(lambda: agent.enforcement_state() == "enforcing", 30) is not None,
              annotations=api.annotations())
    ctx.check("pod_tasks_on_ext", all(_scx.on_ext(p) for p in all_pids), pids=all_pids)

    observe = json.loads(agent.get("/observe"))
    fenced = _cpulist(observe.get("plan", {}).get("fenced", ""))
    samples = []
    ticks0 = _pods.cpu_ticks(filler_pids)
    for _ in range(100):
        samples.append(_pods.last_cpu(crit_pids[0]))
        time.sleep(0.02)
    ticks1 = _pods.cpu_ticks(filler_pids)
    ctx.check("critical_only_on_fenced_cpus", bool(fenced) and set(samples) <= fenced,
              fenced=sorted(fenced), seen=sorted(set(samples)), samples=len(samples))
    ctx.check("batch_progresses_beside_critical", ticks1 > ticks0, filler_ticks=ticks1 - ticks0)

    late_id = (_pods.CGROUP_ROOT / laid[3].cgroup).stat().st_ino
    agent.write_pods(_pods.pod_list([critical, *fillers, capped, late]))
    seen = ctx.wait_for(lambda: late_id in cgroup_ids_in_map(), 60, 0.2)
    ctx.check("new_pod_by_live_map_update", seen is not None and enable_seq() == seq_before + 1,
              seconds=seen, enable_seq=[seq_before, enable_seq()])
    metrics = agent.get("/metrics").decode()
    ctx.check("metrics_served", "temper_agent_" in metrics and "temper_agent_scheduler_events" in metrics,
              lines=len(metrics.splitlines()))

    # The agent reads the pod's cpu.max (kubelet wrote 30000 100000) and the scheduler holds it.
    capped_cg = laid[4].cgroup
    used = _cpus_used(capped_cg, 4)
    throttled = [ln for ln in agent.get("/metrics").decode().splitlines()
                 if ln.startswith("temper_pod_cpu_nr_throttled_total") and 'pod="capped"' in ln]
    ctx.check("agent_enforces_cpu_max", abs(used - 0.3) <= 0.045 and bool(throttled)
              and float(throttled[0].rsplit(" ", 1)[1]) > 0, cpus=round(used, 3), metric=throttled)

    # Runqueue waits from the scheduler's BPF histograms (telemetry.bpf.h), read by the agent
    # every scan: per tier and per pod in /observe, histograms in /metrics. The busy Critical
    # pod has its fenced CPU; the batch fillers queue behind each other on the shared CPU.
    ctx.wait_for(lambda: (_tier_wait(agent, "background") or {}).get("count", 0) > 0, 10, 0.2)
    observe = json.loads(agent.get("/observe"))
    waits = {tier: (observe["tiers"][tier].get("runqueue_wait") or {}) for tier in ("critical", "background")}
    by_name = {p["name"]: p.get("runqueue_wait") or {} for p in observe["pods"]}
    exported = [ln for ln in agent.get("/metrics").decode().splitlines()
                if ln.startswith('temper_pod_runqueue_wait_seconds_count{namespace="lab",pod="filler-0"}')]
    critical, batch = waits["critical"], waits["background"]
    ctx.check("runqueue_waits_observed", critical.get("count", 0) > 0 and batch.get("count", 0) > 0
              and (critical.get("p99_us") or 0) > 0 and by_name.get("filler-0", {}).get("count", 0) > 0
              and bool(exported) and float(exported[0].rsplit(" ", 1)[1]) > 0
              and _mean_wait(batch) > _mean_wait(critical),
              tiers=waits, pods={k: by_name[k] for k in ("critical", "filler-0", "capped") if k in by_name},
              metric=exported)

    # CPU hotplug under the agent: still attached and enforcing, re-planned for 1 then 2 CPUs.
    online = Path("/sys/devices/system/cpu/cpu1/online")
    online.write_text("0")
    def online_seen() -> tuple[str, str]:
        observe = json.loads(agent.get("/observe"))
        return str(observe.get("online")), str((observe.get("plan") or {}).get("online"))

    replanned = ctx.wait_for(lambda: online_seen() == ("0", "0"), 15, 0.2)
    during = (_scx.state(), agent.enforcement_state())
    online.write_text("1")
    restored = ctx.wait_for(lambda: online_seen() == ("0-1", "0-1"), 15, 0.2)
    time.sleep(2)
    ctx.check("hotplug_keeps_agent_enforcing", replanned is not None and restored is not None
              and during == ("enabled", "enforcing") and _scx.state() == "enabled"
              and agent.enforcement_state() == "enforcing" and enable_seq() == seq_before + 1,
              during=during, after=(_scx.state(), agent.enforcement_state()), replanned_s=replanned,
              restored_s=restored, log="" if restored is not None else agent.tail()[-1500:])

    assert agent.proc is not None
    os.kill(agent.proc.pid, signal.SIGKILL)
    t_kill = time.monotonic()
    gone = ctx.wait_for(lambda: _scx.state() == "disabled", 10, 0.005)
    agent.proc.wait()
    alive = [p for p in all_pids if Path(f"/proc/{p}").exists()]
    ctx.check("sigkill_reverts_to_fair_class", gone is not None and alive == all_pids,
              seconds=None if gone is None else round(time.monotonic() - t_kill, 3),
              alive=len(alive), total=len(all_pids), on_ext=any(_scx.on_ext(p) for p in all_pids))

    t0 = time.monotonic()
    agent.start()
    back = ctx.wait_for(lambda: _scx.root_ops() == "temper", 180, 0.05)
    ctx.check("restart_reattaches", back is not None, seconds=round(time.monotonic() - t0, 2))

    api.set_node_annotation(SAFE_MODE, "true")
    t0 = time.monotonic()
    down = ctx.wait_for(lambda: _scx.state() == "disabled", 15, 0.02)
    ctx.check("safe_mode_detaches_within_5s", down is not None and down <= 5.0,
              seconds=None if down is None else round(down, 2))
    ctx.check("safe_mode_reported", ctx.wait_for(lambda: agent.enforcement_state() == "safe-mode", 15) is not None,
              annotation=api.annotations().get(ENFORCEMENT))
    api.set_node_annotation(SAFE_MODE, None)
    resumed = ctx.wait_for(lambda: _scx.root_ops() == "temper", 60, 0.05)
    ctx.check("safe_mode_removed_resumes", resumed is not None, seconds=resumed)

    agent.proc.send_signal(signal.SIGTERM)
    try:
        code = agent.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        agent.proc.kill()
        code = -9
    detached = ctx.wait_for(lambda: _scx.state() == "disabled", 5)
    ctx.check("sigterm_detaches_and_exits_0", code == 0 and detached is not None, code=code,
              state=_scx.state(), log=agent.tail()[-1200:])

    broken = Path("/sys/fs/bpf/temper_broken")
    reg = _scx.register(Path("/lab/bpf/build/temper_broken.bpf.o"), broken)
    t0 = time.monotonic()
    ejected = ctx.wait_for(lambda: _scx.state() == "disabled" and bool(_scx.dmesg_lines("temper_broken")), 20)
    ticks0 = _pods.cpu_ticks(filler_pids)
    time.sleep(1.0)
    ticks1 = _pods.cpu_ticks(filler_pids)
    ctx.check("broken_scheduler_ejected_by_watchdog", reg.returncode == 0 and ejected is not None and ticks1 > ticks0,
              seconds=None if ejected is None else round(time.monotonic() - t0, 2),
              dmesg=_scx.dmesg_lines("temper_broken")[-3:], filler_ticks_after=ticks1 - ticks0,
              stderr=reg.stderr[-500:])
    if broken.exists():
        _scx.unpin(broken)
    _pods.signal_all(all_pids, signal.SIGKILL)
    return 0


def _mean_wait(summary: dict[str, Any]) -> float:
    return float(summary.get("sum_seconds", 0.0)) / max(1, int(summary.get("count", 0)))


def _tier_wait(agent: GuestAgent, tier: str) -> dict[str, Any] | None:
    wait: dict[str, Any] | None = json.loads(agent.get("/observe"))["tiers"][tier].get("runqueue_wait")
    return wait


def _cpus_used(cgroup: str, seconds: float) -> float:
    def usage() -> int:
        stat = (_pods.CGROUP_ROOT / cgroup / "cpu.stat").read_text().split()
        return int(stat[stat.index("usage_usec") + 1])
    before, t0 = usage(), time.monotonic()
    time.sleep(seconds)
    return (usage() - before) / 1e6 / (time.monotonic() - t0)


def _cpulist(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus
