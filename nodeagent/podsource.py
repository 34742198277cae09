"""Where the agent learns which pods run on its node: the API server, or a pods file.

Why two sources: in a cluster the agent list+watches ``/api/v1/pods`` restricted to its node
(``temper.kube.reflector``: resourceVersion, 410 re-list, backoff); in the kernel lab and in
standalone use there is no API server and the pods come from a file in the format of
``kubectl get pods -o json``. The control loop sees one interface, ``PodSource.snapshot()``.

Design: both sources keep *raw* pod objects keyed by uid in a ``PodStore``; every change
bumps ``generation``; ``snapshot()`` decodes (``temper.pods.decode_pod``) only when the
generation moved, so a quiet node costs nothing per scan. A pod that does not decode is
skipped with its reason kept in ``PodSnapshot.errors`` (the agent logs and counts them);
nothing is guessed.

Invariants:
- the file source never replaces a good pod set with a bad file: a file that cannot be read
  or parsed keeps the last good set and reports the error in ``PodSnapshot.source_error``
  (cleared once a good file is read);
- the API source applies a LIST as one replacement (never a half-listed state).

Errors: nothing here raises to the control loop. API failures go to ``on_error`` (counted as
API errors by the agent); the reflector retries by itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from temper.pods import PodError, PodInfo, RejectedPod, decode_or_reject, pod_list_items

if TYPE_CHECKING:  # the file path must not import the API client (standalone / lab guest)
    from temper.kube.client import ApiClient

MAX_PODS_FILE_BYTES = 64 * 1024 * 1024
"""A node holds at most a few hundred pods (~20 KiB each); refuse absurd files."""


@dataclass(frozen=True)
class PodSnapshot:
    pods: tuple[PodInfo, ...]
    errors: tuple[str, ...]
    """One message per pod that did not decode."""
    generation: int
    source_error: str = ""
    """Why the source itself is stale (unreadable file, API down); "" when healthy."""
    synced: bool = True
    """False until the first complete list (API) or good file was read."""


class PodSource(Protocol):
    async def run(self) -> None:
        """Keep the pod set current until cancelled."""

    def snapshot(self) -> PodSnapshot: ...


class PodStore:
    """Raw pod objects by uid, plus a cached decode (re-decoded only after a change)."""

    def __init__(self, node_name: str = "") -> None:
        self.node_name = node_name
        self._raw: dict[str, dict[str, Any]] = {}
        self.generation = 0
        self.synced = False
        self._decoded_at = -1
        self._decoded: tuple[tuple[PodInfo, ...], tuple[str, ...]] = ((), ())

    def _key(self, pod: dict[str, Any]) -> str:
        metadata = pod.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("uid"), str):
            return str(metadata["uid"])
        # Undecodable anyway; keep it so decode reports it rather than dropping it silently.
        return f"<no-uid:{id(pod)}>"

    def _on_node(self, pod: dict[str, Any]) -> bool:
        if not self.node_name:
            return True
        spec = pod.get("spec")
        node = spec.get("nodeName") if isinstance(spec, dict) else None
        return not node or node == self.node_name

    def replace(self, items: list[dict[str, Any]]) -> None:
        self._raw = {self._key(p): p for p in items if isinstance(p, dict) and self._on_node(p)}
        self.generation += 1
        self.synced = True

    def event(self, kind: str, pod: dict[str, Any]) -> None:
        key = self._key(pod)
        if kind == "DELETED" or not self._on_node(pod):
            if self._raw.pop(key, None) is None:
                return
        else:
            self._raw[key] = pod
        self.generation += 1

    def decoded(self) -> tuple[tuple[PodInfo, ...], tuple[str, ...]]:
        if self._decoded_at != self.generation:
            pods: list[PodInfo] = []
            errors: list[str] = []
            for raw in self._raw.values():
                decoded = decode_or_reject(raw)  # any failure is that pod's, never the loop's
                if isinstance(decoded, RejectedPod):
                    errors.append(decoded.message)
                else:
                    pods.append(decoded)
            pods.sort(key=lambda p: p.uid)
            self._decoded = (tuple(pods), tuple(errors))
            self._decoded_at = self.generation
        return self._decoded


class FilePodSource:
    """Pods from a JSON file, re-read whenever its mtime (or size) changes.

    The file is checked (one ``stat``) when a snapshot is taken, at most every ``poll_s``:
    the agent takes one per scan, so a change is seen by the next scan — as soon as a
    background poll would have made it visible — without a second timer waking the process
    between scans (on an idle node each wake-up costs more than the ``stat``)."""

    def __init__(self, path: str | Path, node_name: str = "", poll_s: float = 1.0) -> None:
        self.path = Path(path)
        self.poll_s = poll_s
        self.store = PodStore(node_name)
        self.error = ""
        self._stamp: tuple[int, int] | None = None
        self._checked = -float("inf")

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when the pod set was replaced."""
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            self.error = f"cannot stat pods file {self.path}: {exc.strerror or exc}"
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        if stat.st_size > MAX_PODS_FILE_BYTES:
            self.error = f"pods file {self.path} is larger than {MAX_PODS_FILE_BYTES} bytes"
            return False
        try:
            document = json.loads(self.path.read_bytes())
            items = pod_list_items(document)
        except OSError as exc:
            self.error = f"cannot read pods file {self.path}: {exc.strerror or exc}"
            return False
        except (ValueError, PodError) as exc:  # JSONDecodeError is a ValueError
            self.error = f"pods file {self.path} is malformed (keeping the last good pod set): {exc}"
            return False
        self.store.replace(items)
        self.error = ""
        return True

    async def run(self) -> None:
        """Nothing to do in the background: ``snapshot`` checks the file."""
        self._check()
        await asyncio.get_running_loop().create_future()

    def _check(self) -> None:
        now = time.monotonic()
        if now - self._checked >= self.poll_s:
            self._checked = now
            self.refresh()

    def snapshot(self) -> PodSnapshot:
        self._check()
        pods, errors = self.store.decoded()
        return PodSnapshot(pods, errors, self.store.generation, self.error, self.store.synced)


def pods_path_params(node_name: str) -> tuple[str, dict[str, str]]:
    """The list/watch path and query for the pods bound to ``node_name``."""
    if not node_name:
        raise ValueError("the API pod source needs a node name")
    return "/api/v1/pods", {"fieldSelector": f"spec.nodeName={node_name}"}


class ApiPodSource:
    """Pods from the API server: list+watch restricted to this node."""

    def __init__(self, client: ApiClient, node_name: str, on_error: Callable[[Exception], None],
                 watch_timeout_s: int = 300) -> None:
        self.client = client
        self.node_name = node_name
        self.store = PodStore(node_name)
        self.error = ""
        self._on_error = on_error
        self._watch_timeout_s = watch_timeout_s

    def _replace(self, items: list[dict[str, Any]]) -> None:
        self.store.replace(items)
        self.error = ""

    def _event(self, kind: str, pod: dict[str, Any]) -> None:
        self.store.event(kind, pod)

    def _error(self, exc: Exception) -> None:
        self.error = f"pod list/watch: {exc}"[:300]
        self._on_error(exc)

    async def run(self) -> None:
        from temper.kube.reflector import reflect

        path, params = pods_path_params(self.node_name)
        await reflect(self.client, path, params, self._replace, self._event, self._error,
                      watch_timeout_s=self._watch_timeout_s)

    def snapshot(self) -> PodSnapshot:
        pods, errors = self.store.decoded()
        return PodSnapshot(pods, errors, self.store.generation, self.error, self.store.synced)
