#!/usr/bin/env python3
"""Generate the chart files that mirror Python definitions, so they cannot drift.

Why this script exists: the five PriorityClasses are defined once, in
``temper.tiers.PRIORITY_CLASSES``, and the Grafana dashboards must show the metrics the
components really export. The chart files are written from Python here; ``--check`` (run by
``tests/chart``) fails when a committed file differs from what this script would write.

    python3 scripts/gen-chart-assets.py          # rewrite the files
    python3 scripts/gen-chart-assets.py --check  # exit 1 if they are stale

Outputs:
- ``charts/infera/templates/priorityclasses.yaml`` from ``PRIORITY_CLASSES``;
- ``charts/infera/dashboards/temper-fleet.json`` from ``METRICS`` below, the list of metric
  families the agent (``nodeagent/server.py``: ``temper_agent_*`` and the per-pod
  ``temper_pod_*``), the extender (``extender/metrics.py``) and the webhook
  (``webhook/metrics.py``) register: one panel per family, summed over the fleet (this was
  the single ``temper.json`` dashboard before the node and pod views existed);
  ``tests/chart/test_generated_assets.py`` greps those files and fails when this list and the
  code disagree;
- ``charts/infera/dashboards/temper-node.json``: one node (template variable ``node``, the
  label the agent's ServiceMonitor sets from ``__meta_kubernetes_pod_node_name``): tiers
  requested/used, fence, enforcement state, scheduler events, throttling of its limited pods,
  runqueue wait p99 per tier, agent health;
- ``charts/infera/dashboards/temper-pod.json``: one pod (``namespace`` and ``pod``): CPU (sum
  of its thread series), throttling, a runqueue-wait heatmap and a table of its top threads.

Every query of every panel is checked by ``tests/chart/test_dashboard_queries.py``: it parses
as PromQL (``promtool check rules``) and names only registered families. The placement
linter's metrics do not exist yet, so no panel shows them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temper.tiers import PRIORITY_CLASSES  # noqa: E402  (after the path set-up above)

CHART = ROOT / "charts" / "infera"
PRIORITY_CLASSES_FILE = CHART / "templates" / "priorityclasses.yaml"
DASHBOARDS = CHART / "dashboards"
DASHBOARD_FILE = DASHBOARDS / "temper-fleet.json"
NODE_DASHBOARD_FILE = DASHBOARDS / "temper-node.json"
POD_DASHBOARD_FILE = DASHBOARDS / "temper-pod.json"


@dataclass(frozen=True)
class MetricSpec:
    """One metric family as registered in code (counters without the ``_total`` suffix)."""

    name: str
    kind: str  # counter | gauge | histogram
    title: str
    by: tuple[str, ...] = ()
    unit: str = "short"


METRICS: tuple[MetricSpec, ...] = (
    # node agent (nodeagent/server.py, AgentCollector)
    MetricSpec("temper_agent_enforcement_state", "gauge", "Nodes per enforcement state", ("state",)),
    MetricSpec("temper_agent_scheduler_attached", "gauge", "Nodes with the BPF scheduler attached"),
    MetricSpec("temper_agent_scheduler_attaches", "counter", "Scheduler attaches per second"),
    MetricSpec("temper_agent_pods", "gauge", "Pods per tier", ("tier",)),
    MetricSpec("temper_agent_requested_cpus", "gauge", "CPU requested per tier (cores)", ("tier",)),
    MetricSpec("temper_agent_used_cpus", "gauge", "CPU used per tier (cores)", ("tier",)),
    MetricSpec("temper_agent_online_cpus", "gauge", "Online CPUs"),
    MetricSpec("temper_agent_fenced_cpus", "gauge", "CPUs fenced for Critical"),
    MetricSpec("temper_agent_plans_computed", "counter", "Layer plans computed per second"),
    MetricSpec("temper_agent_loop_errors", "counter", "Control-loop iterations that raised, per second"),
    MetricSpec("temper_agent_plan_applies", "counter", "Plans applied per second"),
    MetricSpec("temper_agent_plan_apply_failures", "counter", "Plan applies refused per second"),
    MetricSpec("temper_agent_skipped_pods", "gauge", "Pods skipped, by reason", ("reason",)),
    MetricSpec("temper_agent_scheduler_events", "counter", "Scheduler events per second", ("tier", "counter")),
    MetricSpec("temper_agent_api_errors", "counter", "Agent API errors per second"),
    MetricSpec("temper_agent_scan_duration_seconds", "gauge", "Slowest loop iteration (s)", unit="s"),
    MetricSpec("temper_agent_scan_seconds", "counter", "Agent loop time (s per s, all nodes)", unit="s"),
    MetricSpec("temper_agent_scans", "counter", "Loop iterations per second"),
    MetricSpec("temper_agent_threads_vanished", "counter", "Threads that exited mid-read, per second"),
    MetricSpec("temper_agent_thread_read_errors", "gauge", "Pods whose threads could not all be read"),
    # per-pod throttle counters, exported by the agent (from the scheduler's temper_bw_stats map)
    MetricSpec("temper_pod_cpu_nr_periods", "counter", "Limited pods: enforcement periods per second",
               ("namespace", "pod")),
    MetricSpec("temper_pod_cpu_nr_throttled", "counter", "Limited pods: throttles per second", ("namespace", "pod")),
    MetricSpec("temper_pod_cpu_throttled_seconds", "counter", "Limited pods: time throttled (s per s)",
               ("namespace", "pod"), unit="s"),
    # runqueue waits (the scheduler's BPF histograms, read every scan; nodeagent/waitmetrics.py)
    MetricSpec("temper_runqueue_wait_seconds", "histogram", "Runqueue wait p99 per tier (s)", ("tier",), unit="s"),
    MetricSpec("temper_pod_runqueue_wait_seconds", "histogram", "Runqueue wait p99 per pod (s)",
               ("namespace", "pod"), unit="s"),
    # per-thread telemetry (procfs, every scan): top K threads per pod plus "other"
    MetricSpec("temper_pod_threads", "gauge", "Threads per pod", ("namespace", "pod")),
    MetricSpec("temper_pod_thread_cpu_seconds", "counter", "Top threads: CPU time (s per s)",
               ("namespace", "pod", "thread"), unit="s"),
    MetricSpec("temper_pod_thread_wait_seconds", "counter", "Top threads: runqueue wait (s per s)",
               ("namespace", "pod", "thread"), unit="s"),
    # scheduler extender (extender/metrics.py)
    MetricSpec("temper_extender_requests", "counter", "Extender requests per second", ("verb", "outcome")),
    MetricSpec("temper_extender_request_duration_seconds", "histogram", "Extender p99 latency", ("verb",),
               unit="s"),
    MetricSpec("temper_extender_neutral_scores", "counter", "Neutral scores per second", ("reason",)),
    MetricSpec("temper_extender_node_cache_nodes", "gauge", "Nodes in the extender cache"),
    MetricSpec("temper_extender_node_watch_errors", "counter", "Node watch errors per second"),
    # overcommit webhook (webhook/metrics.py)
    MetricSpec("temper_webhook_admissions", "counter", "Admissions per second", ("outcome", "tier")),
    MetricSpec("temper_webhook_decisions", "counter", "Decisions per second, by reason", ("reason",)),
    MetricSpec("temper_webhook_mutations", "counter", "Pods scaled per second", ("tier",)),
    MetricSpec("temper_webhook_cpu_request_removed_cores", "counter", "CPU request removed (cores per s)",
               ("tier",)),
    MetricSpec("temper_webhook_admission_duration_seconds", "histogram", "Webhook p99 latency", unit="s"),
)
"""Every metric family the components register, and how the dashboard shows it."""

COMPONENTS = (("agent", "Node agent (L0)"), ("extender", "Scheduler extender (L1)"),
              ("webhook", "Overcommit webhook (L1)"))
COMPONENT_PREFIXES = {"agent": ("temper_agent_", "temper_pod_", "temper_runqueue_"),
                      "extender": ("temper_extender_",), "webhook": ("temper_webhook_",)}
"""Metric name prefixes each component exports (the agent also exports per-pod ``temper_pod_*``
and the per-tier ``temper_runqueue_*``)."""
_MAX_GAUGES = {"temper_agent_scan_duration_seconds"}
"""Gauges where the fleet's worst value matters, not the sum."""


