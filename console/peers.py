"""The hub's peer registry and the reachability record of each peer (no network; reads only the
token and CA files an entry names).

Why it exists: in hub mode one console serves the same ``/api/v1`` for several clusters. Which
clusters, and how to reach them, is the peer registry: a ConfigMap (key ``peers.yaml``)
mounted as a file, re-read when it changes. Parsing is strict and total: a bad registry is a
``PeerError`` naming the entry and field, and the hub keeps the last good one.

    peers:
      - name: eu-west                          # the {c} in /api/v1/clusters/{c}/...
        url: https://console.eu-west.example:8443
        ca: |                                  # PEM bundle to verify the peer (or caFile: PATH)
          -----BEGIN CERTIFICATE-----...
        token: "..."                           # a token of the peer's plane (or tokenFile: PATH)
      - name: edge-7
        mode: dial-in                          # outbound-only: the peer dials the hub
        tokenFile: /etc/temper-peers/edge-7    # the token the peer presents when it dials in;
                                               # also sent on every request the hub forwards

A ``url`` peer is reached over HTTPS (``http://`` only with ``insecure: true``, for tests and
loopback labs); ``ca`` absent means the system trust store. Tokens belong in a Secret: the
registry may name files (``tokenFile``) mounted from one, and tokens are never logged. The
hub forwards each request with the peer's token, so the *peer's* role for that token caps what
a hub user can do there, after the hub's own role check.

Reachability (``Reach``): ``reachable`` plus ``since`` — the time it last *changed* (an
unreachable peer shows since when); ``observe`` keeps ``since`` on a repeated outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class PeerError(ValueError):
    """A peer registry that cannot be used (the message names the entry and field)."""


@dataclass(frozen=True)
class Peer:
    name: str
    mode: Literal["url", "dial-in"]
    url: str = ""
    ca_pem: str = ""
    token: str = ""
    insecure: bool = False

    def __repr__(self) -> str:  # never the token
        return f"Peer(name={self.name!r}, mode={self.mode!r}, url={self.url!r})"


@dataclass(frozen=True)
class HubConfig:
    """Hub mode (``--peers FILE``) and outbound-only dialing (``--hub-url``): both optional."""

    peers_file: str = ""
    probe_seconds: float = 10.0
    request_timeout: float = 30.0
    hub_url: str = ""
    hub_token_file: str = ""
    hub_ca_file: str = ""


@dataclass(frozen=True)
class Reach:
    reachable: bool
    since: float | None
    error: str | None = None


def observe(previous: Reach | None, ok: bool, now: float, error: str | None = None) -> Reach:
    """Pure: the reachability after one probe (``since`` moves only when ``reachable`` flips)."""
    if previous is not None and previous.reachable == ok:
        return replace(previous, error=None if ok else error)
    return Reach(ok, now, None if ok else error)


def _secret(entry: Mapping[str, Any], key: str, where: str, base: Path) -> str:
    inline, file_key = entry.get(key), f"{key}File"
    if inline is not None and entry.get(file_key) is not None:
        raise PeerError(f"{where}: give {key} or {file_key}, not both")
    if entry.get(file_key) is not None:
        path = entry[file_key]
        if not isinstance(path, str) or not path:
            raise PeerError(f"{where}.{file_key}: expected a path")
        try:
            return (base / path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise PeerError(f"{where}.{file_key}: cannot read {path} ({exc.__class__.__name__})") from None
    if inline is None:
        return ""
    if not isinstance(inline, str):
        raise PeerError(f"{where}.{key}: expected a string")
    return inline.strip()


def parse_registry(text: str, local_name: str, base: Path = Path("/")) -> list[Peer]:
    """The peers in ``text`` (YAML or JSON); file references resolve against ``base``."""
    try:
        doc = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise PeerError(f"not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, Mapping) or set(doc) - {"peers"}:
        raise PeerError("the registry is a mapping with one key, peers")
    items = doc.get("peers") or []
    if not isinstance(items, list):
        raise PeerError("peers: expected a list")
    known = {"name", "mode", "url", "ca", "caFile", "token", "tokenFile", "insecure"}
    out: list[Peer] = []
    for i, entry in enumerate(items):
        where = f"peers[{i}]"
        if not isinstance(entry, Mapping):
            raise PeerError(f"{where}: expected a mapping")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise PeerError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise PeerError(f"{where}.name: expected a DNS label")
        if name == local_name or any(p.name == name for p in out):
            raise PeerError(f"{where}.name: {name!r} is already taken (the local cluster or another peer)")
        mode = entry.get("mode", "url")
        if mode not in ("url", "dial-in"):
            raise PeerError(f"{where}.mode: expected url or dial-in")
        insecure = entry.get("insecure", False)
        if not isinstance(insecure, bool):
            raise PeerError(f"{where}.insecure: expected true or false")
        url = entry.get("url", "")
        if mode == "url":
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise PeerError(f"{where}.url: expected an https:// URL")
            if url.startswith("http://") and not insecure:
                raise PeerError(f"{where}.url: plain http only with insecure: true")
        elif url:
            raise PeerError(f"{where}.url: a dial-in peer has no url (it dials the hub)")
        token = _secret(entry, "token", where, base)
        if not token:
            raise PeerError(f"{where}: token or tokenFile is required")
        out.append(Peer(name, mode, str(url).rstrip("/"), _secret(entry, "ca", where, base), token, insecure))
    return out
