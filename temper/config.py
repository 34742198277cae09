"""Configuration files: strict loading shared by every component, and the agent's schema.

Files are YAML or JSON (JSON is YAML). Loading is strict: an unknown key, a wrong type or an
out-of-range value raises ``ConfigError`` naming the key — no silent defaults for typos.
Absent keys take the documented defaults (the values in the dataclasses below and in
``temper.plan.PlanConfig``). Components with their own sections (webhook, extender) build on
``load_document`` and ``take``. ``agent_config_document`` is the inverse of
``parse_agent_config`` (``temper agent config`` prints it): parsing what it returns gives
the same ``AgentConfig`` back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from temper.annotations import PublishPolicy
from temper.cpuset import format_cpulist, parse_cpulist
from temper.plan import PlanConfig
from temper.tiers import Tier

T = TypeVar("T")


class ConfigError(ValueError):
    """Invalid configuration; the message names the file and key."""


def load_document(path: str | Path | None) -> Mapping[str, Any]:
    """Parse a YAML/JSON mapping from ``path``; ``None`` means an empty document."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    return doc


def take(section: Mapping[str, Any], key: str, kind: type[T], default: T, where: str) -> T:
    """``section[key]`` checked to be ``kind`` (ints are accepted for floats)."""
    if key not in section:
        return default
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def reject_unknown(section: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")


def section_of(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a mapping")
    return value


def parse_plan_config(section: Mapping[str, Any], where: str = "planner") -> PlanConfig:
    reject_unknown(section, {"criticalHeadroom", "minSharedCpus", "unfenceableCpus",
                             "starvationGuardMs", "sliceUs", "smtIsolation"}, where)
    slices_raw = take(section, "sliceUs", dict, {}, where)
    slices: dict[Tier, int] = {}
    for label, value in slices_raw.items():
        try:
            tier = Tier.from_label(str(label))
        except ValueError as exc:
            raise ConfigError(f"{where}.sliceUs: {exc}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}.sliceUs.{label}: expected an integer")
        slices[tier] = value
    try:
        return PlanConfig(
            critical_headroom=take(section, "criticalHeadroom", float, 0.10, where),
            min_shared_cpus=take(section, "minSharedCpus", int, 1, where),
            unfenceable_cpus=parse_cpulist(take(section, "unfenceableCpus", str, "", where)),
            starvation_guard_us=take(section, "starvationGuardMs", int, 200, where) * 1000,
            slice_us=slices,
            smt_isolation=take(section, "smtIsolation", bool, True, where),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_plan_config(path: str | Path | None) -> PlanConfig:
    return parse_plan_config(section_of(load_document(path), "planner"))


@dataclass(frozen=True)
class AgentConfig:
    """The node agent's settings (``agent:`` section of the ConfigMap)."""

    plan: PlanConfig = field(default_factory=PlanConfig)
    publish: PublishPolicy = field(default_factory=PublishPolicy)
    observe_only: bool = False
    scan_interval_s: float = 2.0
    """How often cgroup usage and pressure are sampled."""
    thread_scan_interval_s: float = 30.0
    """How often every pod's threads are read from procfs (at most once per scan): ~15 us per
    thread, so 1,000 threads every 2 s scan cost 1.9 % of a core (benchmarks/agent_overhead.py)."""
    safe_mode_poll_s: float = 2.0
    """Safe mode must take effect within 5 s; the ConfigMap is polled this often."""
    listen: str = "0.0.0.0:9470"
    cgroup_root: str = "/sys/fs/cgroup"
    bpf_object: str = "/usr/lib/temper/temper.bpf.o"
    pin_dir: str = "/sys/fs/bpf/temper"


def parse_agent_config(doc: Mapping[str, Any]) -> AgentConfig:
    reject_unknown(doc, {"planner", "agent", "webhook", "extender"}, "config")
    agent = section_of(doc, "agent")
    where = "agent"
    reject_unknown(agent, {"observeOnly", "scanIntervalSeconds", "threadScanIntervalSeconds", "safeModePollSeconds",
                           "listen", "cgroupRoot", "bpfObject", "pinDir", "publish"}, where)
    publish = section_of(agent, "publish")
    reject_unknown(publish, {"minChangeMilli", "minChangePressurePct", "maxAgeSeconds"}, "agent.publish")
    defaults = AgentConfig()
    config = AgentConfig(
        plan=parse_plan_config(section_of(doc, "planner")),
        publish=PublishPolicy(
            min_change_milli=take(publish, "minChangeMilli", int, 100, "agent.publish"),
            min_change_pressure_pct=take(publish, "minChangePressurePct", float, 5.0, "agent.publish"),
            max_age_s=take(publish, "maxAgeSeconds", int, 60, "agent.publish"),
        ),
        observe_only=take(agent, "observeOnly", bool, False, where),
        scan_interval_s=take(agent, "scanIntervalSeconds", float, defaults.scan_interval_s, where),
        thread_scan_interval_s=take(agent, "threadScanIntervalSeconds", float, defaults.thread_scan_interval_s,
                                    where),
        safe_mode_poll_s=take(agent, "safeModePollSeconds", float, defaults.safe_mode_poll_s, where),
        listen=take(agent, "listen", str, defaults.listen, where),
        cgroup_root=take(agent, "cgroupRoot", str, defaults.cgroup_root, where),
        bpf_object=take(agent, "bpfObject", str, defaults.bpf_object, where),
        pin_dir=take(agent, "pinDir", str, defaults.pin_dir, where),
    )
    if not 0.1 <= config.scan_interval_s <= 60:
        raise ConfigError("agent.scanIntervalSeconds must be within 0.1..60")
    if not 0.1 <= config.thread_scan_interval_s <= 3600:
        raise ConfigError("agent.threadScanIntervalSeconds must be within 0.1..3600")
    if not 0.1 <= config.safe_mode_poll_s <= 5:
        raise ConfigError("agent.safeModePollSeconds must be within 0.1..5 (safe mode within 5 s)")
    if not 1 <= config.publish.max_age_s <= 3600 or config.publish.min_change_milli < 0:
        raise ConfigError("agent.publish: maxAgeSeconds must be 1..3600, minChangeMilli >= 0")
    return config


def load_agent_config(path: str | Path | None) -> AgentConfig:
    return parse_agent_config(load_document(path))


def agent_config_document(config: AgentConfig) -> dict[str, Any]:
    """The config file (``planner:`` and ``agent:`` sections) that loads as ``config``."""
    plan = config.plan
    return {
        "planner": {
            "criticalHeadroom": plan.critical_headroom,
            "minSharedCpus": plan.min_shared_cpus,
            "unfenceableCpus": format_cpulist(plan.unfenceable_cpus),
            "starvationGuardMs": plan.starvation_guard_us // 1000,
            "sliceUs": {tier.label: value for tier, value in sorted(plan.slice_us.items())},
        },
        "agent": {
            "observeOnly": config.observe_only,
            "scanIntervalSeconds": config.scan_interval_s,
            "threadScanIntervalSeconds": config.thread_scan_interval_s,
            "safeModePollSeconds": config.safe_mode_poll_s,
            "listen": config.listen,
            "cgroupRoot": config.cgroup_root,
            "bpfObject": config.bpf_object,
            "pinDir": config.pin_dir,
            "publish": {
                "minChangeMilli": config.publish.min_change_milli,
                "minChangePressurePct": config.publish.min_change_pressure_pct,
                "maxAgeSeconds": config.publish.max_age_s,
            },
        },
    }