def render_priority_classes() -> str:
    lines = [
        "{{- /* GENERATED by scripts/gen-chart-assets.py from temper.tiers.PRIORITY_CLASSES: do not edit.",
        "Kept on uninstall by default (priorityClasses.keepOnUninstall): pods that name a missing",
        "PriorityClass are rejected at admission, so deleting them would block every rollout of a",
        "workload that uses one. */ -}}",
        "{{- if .Values.priorityClasses.create }}",
    ]
    for index, spec in enumerate(PRIORITY_CLASSES):
        if index:
            lines.append("---")
        lines += [
            "apiVersion: scheduling.k8s.io/v1",
            "kind: PriorityClass",
            "metadata:",
            f"  name: {spec.name}",
            "  labels:",
            "    {{- include \"infera.labels\" . | nindent 4 }}",
            f"    infera.io/tier: {spec.tier.label}",
            "  {{- if .Values.priorityClasses.keepOnUninstall }}",
            "  annotations:",
            "    helm.sh/resource-policy: keep",
            "  {{- end }}",
            f"value: {spec.value}",
            "globalDefault: false",
            f"preemptionPolicy: {spec.preemption_policy}",
            f"description: {json.dumps(spec.description)}",
        ]
    lines.append("{{- end }}")
    return "\n".join(lines) + "\n"


