"""Who is calling: bootstrap tokens, named tokens, and Kubernetes service-account tokens.

Three sources, tried in this order for a bearer token:

1. Bootstrap tokens (``--token NAME:ROLE:SECRET``), held as HMAC-SHA256 digests keyed by
   ``CONSOLE_SECRET`` (``console.app.Settings.tokens``).
2. Named tokens, created by an admin through ``POST /api/v1/tokens``. The secret is 256 random
   bits shown once in the response; the store keeps only ``HMAC-SHA256(key, secret)`` where
   ``key`` is 32 random bytes generated once per store (``meta.token_key``), so the digests stay
   valid across restarts whatever ``CONSOLE_SECRET`` is. (A KDF buys nothing for 256-bit random
   secrets: there is no dictionary to slow down.) Revocation takes effect on the next request.
   ``last_used`` is kept in memory per request and written to the store by ``flush`` (every few
   seconds and at shutdown), so authentication never waits for a disk write.
3. Optional TokenReview (``--tokenreview-group GROUP=ROLE``): a token shaped like a JWT that is
   neither of the above is sent to ``POST /apis/authentication.k8s.io/v1/tokenreviews``; an
   authenticated user gets the highest role mapped from its groups (``role_for_groups``; none
   mapped: role "", which every route refuses with 403). Answers
   are cached by digest — positive for ``REVIEW_TTL_S``, negative for ``NEGATIVE_TTL_S`` — in a
   bounded map, and at most ``REVIEW_CONCURRENCY`` reviews run at once, so a flood of made-up
   tokens cannot turn into a flood of API calls.

Invariant: no raw secret is ever stored, logged or kept in a cache key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from console.models import ROLE_RANK
from console.store import Store, TokenRow
from temper.kube.client import ApiClient, ApiError

log = logging.getLogger(__name__)

TOKEN_PREFIX = "tmpc_"
REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
REVIEW_TTL_S = 30.0
NEGATIVE_TTL_S = 5.0
REVIEW_CACHE_SIZE = 4096
REVIEW_CONCURRENCY = 4
JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    source: str
    """"bootstrap", "named" or "tokenreview"."""


def digest(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def role_for_groups(groups: list[str], mapping: Mapping[str, str]) -> str | None:
    """Pure: the highest role any of ``groups`` maps to, None when none is mapped."""
    roles = [mapping[g] for g in groups if g in mapping]
    return max(roles, key=lambda r: ROLE_RANK[r]) if roles else None


def parse_group_mapping(entries: list[str]) -> dict[str, str]:
    """``GROUP=ROLE`` flags -> {group: role}; ValueError names the bad entry."""
    mapping: dict[str, str] = {}
    for entry in entries:
        group, sep, role = entry.rpartition("=")
        if not sep or not group or role not in ROLE_RANK:
            raise ValueError(f"--tokenreview-group: expected GROUP=viewer|operator|admin, got {entry!r}")
        mapping[group] = role
    return mapping


class TokenBook:
    """Named tokens: an in-memory digest index over the store's ``tokens`` table."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.key = bytes.fromhex(store.meta_setdefault("token_key", secrets.token_hex(32)))
        self._rows: dict[str, TokenRow] = {r.name: r for r in store.tokens()}
        self._by_digest = {r.digest: r.name for r in self._rows.values() if not r.revoked}
        self._used: dict[str, float] = {}

    def lookup(self, token: str) -> Identity | None:
        name = self._by_digest.get(digest(self.key, token))
        if name is None:
            return None
        self._used[name] = self.clock()
        return Identity(name, self._rows[name].role, "named")

    def rows(self) -> list[TokenRow]:
        return [TokenRow(r.name, r.role, r.digest, r.created, self._used.get(r.name, r.last_used), r.revoked)
                for r in sorted(self._rows.values(), key=lambda r: r.name)]

    def get(self, name: str) -> TokenRow | None:
        return self._rows.get(name)

    async def create(self, name: str, role: str) -> str | None:
        """The new secret, or None when a live token already has ``name``."""
        secret = new_secret()
        row = TokenRow(name, role, digest(self.key, secret), self.clock(), None, False)
        if not await asyncio.to_thread(self.store.put_token, row):
            return None
        old = self._rows.get(name)
        if old is not None:
            self._by_digest.pop(old.digest, None)
        self._rows[name] = row
        self._by_digest[row.digest] = name
        self._used.pop(name, None)
        return secret

    async def revoke(self, name: str) -> bool:
        if not await asyncio.to_thread(self.store.revoke_token, name):
            return False
        row = self._rows[name]
        self._by_digest.pop(row.digest, None)
        self._rows[name] = TokenRow(row.name, row.role, row.digest, row.created,
                                    self._used.get(name, row.last_used), True)
        return True

    async def flush(self) -> None:
        """Write the in-memory last-used times to the store."""
        used, self._used = self._used, {}
        if used:
            await asyncio.to_thread(self.store.touch_tokens, used)
            for name, at in used.items():
                row = self._rows.get(name)
                if row is not None:
                    self._rows[name] = TokenRow(row.name, row.role, row.digest, row.created, at, row.revoked)


class TokenReviewer:
    """Kubernetes TokenReview with a short, bounded cache."""

    def __init__(self, api: ApiClient, groups: Mapping[str, str], key: bytes,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.groups = dict(groups)
        self.key = key
        self.clock = clock
        self.calls = 0
        self._cache: OrderedDict[str, tuple[float, Identity | None, str]] = OrderedDict()
        self._gate = asyncio.Semaphore(REVIEW_CONCURRENCY)

    async def review(self, token: str) -> tuple[Identity | None, str]:
        """(identity, why not): None when not authenticated; role "" when no group is mapped."""
        if not self.groups or not JWT_SHAPE.match(token):
            return None, "unknown token"
        key = digest(self.key, token)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.clock():
            return cached[1], cached[2]
        async with self._gate:
            identity, why = await self._ask(token)
        ttl = REVIEW_TTL_S if identity is not None else NEGATIVE_TTL_S
        self._cache[key] = (self.clock() + ttl, identity, why)
        self._cache.move_to_end(key)
        while len(self._cache) > REVIEW_CACHE_SIZE:
            self._cache.popitem(last=False)
        return identity, why

    async def _ask(self, token: str) -> tuple[Identity | None, str]:
        self.calls += 1
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            answer = await self.api.post(REVIEW_PATH, body)
        except (ApiError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("TokenReview failed: %s", type(exc).__name__)
            return None, "token review unavailable"
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            return None, "unknown token"
        user = status.get("user") or {}
        groups = [str(g) for g in user.get("groups") or []]
        role = role_for_groups(groups, self.groups)
        name = f"sa:{user.get('username', '')}"
        if role is None:
            return Identity(name, "", "tokenreview"), "none of its groups maps to a console role"
        return Identity(name, role, "tokenreview"), ""
