"""Per-pod performance from the node agent's /observe: used vs request vs limit, throttling,
pressure, the layer — and null (never 0) for what the agent did not report. Over HTTP against
the fake API server and fake agents (no kube-apiserver here)."""

from __future__ import annotations

from console import models as m
from console.agents import Observation, parse_observation
from console.explorer_api import AGENTS
from console.performance import pod_performance
from tests.console.harness import running_console

PERF = "/api/v1/clusters/local/namespaces/apps/pods/{name}/performance"


def summary(uid: str = "u1") -> m.PodSummary:
    return m.PodSummary(namespace="a", name="p", uid=uid, node="n", phase="Running", tier="high", profile=None,
                        request_m=500, limit_m=1000, original_request_m=None, owner=None, containers=["app"])


def test_absent_measurements_are_null_and_requests_come_from_the_api() -> None:
    document = (b'{"node": "n", "pods": [{"uid": "u1", "used_m": null, "pressure_pct": 2.5, "throttling": null}],'
                b' "plan": {"tiers": [{"tier": "high", "kind": "grouped", "cpus": "0-5"}],'
                b' "members": [{"uid": "u1", "tier": "high"}]}, "new_field": {"ignored": true}}')
    observed = parse_observation(document)
    perf = pod_performance(summary(), observed, 10.0)
    assert (perf.used_m, perf.throttled, perf.runqueue_wait_p99_us, perf.threads) == (None, None, None, None)
    assert (perf.request_m, perf.limit_m, perf.pressure_pct, perf.layer) == (500, 1000, 2.5, "high/grouped")
    unseen = pod_performance(summary("other"), observed, 10.0)
    assert unseen.layer is None and unseen.pressure_pct is None and unseen.agent is not None
    assert unseen.agent.reachable and unseen.agent.error
    down = pod_performance(summary(), m.AgentStatus(reachable=False, error="x"), 10.0)
    assert down.used_m is None and down.pressure_pct is None and down.request_m == 500
    assert Observation().pods == [] and pod_performance(summary(), Observation(), 1.0).layer is None


def test_the_agents_runqueue_wait_p99_reaches_the_pod_view() -> None:
    """/observe ``pods[].runqueue_wait`` (the scheduler's BPF histograms, nodeagent.waitmetrics)."""
    document = (b'{"pods": [{"uid": "u1", "runqueue_wait": {"count": 40, "sum_seconds": 0.01, "p50_us": 4.096,'
                b' "p99_us": 524.288, "overflow": false}}, {"uid": "u2", "runqueue_wait": {"count": 0,'
                b' "p99_us": null}}, {"uid": "u3", "runqueue_wait": null}]}')
    observed = parse_observation(document)
    assert pod_performance(summary("u1"), observed, 1.0).runqueue_wait_p99_us == 524.288
    assert pod_performance(summary("u2"), observed, 1.0).runqueue_wait_p99_us is None  # nothing recorded
    assert pod_performance(summary("u3"), observed, 1.0).runqueue_wait_p99_us is None


async def test_performance_over_http_with_the_agent_up_then_down() -> None:
    async with running_console() as r:
        up = await r.get_json(PERF.format(name="web-2-aaaaa"))
        assert isinstance(up, dict)
        assert (up["used_m"], up["request_m"], up["limit_m"], up["layer"]) == (33, 100, 200, "critical/confined")
        assert up["throttled"] == {"nr_periods": 1000, "nr_throttled": 25, "throttled_seconds": 0.75}
        assert up["runqueue_wait_p99_us"] is None and up["agent"]["reachable"] is True
        r.app[AGENTS].ttl_s = 0
        r.agents.down.add("node-00000")
        down = await r.get_json(PERF.format(name="web-2-aaaaa"))
        assert isinstance(down, dict)
        assert down["used_m"] is None and down["throttled"] is None and down["request_m"] == 100
        assert down["agent"]["reachable"] is False
        await r.get_json(PERF.format(name="nope"), status=404)
