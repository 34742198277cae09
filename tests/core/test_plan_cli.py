"""`temper plan` on kubectl JSON: table, JSON and scx_layered outputs, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from temper.plan import plan
from temper.pods import decode_pod
from temper.render import RenderError, render_scx_layered
from temper.topology import NodeTopology
from tests.core.factories import container, pod

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
        "status": {"capacity": {"cpu": "8"}, "allocatable": {"cpu": "7800m"}}}
PODS = {"apiVersion": "v1", "kind": "List", "items": [
    pod("api", priority_class="infera-critical", containers=[container(cpu_request="1500m")]),
    pod("web", priority_class="infera-high", containers=[container(cpu_request="1")]),
    pod("batch", priority_class="infera-background", containers=[container(cpu_request="2")]),
    pod("elsewhere", node="node-b", priority_class="infera-critical", containers=[container(cpu_request="4")]),
    pod("broken", containers=[container(cpu_request="many")]),
]}


def run_plan(tmp_path: Path, *extra: str, pods: Any = PODS, node: Any = NODE) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pods.json").write_text(json.dumps(pods) if not isinstance(pods, str) else pods)
    (tmp_path / "node.json").write_text(json.dumps(node))
    return subprocess.run([sys.executable, "-m", "temper.cli", "plan", "--pods", str(tmp_path / "pods.json"),
                           "--node", str(tmp_path / "node.json"), *extra], capture_output=True, text=True,
                          check=False)


def test_json_plan_fences_for_this_nodes_critical_pods_only(tmp_path: Path) -> None:
    result = run_plan(tmp_path, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["fenced"] == "6-7"  # 1500m x 1.1 -> 2 CPUs; the other node's pod is ignored
    assert {m["pod"] for m in doc["members"]} == {"default/api", "default/web", "default/batch"}
    assert "broken" in result.stderr and "skipped" in result.stderr


def test_table_names_every_tier(tmp_path: Path) -> None:
    result = run_plan(tmp_path)
    assert result.returncode == 0
    for label in ("critical", "high", "normal", "low", "background"):
        assert label in result.stdout


def test_scx_layered_config_has_the_documented_shape(tmp_path: Path) -> None:
    result = run_plan(tmp_path, "--format", "scx-layered")
    assert result.returncode == 0, result.stderr
    layers = json.loads(result.stdout)
    assert [layer["name"] for layer in layers] == ["critical", "high", "background", "host"]
    critical = layers[0]["kind"]["Confined"]
    assert critical["cpus_range"] == [2, 2] and critical["protected"] is True
    assert "Grouped" in layers[1]["kind"] and "Open" in layers[2]["kind"]
    assert layers[-1]["matches"] == [[]], "the catch-all layer comes last"
    prefix = layers[0]["matches"][0][0]["CgroupPrefix"]
    assert prefix.startswith("kubepods.slice/") and prefix.endswith(".slice/") and not prefix.startswith("/")


@pytest.mark.parametrize(("pods", "node", "message"), [
    ("{not json", NODE, "is not JSON"),
    (PODS, {"status": {}}, "capacity.cpu"),
    ({"items": "nope"}, NODE, "pod List"),
])
def test_bad_input_is_a_clear_error(tmp_path: Path, pods: Any, node: Any, message: str) -> None:
    result = run_plan(tmp_path, pods=pods, node=node)
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""


def test_scx_layered_refuses_more_pods_than_match_groups() -> None:
    pods = [decode_pod(pod(f"p{i}", uid=f"00000000-0000-0000-0000-{i:012d}", priority_class="infera-high"))
            for i in range(40)]
    result = plan(NodeTopology.uniform(4), pods)
    with pytest.raises(RenderError, match="32"):
        render_scx_layered(result, {p.uid: f"kubepods.slice/p{p.uid}.slice" for p in pods})
