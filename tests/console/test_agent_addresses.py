"""``console.agents``: the one reading of ``--agent-url`` and the one locator that the explorer,
trace capture and the savings usage sampler share (pure; no agents, no API server)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from console.agents import NO_ADDRESS, NO_AGENTS, VIA_INTERNAL_IP, VIA_NAME, VIA_POD, agent_base, internal_ip, locate

NAMES = st.text(string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=40)
IPS = st.ip_addresses(v=4).map(str)


@given(NAMES, IPS)
def test_both_placeholders_are_filled_and_no_trailing_slash_remains(node: str, ip: str) -> None:
    assert agent_base("http://{ip}:9100/{node}/", node, ip) == f"http://{ip}:9100/{node}"
    assert agent_base("http://{node}.agents:9100", node, "") == f"http://{node}.agents:9100"


@given(NAMES)
def test_a_template_that_needs_an_ip_gives_no_url_for_a_node_without_one(node: str) -> None:
    assert agent_base("http://{ip}:9100", node, "") is None


def test_the_internal_ip_is_the_first_internalip_address() -> None:
    node = {"status": {"addresses": [{"type": "Hostname", "address": "n1"}, "junk",
                                     {"type": "InternalIP", "address": "10.0.0.7"},
                                     {"type": "InternalIP", "address": "10.0.0.8"}]}}
    assert internal_ip(node) == "10.0.0.7"
    assert internal_ip({}) == "" == internal_ip({"status": {"addresses": None}})


MAYBE_IP = st.none() | st.just("") | IPS


@given(NAMES, MAYBE_IP, MAYBE_IP)
def test_the_agent_pod_ip_wins_and_the_internal_ip_is_only_the_fallback(node: str, pod: str | None,
                                                                          node_ip: str | None) -> None:
    where = locate("http://{ip}:9470/", node, pod, node_ip)
    if pod:
        assert (where.base, where.via) == (f"http://{pod}:9470", VIA_POD)
    elif node_ip:
        assert (where.base, where.via) == (f"http://{node_ip}:9470", VIA_INTERNAL_IP)
        assert "no agent pod" in where.via
    else:
        assert where.base is None and where.problem == NO_ADDRESS


@given(NAMES, MAYBE_IP, MAYBE_IP)
def test_a_name_template_ignores_addresses_and_no_template_means_no_agents(node: str, pod: str | None,
                                                                           node_ip: str | None) -> None:
    assert locate("http://{node}.agents:9470", node, pod, node_ip).base == f"http://{node}.agents:9470"
    assert locate("http://{node}.agents:9470", node, pod, node_ip).via == VIA_NAME
    unset = locate("", node, pod, node_ip)
    assert unset.base is None and unset.problem == NO_AGENTS
