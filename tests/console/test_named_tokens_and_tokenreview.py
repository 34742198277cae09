"""Named tokens (shown once, stored hashed, revocable, last-used recorded, kept across restarts)
and service-account tokens through TokenReview (group -> role, cached briefly).

Against the fake API server, whose TokenReview endpoint authenticates ``api.review_tokens``
(``tests.console.fakeapi``; there is no kube-apiserver here).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.console.actions_harness import AiohttpClient, start

SA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3BzOmJvdCJ9.c2lnbmF0dXJl"


async def test_a_named_token_is_shown_once_stored_hashed_and_revocable(aiohttp_client: AiohttpClient,
                                                                       tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        status, created = await harness.call("post", "/api/v1/tokens", "admin", {"name": "ci-bot", "role": "operator"})
        assert status == 200 and created["name"] == "ci-bot" and created["token"].startswith("tmpc_")
        secret = created["token"]
        assert (await harness.call("get", "/api/v1/whoami", token=secret))[1] == {"name": "ci-bot", "role": "operator"}
        assert (await harness.call("post", "/api/v1/clusters/local/nodes/node-00000/cordon", token=secret))[0] == 200
        assert (await harness.call("get", "/api/v1/tokens", token=secret))[0] == 403
        listing = (await harness.call("get", "/api/v1/tokens", "admin"))[1]
        (info,) = listing["items"]
        assert set(info) == {"name", "role", "created", "last_used", "revoked"} and secret not in str(listing)
        assert info["last_used"] is not None and time.time() - info["last_used"] < 60
        await harness.plane.tokens.flush()
        assert secret.encode() not in harness.store_path.read_bytes()
        assert (await harness.call("post", "/api/v1/tokens", "admin", {"name": "ci-bot", "role": "viewer"}))[0] == 409
        assert (await harness.call("post", "/api/v1/tokens", "admin", {"name": "boot-admin", "role": "viewer"}))[0] \
            == 409
        assert (await harness.call("post", "/api/v1/tokens", "admin", {"name": "Bad Name", "role": "viewer"}))[0] \
            == 400
        assert (await harness.call("post", "/api/v1/tokens", "admin", {"name": "x", "role": "root"}))[0] == 400
        assert (await harness.call("delete", "/api/v1/tokens/ci-bot", "admin"))[0] == 200
        assert (await harness.call("get", "/api/v1/whoami", token=secret))[0] == 401
        assert (await harness.call("delete", "/api/v1/tokens/ci-bot", "admin"))[0] == 404
        records = harness.echoed()
        assert [r["action"] for r in records[:1]] == ["token-create"] and records[0]["target"] == "token/ci-bot"
        assert all(secret not in str(r) for r in records)
        assert harness.out.getvalue().count(secret) == 0
        status, again = await harness.call("post", "/api/v1/tokens", "admin", {"name": "ci-bot", "role": "viewer"})
        assert status == 200 and again["token"] != secret, "a revoked name can be issued again, with a new secret"
    finally:
        await stop()


async def test_named_tokens_and_their_last_use_survive_a_restart(aiohttp_client: AiohttpClient,
                                                                 tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path)
    try:
        secret = (await harness.call("post", "/api/v1/tokens", "admin", {"name": "dash", "role": "viewer"}))[1]["token"]
        assert (await harness.call("get", "/api/v1/whoami", token=secret))[0] == 200
    finally:
        await stop()
    await harness.client.close()  # shutdown flushes last-used
    second, stop2 = await start(aiohttp_client, tmp_path)
    try:
        (info,) = (await second.call("get", "/api/v1/tokens", "admin"))[1]["items"]
        assert info["name"] == "dash" and info["last_used"] is not None
        assert (await second.call("get", "/api/v1/whoami", token=secret))[1]["name"] == "dash"
    finally:
        await stop2()


async def test_service_account_tokens_get_the_role_of_their_groups(aiohttp_client: AiohttpClient,
                                                                   tmp_path: Path) -> None:
    harness, stop = await start(aiohttp_client, tmp_path,
                                review_groups={"ops-team": "operator", "system:authenticated": "viewer"})
    try:
        harness.api.review_tokens[SA_TOKEN] = ("system:serviceaccount:ops:bot", ["ops-team", "system:authenticated"])
        lonely = SA_TOKEN.replace("c2lnbmF0dXJl", "b3RoZXI")
        harness.api.review_tokens[lonely] = ("system:serviceaccount:x:y", ["nobody"])
        for _ in range(3):
            status, who = await harness.call("get", "/api/v1/whoami", token=SA_TOKEN)
            assert status == 200 and who == {"name": "sa:system:serviceaccount:ops:bot", "role": "operator"}
        assert harness.plane.reviewer is not None and harness.plane.reviewer.calls == 1, "answers are cached"
        status, denied = await harness.call("post", "/api/v1/clusters/local/nodes/node-00000/cordon", token=lonely)
        assert status == 403 and "groups" in denied["error"]["message"]
        assert harness.echoed()[-1]["result"] == "denied" and harness.echoed()[-1]["role"] == "none"
        assert (await harness.call("get", "/api/v1/whoami", token="random-garbage"))[0] == 401
        assert harness.plane.reviewer.calls == 2, "a token not shaped like a JWT is never sent for review"
        unknown = SA_TOKEN.replace("c2lnbmF0dXJl", "Zm9yZ2Vk")
        assert (await harness.call("get", "/api/v1/whoami", token=unknown))[0] == 401
        assert (await harness.call("get", "/api/v1/whoami", token=unknown))[0] == 401
        assert harness.plane.reviewer.calls == 3, "negative answers are cached too"
    finally:
        await stop()