def expression(metric: MetricSpec) -> str:
    by = ", ".join(metric.by)
    if metric.kind == "histogram":
        le_by = ", ".join(("le", *metric.by))
        return f"histogram_quantile(0.99, sum by ({le_by}) (rate({metric.name}_bucket[$__rate_interval])))"
    grouping = f"sum by ({by}) " if by else "sum "
    if metric.kind == "counter":
        return f"{grouping}(rate({metric.name}_total[$__rate_interval]))"
    if metric.name in _MAX_GAUGES:
        return f"max({metric.name})"
    return f"{grouping}({metric.name})"


def legend(metric: MetricSpec) -> str:
    return " ".join("{{" + label + "}}" for label in metric.by) or metric.name.split("_", 2)[2]


def component_metrics(component: str) -> list[MetricSpec]:
    return [m for m in METRICS if m.name.startswith(COMPONENT_PREFIXES[component])]


DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
DATASOURCE_VARIABLE: dict[str, object] = {"name": "datasource", "type": "datasource", "query": "prometheus",
                                          "label": "Data source", "current": {}, "hide": 0}


def dashboard_document(uid: str, title: str, description: str, variables: list[dict[str, object]],
                       panels: list[dict[str, object]]) -> str:
    dashboard = {
        "uid": uid,
        "title": title,
        "description": description + " Generated by scripts/gen-chart-assets.py.",
        "tags": ["temper", "sched_ext"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [DATASOURCE_VARIABLE, *variables]},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"


def query_variable(name: str, label: str, query: str) -> dict[str, object]:
    """A Grafana query variable over one label's values (``label_values``)."""
    return {"name": name, "type": "query", "label": label, "datasource": DATASOURCE,
            "query": {"query": query, "refId": f"{name}-values"}, "definition": query,
            "refresh": 2, "sort": 1, "current": {}, "hide": 0, "includeAll": False, "multi": False}


@dataclass(frozen=True)
class Query:
    """One target of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"  # time_series | table | heatmap


@dataclass(frozen=True)
class Panel:
    """One panel of the node or pod dashboard; ``width`` in Grafana's 24-column grid."""

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | table | heatmap | text
    width: int = 8
    height: int = 8
    description: str = ""


def layout(sections: tuple[tuple[str, tuple[Panel, ...]], ...], first_id: int = 1,
           top: int = 0) -> list[dict[str, object]]:
    """Rows of panels, left to right, wrapping at 24 columns; ids from ``first_id``, rows from ``top``."""
    panels: list[dict[str, object]] = []
    next_id = first_id
    y = top
    for heading, members in sections:
        panels.append({"id": next_id, "type": "row", "title": heading, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        x = 0
        row_height = 0
        for panel in members:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            entry: dict[str, object] = {
                "id": next_id,
                "type": panel.kind,
                "title": panel.title,
                "description": panel.description,
                "datasource": DATASOURCE,
                "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [{"refId": chr(ord("A") + index), "expr": query.expr, "legendFormat": query.legend,
                             "instant": query.instant, "range": not query.instant, "format": query.format,
                             "datasource": DATASOURCE}
                            for index, query in enumerate(panel.queries)],
            }
            if panel.kind == "timeseries":
                entry["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}}
            elif panel.kind == "heatmap":
                entry["options"] = {"calculate": False, "yAxis": {"unit": panel.unit},
                                    "cellGap": 1, "color": {"scheme": "Oranges", "mode": "scheme"}}
            elif panel.kind == "table":
                entry["transformations"] = [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]
                entry["options"] = {"sortBy": [{"displayName": "Value", "desc": True}]}
            panels.append(entry)
            next_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return panels


RATE = "[$__rate_interval]"
NODE = 'node="$node"'
POD = 'namespace="$namespace", pod="$pod"'


def p99(family: str, selector: str, by: str) -> str:
    le_by = ", ".join(("le", *filter(None, (by,))))
    return f"histogram_quantile(0.99, sum by ({le_by}) (rate({family}_bucket{{{selector}}}{RATE})))"


NODE_SECTIONS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    ("Tiers", (
        Panel("CPU requested per tier (cores)",
              (Query(f"sum by (tier) (temper_agent_requested_cpus{{{NODE}}})", "{{tier}}"),)),
        Panel("CPU used per tier (cores)", (Query(f"sum by (tier) (temper_agent_used_cpus{{{NODE}}})", "{{tier}}"),)),
        Panel("Pods per tier", (Query(f"sum by (tier) (temper_agent_pods{{{NODE}}})", "{{tier}}"),)),
    )),
    ("Fence and enforcement", (
        Panel("CPUs: online and fenced for Critical",
              (Query(f"sum(temper_agent_online_cpus{{{NODE}}})", "online"),
               Query(f"sum(temper_agent_fenced_cpus{{{NODE}}})", "fenced"))),
        Panel("Enforcement state", (Query(f"max by (state) (temper_agent_enforcement_state{{{NODE}}}) > 0",
                                          "{{state}}", instant=True),),
              kind="stat", description="The state whose gauge is 1 (temper_agent_enforcement_state)."),
        Panel("BPF scheduler attached", (Query(f"max(temper_agent_scheduler_attached{{{NODE}}})", "attached"),),
              kind="stat"),
        Panel("Scheduler events per second",
              (Query(f"sum by (tier, counter) (rate(temper_agent_scheduler_events_total{{{NODE}}}{RATE}))",
                     "{{tier}} {{counter}}"),), width=12),
        Panel("Scheduler attaches and plan-apply failures per second",
              (Query(f"sum(rate(temper_agent_scheduler_attaches_total{{{NODE}}}{RATE}))", "attaches"),
               Query(f"sum(rate(temper_agent_plan_apply_failures_total{{{NODE}}}{RATE}))", "apply failures")),
              width=12),
    )),
    ("Latency and throttling", (
        Panel("Runqueue wait p99 per tier (s)", (Query(p99("temper_runqueue_wait_seconds", NODE, "tier"), "{{tier}}"),),
              unit="s", width=12),
        Panel("Limited pods: time throttled (s per s)",
              (Query(f"sum by (namespace, pod) (rate(temper_pod_cpu_throttled_seconds_total{{{NODE}}}{RATE})) > 0",
                     "{{namespace}}/{{pod}}"),), unit="s", width=12),
        Panel("Limited pods: share of periods throttled",
              (Query(f"sum by (namespace, pod) (rate(temper_pod_cpu_nr_throttled_total{{{NODE}}}{RATE}))"
                     f" / sum by (namespace, pod) (rate(temper_pod_cpu_nr_periods_total{{{NODE}}}{RATE})) > 0",
                     "{{namespace}}/{{pod}}"),), unit="percentunit", width=12),
        Panel("Pods skipped, by reason",
              (Query(f"sum by (reason) (temper_agent_skipped_pods{{{NODE}}})", "{{reason}}"),), width=12),
    )),
    ("Agent", (
        Panel("Slowest loop iteration (s)", (Query(f"max(temper_agent_scan_duration_seconds{{{NODE}}})", "scan"),),
              unit="s"),
        Panel("Loop and API errors per second",
              (Query(f"sum(rate(temper_agent_loop_errors_total{{{NODE}}}{RATE}))", "loop errors"),
               Query(f"sum(rate(temper_agent_api_errors_total{{{NODE}}}{RATE}))", "API errors"))),
        Panel("Thread telemetry problems",
              (Query(f"sum(temper_agent_thread_read_errors{{{NODE}}})", "pods with read errors"),
               Query(f"sum(rate(temper_agent_threads_vanished_total{{{NODE}}}{RATE}))", "vanished threads/s"))),
    )),
)
"""The node dashboard: every query selects one node through the ServiceMonitor's ``node`` label."""

POD_SECTIONS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    ("CPU and throttling", (
        Panel("CPU (cores, sum of the thread series)",
              (Query(f"sum(rate(temper_pod_thread_cpu_seconds_total{{{POD}}}{RATE}))", "cpu"),),
              description="Top threads plus 'other'; 'other' drops when a thread joins the top K (a counter "
                          "reset to rate()), so this can dip. docs/telemetry.md."),
        Panel("Time throttled (s per s)",
              (Query(f"sum(rate(temper_pod_cpu_throttled_seconds_total{{{POD}}}{RATE}))", "throttled"),),
              unit="s", description="Only pods with a CPU limit enforced by the scheduler have this series."),
        Panel("Threads", (Query(f"sum(temper_pod_threads{{{POD}}})", "threads"),), kind="stat"),
    )),
    ("Runqueue wait", (
        Panel("Runqueue wait (waits per second, by bucket)",
              (Query(f"sum by (le) (rate(temper_pod_runqueue_wait_seconds_bucket{{{POD}}}{RATE}))", "{{le}}",
                     format="heatmap"),), unit="s", kind="heatmap", width=16,
              description="temper_pod_runqueue_wait_seconds: 8 coarse bounds, 16.4 us to 1.07 s."),
        Panel("Runqueue wait p99 (s)", (Query(p99("temper_pod_runqueue_wait_seconds", POD, ""), "p99"),),
              unit="s"),
    )),
    ("Threads", (
        Panel("Top threads by CPU (cores)",
              (Query(f"topk(10, sum by (thread) (rate(temper_pod_thread_cpu_seconds_total{{{POD}}}{RATE})))",
                     instant=True, format="table"),), kind="table", width=12, height=10),
        Panel("Top threads by runqueue wait (s per s)",
              (Query(f"topk(10, sum by (thread) (rate(temper_pod_thread_wait_seconds_total{{{POD}}}{RATE})))",
                     "{{thread}}"),), unit="s", width=12, height=10),
    )),
)
"""The pod dashboard: every query selects one pod by ``namespace`` and ``pod``."""


