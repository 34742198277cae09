"""One place that assembles an agent over generated trees for the nodeagent tests."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeagent.agent import Agent, AgentState
from nodeagent.enforcement import Enforcer
from nodeagent.podsource import FilePodSource
from nodeagent.publish import Publisher
from nodeagent.sysfs import read_topology
from temper.config import AgentConfig
from temper.pods import QosClass
from tests.core.factories import container, pod
from tests.nodeagent.trees import write_pod_cgroup, write_sysfs


@dataclass
class Node:
    root: Path
    pods_file: Path
    cgroup_root: Path
    sysfs_root: Path
    pods: list[dict[str, Any]]

    def write_pods(self) -> None:
        self.pods_file.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": self.pods}))
        stat = self.pods_file.stat()
        # Bump mtime explicitly: two writes within one mtime tick must still be seen.
        os.utime(self.pods_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    def add_pod(self, name: str, tier: str = "normal", cpu: str = "500m", cgroup: bool = True,
                usage_usec: int = 0) -> dict[str, Any]:
        obj = pod(name, uid=str(uuid.uuid4()), priority_class=f"infera-{tier}",
                  containers=[container(cpu_request=cpu)])
        self.pods.append(obj)
        if cgroup:
            write_pod_cgroup(self.cgroup_root, obj["metadata"]["uid"], QosClass.BURSTABLE, usage_usec=usage_usec)
        self.write_pods()
        return obj


def make_node(tmp_path: Path, nr_cpus: int = 8) -> Node:
    node = Node(tmp_path, tmp_path / "pods.json", tmp_path / "cgroup", tmp_path / "root", [])
    node.cgroup_root.mkdir()
    write_sysfs(node.sysfs_root, nr_cpus=nr_cpus, threads_per_core=2)
    node.write_pods()
    return node


def make_agent(node: Node, enforcer: Enforcer, observe_only: bool = False,
               publisher: Publisher | None = None, config: AgentConfig | None = None,
               proc_root: Path | None = None, read_threads: bool = True) -> Agent:
    source = FilePodSource(node.pods_file, "node-a", poll_s=0.05)
    source.refresh()
    state = AgentState(node_name="node-a", topology=read_topology(node.sysfs_root), observe_only=observe_only)
    # thread_scan_interval_s 0: threads are read at every step (tests step by hand).
    config = config or AgentConfig(scan_interval_s=0.1, thread_scan_interval_s=0.0)
    return Agent(config, state, source, enforcer, str(node.cgroup_root),
                 publisher, proc_root=str(proc_root or node.sysfs_root / "proc"), read_threads=read_threads)


def refresh(agent: Agent) -> None:
    source = agent.source
    assert isinstance(source, FilePodSource)
    source.refresh()
