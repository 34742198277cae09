"""Generated chart files match their Python sources: the PriorityClasses equal
``temper.tiers.PRIORITY_CLASSES``, and the dashboard's metric list equals the metric families
the components register in code (found by reading their source, as a reviewer would grep)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from temper.tiers import PRIORITY_CLASSES
from tests.chart.conftest import CHART, ROOT, find, render

SCRIPT = ROOT / "scripts" / "gen-chart-assets.py"
METRIC_SOURCES = {
    "agent": (ROOT / "nodeagent" / "server.py", ROOT / "nodeagent" / "waitmetrics.py"),
    "extender": (ROOT / "extender" / "metrics.py",),
    "webhook": (ROOT / "webhook" / "metrics.py",),
}
KIND_OF = {"Counter": "counter", "CounterMetricFamily": "counter", "Gauge": "gauge",
           "GaugeMetricFamily": "gauge", "Histogram": "histogram", "HistogramMetricFamily": "histogram",
           "Summary": "summary", "SummaryMetricFamily": "summary"}
_REGISTRATION = re.compile(r"\b(" + "|".join(KIND_OF) + r')\(\s*f?"([^"]+)"')
_PREFIX = re.compile(r'\bprefix\s*=\s*"([a-z_]+)"')


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_chart_assets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def registered_metrics(path: Path) -> dict[str, str]:
    """metric family name -> kind, from the constructor calls in one source file."""
    text = path.read_text()
    prefixes = _PREFIX.findall(text)
    found: dict[str, str] = {}
    for constructor, name in _REGISTRATION.findall(text):
        if "{prefix}" in name:
            assert len(prefixes) == 1, f"{path}: cannot resolve {{prefix}}"
            name = name.replace("{prefix}", prefixes[0])
        found[name] = KIND_OF[constructor]
    return found


def test_generated_files_are_up_to_date() -> None:
    assert load_script().main(["--check"]) == 0, "run: python3 scripts/gen-chart-assets.py"


@pytest.mark.tools
def test_rendered_priority_classes_equal_the_python_definitions(helm: Path) -> None:
    docs = render("defaults")
    for spec in PRIORITY_CLASSES:
        rendered = find(docs, "PriorityClass", spec.name)
        assert rendered["value"] == spec.value
        assert rendered["preemptionPolicy"] == spec.preemption_policy
        assert rendered["description"] == spec.description
        assert rendered["globalDefault"] is False
        assert rendered["metadata"]["labels"]["infera.io/tier"] == spec.tier.label
    assert len([d for d in docs if d["kind"] == "PriorityClass"]) == len(PRIORITY_CLASSES) == 5


@pytest.mark.tools
def test_priority_classes_survive_uninstall_unless_asked(helm: Path) -> None:
    kept = find(render("defaults"), "PriorityClass", "infera-critical")
    assert kept["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    dropped = find(render("defaults", extra=("priorityClasses.keepOnUninstall=false",)),
                   "PriorityClass", "infera-critical")
    assert "annotations" not in dropped["metadata"]


@pytest.mark.parametrize("component", sorted(METRIC_SOURCES))
def test_dashboard_metric_list_equals_what_the_component_registers(component: str) -> None:
    in_code = {name: kind for path in METRIC_SOURCES[component] for name, kind in registered_metrics(path).items()}
    assert in_code, f"no metrics found in {METRIC_SOURCES[component]}"
    in_list = {m.name: m.kind for m in load_script().component_metrics(component)}
    assert in_list == in_code


def test_every_dashboard_query_uses_the_exposed_series_names() -> None:
    dashboard = json.loads((CHART / "dashboards" / "temper-fleet.json").read_text())
    script = load_script()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    extra = sum(len(panel.queries) for _, panels in script.FLEET_NODE_SECTIONS for panel in panels)
    assert len(exprs) == len(script.METRICS) + extra
    for metric, expr in zip(script.METRICS, exprs[:len(script.METRICS)], strict=True):
        suffix = {"counter": "_total[", "histogram": "_bucket[", "gauge": ")"}[metric.kind]
        assert metric.name + suffix in expr, expr