FLEET_NODE_SECTIONS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    ("Nodes", (
        Panel("Enforcement state per node",
              (Query("max by (node, state) (temper_agent_enforcement_state) > 0", instant=True, format="table"),),
              kind="table", width=12, height=10,
              description="One row per node: the state whose gauge is 1 (node from the agent's ServiceMonitor)."),
        Panel("Nodes without the BPF scheduler attached",
              (Query("count(max by (node) (temper_agent_scheduler_attached) == 0) or vector(0)", "detached"),),
              kind="stat", width=6, height=10),
        Panel("Fleet CPUs: online and fenced",
              (Query("sum(temper_agent_online_cpus)", "online"), Query("sum(temper_agent_fenced_cpus)", "fenced")),
              width=6, height=10),
    )),
)
"""Fleet panels beyond the one-per-family rows: which node is in which state."""


def render_node_dashboard() -> str:
    variables = [query_variable("node", "Node", "label_values(temper_agent_online_cpus, node)")]
    return dashboard_document("temper-node", "Temper node",
                              "One node: tiers, fence, enforcement, scheduler events, throttling, runqueue waits.",
                              variables, layout(NODE_SECTIONS))


def render_pod_dashboard() -> str:
    variables = [query_variable("namespace", "Namespace", "label_values(temper_pod_threads, namespace)"),
                 query_variable("pod", "Pod", 'label_values(temper_pod_threads{namespace="$namespace"}, pod)')]
    return dashboard_document("temper-pod", "Temper pod",
                              "One pod: CPU, throttling, runqueue-wait heatmap, top threads.",
                              variables, layout(POD_SECTIONS))


