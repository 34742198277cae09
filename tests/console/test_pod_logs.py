"""Pod logs through the console: tail, since, container choice and follow, proxied from the
fake API server's ``pods/{name}/log`` (the real API's parameters and text/plain body; no real
kube-apiserver here). A follower that goes away releases the API's log stream."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given
from hypothesis import strategies as st

from console.logs import MAX_BYTES, LogRequestError, log_params
from console.models import LogQuery
from tests.console.fakeapi import make_pod
from tests.console.harness import AUTH, running_console

LOGS = "/api/v1/clusters/local/namespaces/apps/pods/{name}/logs"


@given(st.lists(st.sampled_from(["app", "sidecar", "init"]), unique=True, min_size=0, max_size=3),
       st.sampled_from(["", "app", "sidecar", "nope"]), st.booleans())
def test_log_params_need_a_real_container_and_bound_what_is_not_followed(containers: list[str], wanted: str,
                                                                          follow: bool) -> None:
    query = LogQuery(container=wanted, follow=follow, tailLines=10)
    if (wanted and wanted not in containers) or (not wanted and len(containers) != 1):
        try:
            log_params(query, containers)
        except LogRequestError as exc:
            assert "container" in str(exc)
        else:
            raise AssertionError("an ambiguous or unknown container was accepted")
        return
    params = log_params(query, containers)
    assert params["container"] == (wanted or containers[0]) and params["tailLines"] == "10"
    assert ("follow" in params) == follow and ("limitBytes" in params) == (not follow)
    assert params.get("limitBytes", str(MAX_BYTES)) == str(MAX_BYTES)


async def test_tail_since_and_container_choice() -> None:
    async with running_console() as r:
        now = time.time()
        r.api.logs[("apps", "web-2-aaaaa", "app")] = [(now - 3600, "old line")] + [(now, f"line {i}") for i in range(5)]
        response = await r.client.get(LOGS.format(name="web-2-aaaaa") + "?tailLines=2", headers=AUTH)
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        assert await response.text() == "line 3\nline 4\n"
        response = await r.client.get(LOGS.format(name="web-2-aaaaa") + "?sinceSeconds=60", headers=AUTH)
        assert (await response.text()).splitlines() == [f"line {i}" for i in range(5)]
        two = make_pod("apps", "two", "node-00000", 1)
        two["spec"]["containers"].append({"name": "sidecar", "image": "s:1"})
        r.api.put("pods", two)
        r.api.logs[("apps", "two", "sidecar")] = [(now, "from the sidecar")]
        await r.until(lambda: "apps/two" in r.explorer.pods.items)
        ambiguous = await r.client.get(LOGS.format(name="two"), headers=AUTH)
        assert ambiguous.status == 400 and "sidecar" in (await ambiguous.json())["error"]["message"]
        chosen = await r.client.get(LOGS.format(name="two") + "?container=sidecar", headers=AUTH)
        assert await chosen.text() == "from the sidecar\n"
        assert (await r.client.get(LOGS.format(name="two") + "?container=nope", headers=AUTH)).status == 404
        for bad in ("?tailLines=-1", "?sinceSeconds=zero", "?follow=perhaps"):
            assert (await r.client.get(LOGS.format(name="two") + bad, headers=AUTH)).status == 400, bad
        assert (await r.client.get(LOGS.format(name="ghost"), headers=AUTH)).status == 404


async def test_follow_streams_new_lines_and_a_gone_client_releases_the_api_stream() -> None:
    async with running_console() as r:
        r.api.logs[("apps", "web-2-aaaaa", "app")] = [(time.time(), "before")]
        response = await r.client.get(LOGS.format(name="web-2-aaaaa") + "?follow=true", headers=AUTH)
        assert await asyncio.wait_for(response.content.readline(), 5) == b"before\n"
        r.api.append_log("apps", "web-2-aaaaa", "app", "after")
        assert await asyncio.wait_for(response.content.readline(), 5) == b"after\n"
        assert r.api.log_followers == 1
        response.close()
        await r.until(lambda: r.api.log_followers == 0, timeout=15)
