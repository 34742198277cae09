"""``temper plan``: the planner on kubectl JSON, for operators and for the lab.

    temper plan --pods PODS.json --node NODE.json [--format table|json|scx-layered]

PODS.json is ``kubectl get pods -o json`` output (pods not on the node are ignored when the
node has a name), NODE.json ``kubectl get node NAME -o json``. Malformed pods are reported on
stderr and left out; malformed files are an error (exit 2) with the reason.
For ``scx-layered``, cgroup paths are derived the way kubelet's systemd driver lays them out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from temper.cgroupnames import pod_cgroup_path
from temper.config import ConfigError, load_plan_config
from temper.plan import plan
from temper.pods import PodError, decode_pod_list, pod_list_items
from temper.profiles.builtins import builtin_profiles
from temper.profiles.select import Selection, pod_profile_inputs, select_profile
from temper.render import RenderError, plan_to_dict, render_profiles, render_scx_layered, render_table
from temper.topology import TopologyError, topology_from_node


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except OSError as exc:
        raise SystemExit(f"temper plan: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"temper plan: {path} is not JSON: {exc}") from None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="temper plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", required=True, help="kubectl get pods -o json output ('-' for stdin)")
    parser.add_argument("--node", required=True, help="kubectl get node NAME -o json output")
    parser.add_argument("--config", help="agent configuration file (YAML/JSON); planner section used")
    parser.add_argument("--format", choices=("table", "json", "scx-layered"), default="table")
    args = parser.parse_args(argv)
    node = _read_json(args.node)
    try:
        topology = topology_from_node(node)
        config = load_plan_config(args.config)
        document = _read_json(args.pods)
        decoded = decode_pod_list(document)
        raw_by_uid = {item.get("metadata", {}).get("uid"): item for item in pod_list_items(document)}
    except (TopologyError, ConfigError, PodError) as exc:
        print(f"temper plan: {exc}", file=sys.stderr)
        return 2
    for error in decoded.errors:
        print(f"temper plan: skipped {error}", file=sys.stderr)
    node_name = node.get("metadata", {}).get("name", "") if isinstance(node, dict) else ""
    pods = [p for p in decoded.pods if not node_name or not p.node_name or p.node_name == node_name]
    result = plan(topology, pods, config)
    profiles = builtin_profiles()
    selections: dict[str, Selection] = {}
    for pod in pods:
        annotation, images = pod_profile_inputs(raw_by_uid.get(pod.uid, {}))
        selections[pod.key] = select_profile(annotation, images, profiles)
    if args.format == "table":
        print(render_table(result))
        print(render_profiles(selections))
    elif args.format == "json":
        print(json.dumps({**plan_to_dict(result), "profiles": {
            key: {"profile": s.profile, "source": s.source, "reason": s.reason}
            for key, s in sorted(selections.items())}}, indent=2))
    else:
        paths = {p.uid: pod_cgroup_path(p.uid, p.qos) for p in pods}
        try:
            print(json.dumps(render_scx_layered(result, paths), indent=2))
        except RenderError as exc:
            print(f"temper plan: {exc}", file=sys.stderr)
            return 2
    return 0
