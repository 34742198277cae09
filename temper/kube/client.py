"""An asyncio Kubernetes API client: exactly the calls Temper needs, nothing else.

Why not the ``kubernetes`` package's client: it is synchronous (threads per watch) and heavy
to import; Temper's services are aiohttp applications. The ``kubernetes`` package is still
used to *read configuration* (kubeconfig parsing), so auth behaves as kubectl's does.

Transport seam: ``ApiClient(base_url, session=...)`` accepts any aiohttp session, so tests
point it at an aiohttp test server that speaks the API's JSON.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MAX_EVENT_BYTES = 16 * 1024 * 1024
"""A single watch event larger than this is refused (a Node with huge annotations is ~100 KiB)."""


class ApiError(Exception):
    """The API server answered with a non-2xx status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"API error {status}: {message}")
        self.status = status
        self.message = message


class WatchExpired(ApiError):
    """410 Gone: the resourceVersion is too old; re-list."""


@dataclass(frozen=True)
class ApiConfig:
    base_url: str
    token_file: Path | None = None
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.base_url.startswith("https"):
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def bearer(self) -> str | None:
        # The projected token rotates: read it per request (cheap), never cache it forever.
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip()
            except OSError:
                return None
        return self.token


def in_cluster_config() -> ApiConfig:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ApiError(0, "not running in a cluster (KUBERNETES_SERVICE_HOST unset)")
    host = f"[{host}]" if ":" in host else host
    return ApiConfig(
        base_url=f"https://{host}:{port}",
        token_file=SERVICE_ACCOUNT_DIR / "token",
        ca_file=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
    )


def kubeconfig_config(path: str | None = None, context: str | None = None) -> ApiConfig:
    """Read a kubeconfig with the kubernetes package's loader (same rules as kubectl)."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]  # kubernetes ships no type hints
        config_file=path, context=context, client_configuration=configuration)
    auth = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
    token = auth.removeprefix("Bearer ").strip() if isinstance(auth, str) else None
    return ApiConfig(
        base_url=str(configuration.host).rstrip("/"), token=token,
        ca_file=configuration.ssl_ca_cert, cert_file=configuration.cert_file,
        key_file=configuration.key_file, verify=bool(configuration.verify_ssl),
    )


def auto_config(kubeconfig: str | None = None) -> ApiConfig:
    """In-cluster when running in a pod, else the kubeconfig (``--kubeconfig`` or default)."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster_config()
    return kubeconfig_config(kubeconfig)


class ApiClient:
    """get / patch / post / watch against one API server. Use as an async context manager."""

    def __init__(self, config: ApiConfig, session: aiohttp.ClientSession | None = None,
                 timeout_s: float = 30.0) -> None:
        self.config = config
        self._own_session = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __aenter__(self) -> ApiClient:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self.config.ssl_context())
            self._session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ApiClient used outside 'async with'")
        return self._session

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "temper/0.1"}
        token = self.config.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    @staticmethod
    async def _raise_for(response: aiohttp.ClientResponse) -> None:
        if 200 <= response.status < 300:
            return
        text = await response.text()
        try:
            message = str(json.loads(text).get("message", text))
        except (ValueError, AttributeError):
            message = text
        message = message[:500]
        if response.status == 410:
            raise WatchExpired(410, message)
        raise ApiError(response.status, message)

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        async with self.session.get(self.config.base_url + path, params=params or {},
                                    headers=self._headers(), timeout=self._timeout) as response:
            await self._raise_for(response)
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise ApiError(response.status, "API answered with a non-object body")
        return body

    async def patch(self, path: str, body: Any, patch_type: str = "application/merge-patch+json",
                    params: Mapping[str, str] | None = None) -> dict[str, Any]:
        async with self.session.patch(self.config.base_url + path, data=json.dumps(body),
                                      params=params or {}, headers=self._headers(patch_type),
                                      timeout=self._timeout) as response:
            await self._raise_for(response)
            result = await response.json(content_type=None)
        return result if isinstance(result, dict) else {}

    async def post(self, path: str, body: Any, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Create (eviction, TokenReview, ...): the answer's JSON object ({} when not an object)."""
        async with self.session.post(self.config.base_url + path, data=json.dumps(body), params=params or {},
                                     headers=self._headers("application/json"), timeout=self._timeout) as response:
            await self._raise_for(response)
            result = await response.json(content_type=None)
        return result if isinstance(result, dict) else {}

    async def watch(self, path: str, params: Mapping[str, str], timeout_s: int = 300) -> AsyncIterator[dict[str, Any]]:
        """Stream watch events (``{"type": ..., "object": ...}``) until the server ends it."""
        query = {**params, "watch": "1", "timeoutSeconds": str(timeout_s), "allowWatchBookmarks": "true"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout_s + 30)
        async with self.session.get(self.config.base_url + path, params=query, headers=self._headers(),
                                    timeout=timeout) as response:
            await self._raise_for(response)
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                if len(buffer) > MAX_EVENT_BYTES:
                    raise ApiError(0, "watch event exceeds the size limit")
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        if isinstance(event, dict):
                            yield event
