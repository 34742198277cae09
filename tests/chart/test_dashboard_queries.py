"""Every query of every generated Grafana dashboard is valid PromQL and names only metric
families the components register.

Parsing uses the real ``promtool``: the queries, with Grafana's variables replaced by concrete
values, become recording rules in a temporary file and ``promtool check rules`` must accept it.
Families are found by removing what is not a series name (quoted strings, label matchers,
``by (...)`` groupings, range selectors, functions, aggregations and keywords); whatever
identifier is left, minus ``_bucket``/``_sum``/``_count``/``_total``, must be a registered family
(``registered_metrics`` in ``test_generated_assets.py`` reads them from the components' source).
An identifier the filter does not know fails the test rather than being skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import CHART
from tests.chart.test_generated_assets import METRIC_SOURCES, registered_metrics

DASHBOARDS = ("temper-fleet.json", "temper-node.json", "temper-pod.json")
PROMTOOL = Path("/usr/bin/promtool")
SUBSTITUTIONS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$node": "node-a",
                 "$namespace": "shop", "$pod": "cart-7d9f"}
"""Grafana's variables, as a dashboard user might resolve them."""
PROMQL_WORDS = frozenset({
    # aggregations and their modifiers
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile", "stddev", "stdvar", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    # functions the dashboards use (extend when a panel needs another)
    "rate", "irate", "increase", "histogram_quantile", "clamp_min", "clamp_max", "abs", "vector", "scalar",
})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def concrete(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr}"
    return expr


def panel_queries(name: str) -> list[str]:
    dashboard = json.loads((CHART / "dashboards" / name).read_text())
    return [concrete(target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def variable_queries(name: str) -> list[str]:
    """The series selectors inside the template variables' ``label_values(<selector>, label)``."""
    dashboard = json.loads((CHART / "dashboards" / name).read_text())
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+), *[a-z_]+\)", variable["definition"])
            assert match, variable["definition"]
            found.append(concrete(match.group(1)))
    return found


def all_queries() -> list[str]:
    return [q for name in DASHBOARDS for q in (*panel_queries(name), *variable_queries(name))]


def registered_families() -> set[str]:
    return {name for paths in METRIC_SOURCES.values() for path in paths for name in registered_metrics(path)}


def referenced_families(expr: str) -> set[str]:
    """Series names ``expr`` selects, with the exposition suffixes stripped."""
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", " ", text)
    families = set()
    for identifier in _IDENTIFIER.findall(text):
        if identifier in PROMQL_WORDS:
            continue
        for suffix in _SUFFIXES:
            if identifier.endswith(suffix):
                identifier = identifier.removesuffix(suffix)
                break
        families.add(identifier)
    return families


def unregistered(queries: list[str], registered: set[str]) -> dict[str, set[str]]:
    """query -> families it names that are not registered; empty when every family is known.

    A ``_total``/``_bucket`` series is registered under its family name, and a counter family is
    registered without ``_total``, so both sides are compared suffix-free."""
    known = {name.removesuffix("_total") for name in registered}
    return {q: missing for q in queries if (missing := referenced_families(q) - known)}


def promtool_check(queries: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": f"temper:dashboard_query:{index}",
                                                           "expr": query}
                                                          for index, query in enumerate(queries)]}]}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    return subprocess.run([str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)


needs_promtool = pytest.mark.skipif(not PROMTOOL.exists() and shutil.which("promtool") is None,
                                    reason="promtool is not installed")


def test_every_dashboard_has_queries() -> None:
    for name in DASHBOARDS:
        assert len(panel_queries(name)) >= 5, name


@needs_promtool
def test_every_panel_query_parses_as_promql(tmp_path: Path) -> None:
    queries = all_queries()
    result = promtool_check(queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout, result.stdout


@needs_promtool
def test_promtool_rejects_a_broken_query(tmp_path: Path) -> None:
    result = promtool_check(["sum by (tier) (rate(temper_agent_scans_total[5m])"], tmp_path)
    assert result.returncode != 0, result.stdout


def test_every_query_names_only_registered_families() -> None:
    assert unregistered(all_queries(), registered_families()) == {}


def test_a_misspelt_family_is_caught() -> None:
    registered = registered_families()
    misspelt = 'sum by (tier) (rate(temper_agent_scheduler_event_total{node="node-a"}[5m]))'
    assert unregistered([misspelt], registered) == {misspelt: {"temper_agent_scheduler_event"}}
    histogram = "histogram_quantile(0.99, sum by (le) (rate(temper_pod_runqueue_wait_bucket[5m])))"
    assert unregistered([histogram], registered) == {histogram: {"temper_pod_runqueue_wait"}}


def test_label_names_and_values_are_not_taken_for_families() -> None:
    query = ('topk(10, sum by (thread, le) (rate(temper_pod_thread_cpu_seconds_total'
             '{namespace="temper_fake_total", pod=~"a.*"}[5m]))) / on (thread) group_left vector(2)')
    assert referenced_families(query) == {"temper_pod_thread_cpu_seconds"}


def test_the_node_dashboard_selects_its_node_and_the_pod_dashboard_its_pod() -> None:
    for query in panel_queries("temper-node.json"):
        assert 'node="node-a"' in query, query
    for query in panel_queries("temper-pod.json"):
        assert 'namespace="shop", pod="cart-7d9f"' in query, query


def test_the_pod_dashboard_has_a_runqueue_heatmap_and_a_thread_table() -> None:
    dashboard = json.loads((CHART / "dashboards" / "temper-pod.json").read_text())
    by_type: dict[str, list[str]] = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            by_type.setdefault(panel["type"], []).append(target["expr"])
    (heatmap,) = by_type["heatmap"]
    assert "temper_pod_runqueue_wait_seconds_bucket" in heatmap and "sum by (le)" in heatmap
    (table,) = by_type["table"]
    assert table.startswith("topk(") and "temper_pod_thread_cpu_seconds_total" in table


def test_panel_ids_are_unique_and_panels_fit_the_grid() -> None:
    for name in DASHBOARDS:
        panels = json.loads((CHART / "dashboards" / name).read_text())["panels"]
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), name
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (name, panel["title"])
