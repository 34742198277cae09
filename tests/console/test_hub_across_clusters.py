"""Hub mode with several planes on loopback: real aiohttp servers, real TLS (a CA minted by the
repo's ``certs`` tooling), each plane fed by its own fake API server (tests/console/fakeapi.py
stands in for a kube-apiserver). The hub lists and proxies its peers, shows an unreachable
one with since-when while the others keep working, carries a dial-in peer's API over the
tunnel, audits a mutation it forwards on both sides, and every peer's plane keeps working once
the hub is gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from console.app import Settings, create_app, token_digest
from console.hub import dial_hub
from console.models import AuditRecord
from console.modes import start_dialer
from console.peers import HubConfig, PeerError, parse_registry
from console.plane import PLANE
from temper.kube.client import ApiClient, ApiConfig
from temper.tls import server_ssl_context
from tests.connections import TlsFiles, mint_localhost
from tests.console.fakeapi import FakeApi, make_node, make_pod

USER = {"Authorization": "Bearer user-secret"}


@dataclass
class Plane:
    name: str
    api: FakeApi
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.api.stop()


async def start_plane(name: str, nodes: int, tls: TlsFiles | None, hub: HubConfig | None = None,
                      pods: int = 0) -> Plane:
    api = FakeApi()
    for i in range(nodes):
        api.put("nodes", make_node(f"{name}-node-{i}", i))
    for i in range(pods):
        api.put("pods", make_pod("ns", f"p-{i:04d}", f"{name}-node-{i % nodes}", i))
    await api.start()
    tokens = {token_digest(b"console", "user-secret"): ("user", "operator"),
              token_digest(b"console", f"{name}-peer-token"): ("hub", "viewer"),
              token_digest(b"console", f"{name}-ops-token"): ("hub-ops", "operator")}
    app = create_app(ApiClient(ApiConfig(api.url)), Settings(cluster_name=name, tokens=tokens, hub=hub or HubConfig()))
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    context = server_ssl_context(str(tls.cert), str(tls.key)) if tls else None
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps it private
    return Plane(name, api, runner, f"{'https' if tls else 'http'}://localhost:{port}")


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    tls = mint_localhost(tmp_path)
    east = await start_plane("east", 3, tls)
    west = await start_plane("west", 2, tls)
    edge = await start_plane("edge", 4, None, pods=600)  # reachable by nobody: it dials out
    ca = tls.ca.read_text()
    (tmp_path / "edge.token").write_text("edge-peer-token\n")
    registry = tmp_path / "peers.yaml"
    registry.write_text(f"""
peers:
  - {{name: east, url: "{east.url}", token: east-peer-token, ca: {json.dumps(ca)}}}
  - {{name: west, url: "{west.url}", token: west-ops-token, caFile: {str(tls.ca)!r}}}
  - {{name: edge, mode: dial-in, tokenFile: edge.token}}
  - {{name: far, mode: dial-in, token: far-peer-token}}
