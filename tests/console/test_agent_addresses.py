"""``console.agents``: the one reading of ``--agent-url`` that trace capture and the savings usage
sampler share (pure; no agents, no API server), and the sampler's targets from cached nodes."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from console.agents import agent_base, internal_ip
from console.app import node_summary
from console.savings_api import agent_targets
from tests.console.fakeapi import make_node

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


def test_the_sampler_addresses_the_cached_nodes_the_way_trace_capture_does() -> None:
    with_ip = make_node("node-a", 0)
    with_ip["status"]["addresses"] = [{"type": "InternalIP", "address": "10.1.2.3"}]
    without = make_node("node-b", 1)
    without["status"].pop("addresses", None)
    nodes = [node_summary(with_ip, 0), node_summary(without, 0), object()]
    assert agent_targets(nodes, "http://{ip}:9100") == [("node-a", "http://10.1.2.3:9100")]
    assert agent_targets(nodes, "http://{node}.agents:9100/") == [
        ("node-a", "http://node-a.agents:9100"), ("node-b", "http://node-b.agents:9100")]