def render_dashboard() -> str:
    """The fleet dashboard: one panel per registered family, summed over every node."""
    panels: list[dict[str, object]] = []
    next_id = 1
    y = 0
    for component, heading in COMPONENTS:
        panels.append({"id": next_id, "type": "row", "title": heading, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        members = component_metrics(component)
        for index, metric in enumerate(members):
            panels.append({
                "id": next_id,
                "type": "timeseries",
                "title": metric.title,
                "description": f"{metric.name} ({metric.kind})",
                "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": 8, "x": (index % 3) * 8, "y": y + (index // 3) * 8},
                "fieldConfig": {"defaults": {"unit": metric.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [{"refId": "A", "expr": expression(metric), "legendFormat": legend(metric),
                             "datasource": DATASOURCE}],
            })
            next_id += 1
        y += ((len(members) + 2) // 3) * 8
    panels += layout(FLEET_NODE_SECTIONS, first_id=next_id, top=y)
    return dashboard_document("temper-overview", "Temper fleet",
                              "Every metric family Temper's components export, summed over the fleet.",
                              [], panels)


def outputs() -> dict[Path, str]:
    return {PRIORITY_CLASSES_FILE: render_priority_classes(), DASHBOARD_FILE: render_dashboard(),
            NODE_DASHBOARD_FILE: render_node_dashboard(), POD_DASHBOARD_FILE: render_pod_dashboard()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a generated file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale generated files (run scripts/gen-chart-assets.py): " + ", ".join(map(str, stale)),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