""")
    hub = await start_plane("hub", 1, tls, HubConfig(peers_file=str(registry), probe_seconds=0.1,
                                                       request_timeout=2.0))
    dialer = asyncio.create_task(dial_hub(hub.url, "edge", "edge-peer-token", tls.client(), edge.url,
                                          max_backoff=0.2))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls.client())) as session:
        yield {"east": east, "west": west, "edge": edge, "hub": hub, "session": session, "registry": registry,
               "dialer": dialer, "tls": tls}
    dialer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dialer
    for plane in (hub, east, west, edge):
        with contextlib.suppress(RuntimeError):
            await plane.stop()


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url, headers=USER) as response:
        return response.status, await response.json()


async def until(session: aiohttp.ClientSession, url: str, check: Any) -> Any:
    body: Any = None
    for _ in range(100):
        status, body = await get(session, url)
        if status == 200 and check(body):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url}: last answer {body}")


def by_name(clusters: dict[str, Any]) -> dict[str, Any]:
    return {c["name"]: c for c in clusters["items"]}


async def test_the_hub_lists_every_cluster_and_serves_each_peers_api(fleet: dict[str, Any]) -> None:
    session, hub = fleet["session"], fleet["hub"]
    listed = by_name(await until(session, f"{hub.url}/api/v1/clusters",
                                 lambda b: all(c["reachable"] for c in b["items"] if c["name"] != "far")))
    assert list(listed) == ["hub", "east", "edge", "far", "west"]
    assert not listed["far"]["reachable"] and listed["far"]["error"] == "it has not dialed in"
    assert listed["hub"]["local"] and not listed["east"]["local"] and listed["edge"]["url"] == "dial-in"
    for name, count in (("east", 3), ("west", 2), ("edge", 4), ("hub", 1)):
        page = await until(session, f"{hub.url}/api/v1/clusters/{name}/nodes?limit=2",
                           lambda b, n=count: b["total"] == n)
        assert page["items"][0]["name"] == f"{name}-node-0"
        assert len(page["items"]) == min(2, count)
    async with session.get(f"{hub.url}/api/v1/clusters/east/nodes") as response:
        assert response.status == 401  # the hub's own auth runs before anything is forwarded
    status, body = await get(session, f"{hub.url}/api/v1/clusters/east/nodes?limit=0")
    assert status == 400 and body["error"]["code"] == "bad-limit"  # the peer's answer, passed through
    status, body = await get(session, f"{hub.url}/api/v1/clusters/nowhere/nodes")
    assert status == 404


async def test_a_large_answer_crosses_the_tunnel_intact_and_the_hubs_roles_apply_first(
        fleet: dict[str, Any]) -> None:
    session, hub, edge = fleet["session"], fleet["hub"], fleet["edge"]
    direct = await until(session, f"{edge.url}/api/v1/clusters/edge/pods?limit=1000", lambda b: b["total"] == 600)
    through = await until(session, f"{hub.url}/api/v1/clusters/edge/pods?limit=1000", lambda b: b["total"] == 600)
    assert through == direct and len(through["items"]) == 600  # ~160 KB: many chunk frames
    async with session.post(f"{hub.url}/api/v1/clusters/edge/savings/baseline", headers=USER) as response:
        assert response.status == 403  # the hub's user is an operator; recording a baseline needs admin


async def audit_of(plane: Plane) -> list[AuditRecord]:
    return await plane.runner.app[PLANE].audit.page(None, 100, None, None)


async def post(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.post(url, headers=USER) as response:
        return response.status, await response.json()


async def test_a_forwarded_mutation_is_audited_once_on_the_hub_and_once_on_the_peer(fleet: dict[str, Any]) -> None:
    session, hub, east, west, edge = fleet["session"], fleet["hub"], fleet["east"], fleet["west"], fleet["edge"]
    await until(session, f"{hub.url}/api/v1/clusters", lambda b: all(by_name(b)[n]["reachable"]
                                                                     for n in ("east", "west", "edge")))
    # west's registry token is an operator there: the cordon is made, and both sides record it
    status, body = await post(session, f"{hub.url}/api/v1/clusters/west/nodes/west-node-0/cordon")
    assert status == 200 and body["result"] == "ok"
    assert west.api.objects["nodes"][("", "west-node-0")]["spec"]["unschedulable"] is True
    [on_peer] = await audit_of(west)
    assert (on_peer.token, on_peer.action, on_peer.result, on_peer.id) == ("hub-ops", "cordon", "allowed",
                                                                          body["audit_id"])
    assert "as the hub says: user:operator" in on_peer.detail
    [on_hub] = await audit_of(hub)
    assert (on_hub.token, on_hub.role, on_hub.target, on_hub.result) == ("user", "operator", "west/node/west-node-0",
                                                                         "allowed")
    assert "west" in on_hub.detail and "200" in on_hub.detail
    # east (HTTPS) and edge (tunnel) know the hub's token as a viewer: the peer denies, both record it
    for peer in (east, edge):
        status, body = await post(session, f"{hub.url}/api/v1/clusters/{peer.name}/nodes/{peer.name}-node-0/cordon")
        assert status == 403 and body["error"]["code"] == "forbidden"
        [denied] = await audit_of(peer)
        assert (denied.token, denied.result) == ("hub", "denied") and "user:operator" in denied.detail
        newest = (await audit_of(hub))[0]
        assert (newest.target, newest.result) == (f"{peer.name}/node/{peer.name}-node-0", "denied")
    # an unreachable peer: nothing on the peer, one failed record on the hub
    await west.stop()
    await until(session, f"{hub.url}/api/v1/clusters", lambda b: not by_name(b)["west"]["reachable"])
    status, body = await post(session, f"{hub.url}/api/v1/clusters/west/nodes/west-node-0/uncordon")
    assert status == 502
    newest = (await audit_of(hub))[0]
    assert (newest.action, newest.result) == ("uncordon", "failed") and "unreachable" in newest.detail
    assert len(await audit_of(hub)) == 4


async def test_an_unreachable_peer_is_shown_with_since_when_and_the_others_keep_working(
        fleet: dict[str, Any]) -> None:
    session, hub = fleet["session"], fleet["hub"]
    await until(session, f"{hub.url}/api/v1/clusters", lambda b: by_name(b)["west"]["reachable"])
    await fleet["west"].stop()
    listed = by_name(await until(session, f"{hub.url}/api/v1/clusters",
                                 lambda b: not by_name(b)["west"]["reachable"]))
    assert listed["west"]["since"] is not None and listed["west"]["error"]
    assert listed["east"]["reachable"]
    status, body = await get(session, f"{hub.url}/api/v1/clusters/west/nodes")
    assert status == 502 and body["error"]["code"] == "peer-unreachable" and " since " in body["error"]["message"]
    since = listed["west"]["since"]
    again = by_name(await until(session, f"{hub.url}/api/v1/clusters", lambda b: True))
    assert again["west"]["since"] == since  # since moves only when reachability flips
    page = await until(session, f"{hub.url}/api/v1/clusters/east/nodes", lambda b: b["total"] == 3)
    assert page["items"][0]["name"] == "east-node-0"


async def test_every_plane_works_with_the_hub_gone_and_a_dial_in_peer_shows_as_down(fleet: dict[str, Any]) -> None:
    session, hub, east, edge = fleet["session"], fleet["hub"], fleet["east"], fleet["edge"]
    await until(session, f"{hub.url}/api/v1/clusters", lambda b: by_name(b)["edge"]["reachable"])
    fleet["dialer"].cancel()
    listed = by_name(await until(session, f"{hub.url}/api/v1/clusters",
                                 lambda b: not by_name(b)["edge"]["reachable"]))
    assert listed["edge"]["error"] == "the tunnel closed"
    status, _ = await get(session, f"{hub.url}/api/v1/clusters/edge/nodes")
    assert status == 502
    await hub.stop()
    for plane, count in ((east, 3), (edge, 4)):
        page = await until(session, f"{plane.url}/api/v1/clusters/{plane.name}/nodes",
                           lambda b, n=count: b["total"] == n)
        assert len(page["items"]) == count


async def test_a_bad_registry_edit_keeps_the_last_good_peers(fleet: dict[str, Any]) -> None:
    session, hub, registry = fleet["session"], fleet["hub"], fleet["registry"]
    await until(session, f"{hub.url}/api/v1/clusters", lambda b: len(b["items"]) == 5)
    registry.write_text("peers: [{name: hub, url: 'https://x'}]")
    os.utime(registry, ns=(1, 1))
    await asyncio.sleep(0.3)
    assert len((await until(session, f"{hub.url}/api/v1/clusters", lambda b: True))["items"]) == 5


async def test_serve_dials_the_hub_through_its_own_unix_socket(fleet: dict[str, Any], tmp_path: Path) -> None:
    session, hub, tls = fleet["session"], fleet["hub"], fleet["tls"]
    far = await start_plane("far", 6, None)
    (tmp_path / "far.token").write_text("far-peer-token")
    config = HubConfig(hub_url=hub.url, hub_token_file=str(tmp_path / "far.token"), hub_ca_file=str(tls.ca))
    dialer = await start_dialer(far.runner, config, "far", str(tmp_path))
    assert dialer is not None
    try:
        page = await until(session, f"{hub.url}/api/v1/clusters/far/nodes?limit=1", lambda b: b["total"] == 6)
        assert page["items"][0]["name"] == "far-node-0" and page["continue"] == "far-node-0"
        assert (tmp_path / "console-tunnel.sock").exists()
    finally:
        dialer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dialer
        await far.stop()


async def test_a_dialer_with_a_wrong_token_is_refused(fleet: dict[str, Any]) -> None:
    session, hub = fleet["session"], fleet["hub"]
    async with session.get(f"{hub.url}/api/v1/hub/tunnel/far", headers={"Authorization": "Bearer nope"}) as r:
        assert r.status == 401
    east_token = {"Authorization": "Bearer east-peer-token"}
    async with session.get(f"{hub.url}/api/v1/hub/tunnel/east", headers=east_token) as r:
        assert r.status == 401  # east is a URL peer: it never dials in


async def test_a_peer_whose_certificate_the_registrys_ca_did_not_sign_is_unreachable(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    real, other = mint_localhost(tmp_path / "a"), mint_localhost(tmp_path / "b")
    east = await start_plane("east", 1, real)
    registry = tmp_path / "peers.yaml"
    registry.write_text(f"peers: [{{name: east, url: '{east.url}', token: east-peer-token, "
                        f"caFile: {str(other.ca)!r}}}]")
    hub = await start_plane("hub", 1, None, HubConfig(peers_file=str(registry), probe_seconds=0.1))
    try:
        async with aiohttp.ClientSession() as session:
            listed = by_name(await until(session, f"{hub.url}/api/v1/clusters",
                                         lambda b: by_name(b)["east"]["error"] not in (None, "not probed yet")))
            assert not listed["east"]["reachable"] and "TLS" in listed["east"]["error"]
            status, body = await get(session, f"{hub.url}/api/v1/clusters/east/nodes")
            assert status == 502 and body["error"]["code"] == "peer-unreachable"
    finally:
        await hub.stop()
        await east.stop()


@pytest.mark.parametrize("text, message", [
    ("peers: [{name: a, url: 'https://a', token: t}, {name: a, url: 'https://b', token: t}]", "already taken"),
    ("peers: [{name: local, url: 'https://a', token: t}]", "already taken"),
    ("peers: [{name: a, url: 'http://a', token: t}]", "insecure: true"),
    ("peers: [{name: a, url: 'https://a'}]", "token or tokenFile"),
    ("peers: [{name: a, mode: dial-in, url: 'https://a', token: t}]", "has no url"),
    ("peers: [{name: A_, url: 'https://a', token: t}]", "DNS label"),
    ("peers: [{name: a, url: 'https://a', token: t, tokenFile: f}]", "not both"),
    ("peers: [{name: a, url: 'https://a', tokenFile: /nonexistent/x}]", "cannot read"),
    ("clusters: []", "one key, peers"),
])
def test_a_bad_registry_is_refused_with_the_entry_named(text: str, message: str) -> None:
    with pytest.raises(PeerError, match=message):
        parse_registry(text, "local")


def test_a_peer_never_shows_its_token() -> None:
    [peer] = parse_registry("peers: [{name: a, url: 'https://a', token: hush}]", "local")
    assert "hush" not in repr(peer) and peer.token == "hush"

