"""A fake Kubernetes API server over real HTTP (aiohttp), for the console's tests and benchmarks.

Why it exists: there is no real kube-apiserver here (none can be had on these machines,
REFERENCE.md §6), so this server stands in for it, speaking the API's wire format as
REFERENCE.md and the Kubernetes API conventions describe it. The console talks to the API only
through ``temper.kube``; pointing that client at this server exercises the real wire format.
The UI helper's browser tests and the webhook's Namespace-watch tests
(``tests/webhook/test_namespace_opt_in.py``) reuse it, so it is importable and self-contained:

    api = FakeApi()
    populate(api, nodes=5000, pods=30000)        # a fleet in about a second
    runner = await api.start("127.0.0.1", 0)     # -> api.url
    ...
    await api.stop()

What it speaks (the exact JSON shapes of the real API for these calls):
- LIST ``/api/v1/{plural}``, ``/api/v1/namespaces/{ns}/{plural}``, ``/apis/{group}/{version}/...``
  with ``limit`` / ``continue`` (an opaque token), ``labelSelector`` (``k=v`` terms) and
  ``fieldSelector=spec.nodeName=...``; ``metadata.resourceVersion`` on every list.
- WATCH (``?watch=1&resourceVersion=N``): newline-delimited ``{"type", "object"}`` events after
  N, BOOKMARKs when ``allowWatchBookmarks``; a version older than the retained window answers
  an ``ERROR`` event with ``code: 410`` (the real server does the same).
- GET / PATCH (``application/merge-patch+json`` and ``application/strategic-merge-patch+json``
  — the latter applied as a merge patch, which is what strategic merge does for maps) / POST.
- ``POST .../pods/{name}/eviction`` honouring PodDisruptionBudgets (``429`` when
  ``status.disruptionsAllowed`` is 0 for a matching PDB), otherwise deleting the pod and
  spending one ``disruptionsAllowed`` of each matching PDB (``deleteOptions.dryRun`` does
  neither); bodies are kept in ``api.evictions``, PATCHes in ``api.patches``.
- ``GET .../pods/{name}/log`` with ``container``, ``tailLines``, ``sinceSeconds``, ``limitBytes``,
  ``follow`` (log lines come from ``api.logs[(ns, pod, container)]``; ``api.append_log`` feeds
  followers; ``api.log_followers`` counts the follow streams open now).
- ``POST /apis/authentication.k8s.io/v1/tokenreviews``: tokens in ``api.review_tokens``
  authenticate as the given username/groups.
``api.requests`` counts calls per (method, kind) so tests can assert "no per-request listing".
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from aiohttp import web

KINDS: dict[str, tuple[str, str]] = {
    "nodes": ("v1", "Node"), "pods": ("v1", "Pod"), "configmaps": ("v1", "ConfigMap"),
    "namespaces": ("v1", "Namespace"),
    "deployments": ("apps/v1", "Deployment"), "replicasets": ("apps/v1", "ReplicaSet"),
    "statefulsets": ("apps/v1", "StatefulSet"), "daemonsets": ("apps/v1", "DaemonSet"),
    "controllerrevisions": ("apps/v1", "ControllerRevision"), "jobs": ("batch/v1", "Job"),
    "poddisruptionbudgets": ("policy/v1", "PodDisruptionBudget"),
}
CLUSTER_SCOPED = {"nodes", "namespaces"}
WATCH_WINDOW = 200_000
"""Events retained for watch resume; older resourceVersions get 410 Gone."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.json_response(body, status=code)


def _labels_match(selector: str, labels: Mapping[str, str]) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value.lstrip("="):
            return False
    return True


class FakeApi:
    """The store plus the aiohttp app. One instance is one cluster."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
        self.version = 1
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self.logs: dict[tuple[str, str, str], list[tuple[float, str]]] = defaultdict(list)
        self.review_tokens: dict[str, tuple[str, list[str]]] = {}
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.fail_evictions: set[str] = set()
        self.log_followers = 0
        self.evictions: list[dict[str, Any]] = []
        """Bodies of the eviction requests received, in order."""
        self.patches: list[tuple[str, str, Any]] = []
        """(content type, path, body) of every PATCH received (including dry runs)."""
        self.url = ""
        self._runner: web.AppRunner | None = None

    # ---- store ---------------------------------------------------------------------------
    def put(self, plural: str, obj: dict[str, Any], event: str | None = None) -> dict[str, Any]:
        """Create or replace an object (bumps resourceVersion, records a watch event)."""
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "") if plural not in CLUSTER_SCOPED else "", meta["name"])
        existed = key in self.objects[plural]
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        meta.setdefault("uid", f"uid-{plural}-{key[0]}-{key[1]}")
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        api_version, kind = KINDS[plural]
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        self.objects[plural][key] = obj
        self._record(event or ("MODIFIED" if existed else "ADDED"), plural, obj)
        return obj

    def delete(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects[plural].pop((namespace, name), None)
        if obj is not None:
            self.version += 1
            obj["metadata"]["resourceVersion"] = str(self.version)
            self._record("DELETED", plural, obj)
        return obj

    def _record(self, kind: str, plural: str, obj: dict[str, Any]) -> None:
        self.events.append((self.version, kind, plural, obj))
        if len(self.events) > WATCH_WINDOW:
            del self.events[: len(self.events) - WATCH_WINDOW]
        self._changed.set()
        self._changed = asyncio.Event()

    def compact(self) -> None:
        """Forget all retained events (any older resourceVersion now gets 410 on watch)."""
        self.events.clear()

    def append_log(self, namespace: str, pod: str, container: str, line: str) -> None:
        self.logs[(namespace, pod, container)].append((time.time(), line))
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- http ----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        r = app.router
        for prefix in ("/api/{version}", "/apis/{group}/{version}"):
            r.add_get(prefix + "/{plural}", self.collection)
            r.add_get(prefix + "/namespaces/{ns}/{plural}", self.collection)
            r.add_get(prefix + "/{plural}/{name}", self.item)
            r.add_patch(prefix + "/{plural}/{name}", self.patch)
            r.add_get(prefix + "/namespaces/{ns}/{plural}/{name}", self.item)
            r.add_patch(prefix + "/namespaces/{ns}/{plural}/{name}", self.patch)
        r.add_post("/api/v1/namespaces/{ns}/pods/{name}/eviction", self.evict)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self.log)
        r.add_post("/apis/authentication.k8s.io/v1/tokenreviews", self.token_review)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
        self._runner = web.AppRunner(self.app(), shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[attr-defined]  # aiohttp keeps the server private
        self.url = f"http://{host}:{sockets[0].getsockname()[1]}"
        return self._runner

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _plural(self, request: web.Request) -> str | None:
        plural = request.match_info["plural"]
        return plural if plural in KINDS else None

    async def collection(self, request: web.Request) -> web.StreamResponse:
        plural = self._plural(request)
        if plural is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        self.requests[(request.method + (" watch" if request.query.get("watch") else ""), plural)] += 1
        namespace = request.match_info.get("ns")
        if request.query.get("watch") in ("1", "true"):
            return await self._watch(request, plural, namespace)
        selector = request.query.get("labelSelector", "")
        fields = request.query.get("fieldSelector", "")
        items = [o for (ns, _), o in self.objects[plural].items() if namespace is None or ns == namespace]
        if selector:
            items = [o for o in items if _labels_match(selector, o["metadata"].get("labels") or {})]
        if fields.startswith("spec.nodeName="):
            node = fields.split("=", 1)[1]
            items = [o for o in items if (o.get("spec") or {}).get("nodeName") == node]
        start = 0
        if request.query.get("continue"):
            try:
                start = int(base64.urlsafe_b64decode(request.query["continue"]).decode())
            except ValueError:
                return _status(400, "BadRequest", "invalid continue token")
        limit = int(request.query.get("limit", "0") or 0)
        page = items[start:start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(self.version)}
        if limit and start + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        api_version, kind = KINDS[plural]
        return web.json_response({"kind": kind + "List", "apiVersion": api_version, "metadata": meta,
                                  "items": page})

    async def _watch(self, request: web.Request, plural: str, namespace: str | None) -> web.StreamResponse:
        try:
            since = int(request.query.get("resourceVersion", "0") or 0)
        except ValueError:
            return _status(400, "BadRequest", "invalid resourceVersion")
        timeout = float(request.query.get("timeoutSeconds", "30"))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        oldest = self.events[0][0] if self.events else self.version + 1
        if since and since < oldest - 1 and since < self.version:
            error = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                 "code": 410, "reason": "Expired",
                                                 "message": f"too old resource version: {since}"}}
            await response.write(json.dumps(error).encode() + b"\n")
            return response
        deadline = time.monotonic() + timeout
        cursor = since
        while time.monotonic() < deadline:
            waiter = self._changed
            batch = [e for e in self.events if e[0] > cursor and e[2] == plural
                     and (namespace is None or e[3]["metadata"].get("namespace") == namespace)]
            if self.events:
                cursor = max(cursor, self.events[-1][0])
            for _, kind, _, obj in batch:
                await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            try:
                await asyncio.wait_for(waiter.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        return response

    def _get(self, request: web.Request) -> tuple[str, str, str, dict[str, Any] | None]:
        plural = self._plural(request) or ""
        namespace = "" if plural in CLUSTER_SCOPED else request.match_info.get("ns", "")
        name = request.match_info["name"]
        return plural, namespace, name, self.objects[plural].get((namespace, name)) if plural else None

    async def item(self, request: web.Request) -> web.Response:
        plural, _, name, obj = self._get(request)
        self.requests[("GET", plural)] += 1
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{name}" not found')
        return web.json_response(obj)

    async def patch(self, request: web.Request) -> web.Response:
        plural, _, name, obj = self._get(request)
        self.requests[("PATCH", plural)] += 1
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{name}" not found')
        if request.content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return _status(415, "UnsupportedMediaType", f"unsupported patch type {request.content_type}")
        try:
            body = await request.json()
        except ValueError:
            return _status(400, "BadRequest", "invalid JSON patch")
        self.patches.append((request.content_type, request.path, body))
        patched = merge_patch(obj, body)
        patched["metadata"]["name"] = name
        if request.query.get("dryRun") == "All":
            return web.json_response(patched)
        return web.json_response(self.put(plural, patched))

    async def evict(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        self.requests[("POST", "eviction")] += 1
        pod = self.objects["pods"].get((namespace, name))
        if pod is None:
            return _status(404, "NotFound", f'pods "{name}" not found')
        if name in self.fail_evictions:
            return _status(500, "InternalError", "eviction failed")
        labels = pod["metadata"].get("labels") or {}
        try:
            body = await request.json()
        except ValueError:
            body = {}
        self.evictions.append(body)
        dry_run = bool((body.get("deleteOptions") or {}).get("dryRun"))
        covering = []
        for (pdb_ns, pdb_name), pdb in self.objects["poddisruptionbudgets"].items():
            match = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if pdb_ns == namespace and match and all(labels.get(k) == v for k, v in match.items()):
                allowed = int((pdb.get("status") or {}).get("disruptionsAllowed", 0))
                if allowed <= 0:
                    return _status(429, "TooManyRequests",
                                   f"Cannot evict pod as it would violate the pod's disruption budget {pdb_name}")
                covering.append(pdb)
        if not dry_run:
            for pdb in covering:  # the real API server spends one allowed disruption per eviction
                pdb["status"]["disruptionsAllowed"] -= 1
                self.put("poddisruptionbudgets", pdb)
            self.delete("pods", namespace, name)
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201},
                                 status=201)

    async def log(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        pod = self.objects["pods"].get((namespace, name))
        if pod is None:
            return _status(404, "NotFound", f'pods "{name}" not found')
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers", [])]
        container = request.query.get("container") or (containers[0] if len(containers) == 1 else "")
        if container not in containers:
            return _status(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                              f"choose one of: {containers}")
        lines = self.logs[(namespace, name, container)]
        try:
            since = int(request.query["sinceSeconds"]) if "sinceSeconds" in request.query else None
            tail = int(request.query["tailLines"]) if "tailLines" in request.query else None
            limit = int(request.query["limitBytes"]) if "limitBytes" in request.query else None
        except ValueError:
            return _status(400, "BadRequest", "invalid log options")
        if since is not None:
            cutoff = time.time() - since
            lines = [entry for entry in lines if entry[0] >= cutoff]
        if tail is not None:
            lines = lines[-tail:] if tail else []
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        body = b"".join(line.encode() + b"\n" for _, line in lines)
        await response.write(body[:limit] if limit is not None else body)
        if request.query.get("follow") in ("true", "1"):
            self.log_followers += 1
            try:
                sent = len(self.logs[(namespace, name, container)])
                while (namespace, name) in self.objects["pods"]:
                    if request.transport is None or request.transport.is_closing():
                        break  # the client went (the real server's request context ends too)
                    waiter = self._changed
                    current = self.logs[(namespace, name, container)]
                    for _, line in current[sent:]:
                        await response.write(line.encode() + b"\n")
                    sent = len(current)
                    try:
                        await asyncio.wait_for(waiter.wait(), 1.0)
                    except TimeoutError:
                        continue
            finally:
                self.log_followers -= 1
        return response

    async def token_review(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = ((body or {}).get("spec") or {}).get("token", "")
        user = self.review_tokens.get(token)
        status: dict[str, Any] = {"authenticated": False}
        if user is not None:
            status = {"authenticated": True, "user": {"username": user[0], "groups": user[1]}}
        return web.json_response({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                  "status": status}, status=201)


INSTANCE_TYPES = ("m6i.xlarge", "m6i.2xlarge", "c6i.4xlarge", "r6i.2xlarge")
TIER_CLASSES = ("infera-critical", "infera-high", "infera-normal", "infera-low", "infera-background")


def tier_load_annotation(cpus: int, seed: int) -> str:
    tiers = {t: [500 + (seed * 37 + i * 211) % 3000, 200 + (seed * 53 + i * 97) % 2000, round((seed + i) % 17 * 0.7, 2)]
             for i, t in enumerate(("critical", "high", "normal", "low", "background"))}
    return json.dumps({"v": 1, "ts": 1764316800, "cpus": cpus, "fenced": f"{cpus - 2}-{cpus - 1}",
                       "free_m": 350, "tiers": tiers}, separators=(",", ":"))


def make_node(name: str, seed: int = 0, instance_type: str | None = None) -> dict[str, Any]:
    cpus = 8 if seed % 2 == 0 else 16
    return {"metadata": {"name": name, "labels": {
        "node.kubernetes.io/instance-type": instance_type or INSTANCE_TYPES[seed % len(INSTANCE_TYPES)],
        "topology.kubernetes.io/region": "eu-west-1", "karpenter.sh/capacity-type": "on-demand"},
        "annotations": {
            "infera.io/tier-load": tier_load_annotation(cpus, seed),
            "infera.io/enforcement": json.dumps({"v": 1, "state": "enforcing", "reason": "", "kernel": "6.12.8",
                                                 "since": 1764316800, "exit": "", "scheduler": "temper"}),
        }},
        "spec": {}, "status": {"capacity": {"cpu": str(cpus)}, "allocatable": {"cpu": str(cpus)},
                               "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}


def make_pod(namespace: str, name: str, node: str, seed: int = 0, owner: tuple[str, str] | None = None,
             labels: dict[str, str] | None = None, scaled: bool = False) -> dict[str, Any]:
    request = 100 + (seed * 50) % 900
    annotations: dict[str, str] = {}
    if scaled:
        annotations["infera.io/original-cpu-requests"] = json.dumps({"app": f"{request * 2}m"})
        annotations["infera.io/overcommit-factor"] = "0.5"
    meta: dict[str, Any] = {"namespace": namespace, "name": name, "uid": f"uid-{namespace}-{name}",
                            "labels": labels or {"app": name.rsplit("-", 1)[0]}, "annotations": annotations}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": f"uid-{owner[1]}", "controller": True}]
    return {"metadata": meta, "spec": {
        "nodeName": node, "priorityClassName": TIER_CLASSES[seed % len(TIER_CLASSES)],
        "containers": [{"name": "app", "image": "registry.example/app:1",
                        "resources": {"requests": {"cpu": f"{request}m"}, "limits": {"cpu": f"{request * 2}m"}}}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0}]}}


def populate(api: FakeApi, nodes: int = 10, pods: int = 60, namespaces: int = 10) -> None:
    """A synthetic fleet: nodes, one Deployment (+ReplicaSet) per namespace/app, pods spread evenly."""
    for i in range(nodes):
        api.put("nodes", make_node(f"node-{i:05d}", i))
    apps_per_ns = max(1, pods // max(1, namespaces) // 30)
    for n in range(namespaces):
        namespace = f"ns-{n:03d}"
        api.put("namespaces", {"metadata": {"name": namespace}})
        for a in range(apps_per_ns):
            app = f"app{a}"
            api.put("deployments", {"metadata": {"namespace": namespace, "name": app, "generation": 1,
                                                 "annotations": {"deployment.kubernetes.io/revision": "1"}},
                                    "spec": {"replicas": 30, "selector": {"matchLabels": {"app": app}},
                                             "template": {"metadata": {"labels": {"app": app}},
                                                          "spec": {"containers": [{"name": "app", "image": "a:1"}]}}},
                                    "status": {"replicas": 30, "readyReplicas": 30}})
            api.put("replicasets", {"metadata": {
                "namespace": namespace, "name": f"{app}-1", "annotations": {"deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": "x",
                                     "controller": True}]},
                "spec": {"replicas": 30, "template": {"metadata": {"labels": {"app": app}},
                                                      "spec": {"containers": [{"name": "app", "image": "a:1"}]}}}})
    for p in range(pods):
        namespace = f"ns-{p % namespaces:03d}"
        app = f"app{(p // namespaces) % apps_per_ns}"
        api.put("pods", make_pod(namespace, f"{app}-{p:06d}", f"node-{p % max(1, nodes):05d}", p,
                                 owner=("ReplicaSet", f"{app}-1"), labels={"app": app}, scaled=p % 4 == 0))


def _template(image: str, app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": image,
                                     "resources": {"requests": {"cpu": "200m"}, "limits": {"cpu": "400m"}}}]}}


def populate_workloads(api: FakeApi, namespace: str = "apps", node: str = "node-00000") -> None:
    """One workload of each kind in ``namespace``, with revision history and pods on ``node``:
    Deployment ``web`` (ReplicaSets web-1 image web:1 and web-2 image web:2, revision 2 live,
    two pods), StatefulSet ``db`` (ControllerRevisions 1 and 2, one pod), DaemonSet ``agent``
    (one ControllerRevision, one pod) and Job ``batch`` (one pod). ReplicaSets carry a
    ``pod-template-hash`` label as the real controller sets it."""
    api.put("namespaces", {"metadata": {"name": namespace}})

    def owner(kind: str, name: str) -> list[dict[str, Any]]:
        return [{"apiVersion": "apps/v1" if kind != "Job" else "batch/v1", "kind": kind, "name": name,
                 "uid": f"uid-{kind}-{name}", "controller": True}]

    api.put("deployments", {"metadata": {"namespace": namespace, "name": "web", "uid": "uid-Deployment-web",
                                         "annotations": {"deployment.kubernetes.io/revision": "2"},
                                         "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
                            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                                     "template": _template("web:2", "web")},
                            "status": {"replicas": 2, "readyReplicas": 1}})
    for revision in (1, 2):
        template = _template(f"web:{revision}", "web")
        template["metadata"]["labels"]["pod-template-hash"] = f"hash{revision}"
        api.put("replicasets", {"metadata": {
            "namespace": namespace, "name": f"web-{revision}", "uid": f"uid-rs-web-{revision}",
            "labels": {"app": "web", "pod-template-hash": f"hash{revision}"},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": owner("Deployment", "web")},
            "spec": {"replicas": 2 if revision == 2 else 0, "template": template}})
    api.put("statefulsets", {"metadata": {"namespace": namespace, "name": "db", "uid": "uid-StatefulSet-db"},
                             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                                      "template": _template("db:2", "db")},
                             "status": {"replicas": 1, "readyReplicas": 1}})
    api.put("daemonsets", {"metadata": {"namespace": namespace, "name": "agent", "uid": "uid-DaemonSet-agent"},
                           "spec": {"selector": {"matchLabels": {"app": "agent"}},
                                    "template": _template("agent:1", "agent")},
                           "status": {"desiredNumberScheduled": 3, "numberReady": 2}})
    for name, kind, app, revision in (("db-1", "StatefulSet", "db", 1), ("db-2", "StatefulSet", "db", 2),
                                      ("agent-1", "DaemonSet", "agent", 1)):
        template = _template(f"{app}:{revision}", app)
        template["$patch"] = "replace"
        api.put("controllerrevisions", {"metadata": {"namespace": namespace, "name": name,
                                                     "labels": {"app": app},
                                                     "ownerReferences": owner(kind, app)},
                                        "revision": revision, "data": {"spec": {"template": template}}})
    api.put("jobs", {"metadata": {"namespace": namespace, "name": "batch", "uid": "uid-Job-batch"},
                     "spec": {"completions": 3, "parallelism": 1, "template": _template("batch:1", "batch")},
                     "status": {"succeeded": 1}})
    pods = [("web-2-aaaaa", ("ReplicaSet", "web-2"), "web"), ("web-2-bbbbb", ("ReplicaSet", "web-2"), "web"),
            ("db-0", ("StatefulSet", "db"), "db"), ("agent-xyz", ("DaemonSet", "agent"), "agent"),
            ("batch-q1", ("Job", "batch"), "batch")]
    for i, (name, owned_by, app) in enumerate(pods):
        api.put("pods", make_pod(namespace, name, node, i, owner=owned_by, labels={"app": app}, scaled=i == 0))


def observe_for(api: FakeApi, node: str) -> dict[str, Any]:
    """An agent ``/observe`` document for ``node`` built from the pods the fake API holds."""
    pods = []
    for (_, _), pod in api.objects["pods"].items():
        if pod["spec"].get("nodeName") != node:
            continue
        request = int(pod["spec"]["containers"][0]["resources"]["requests"]["cpu"].rstrip("m"))
        tier = pod["spec"]["priorityClassName"].split("-", 1)[1]
        pods.append({"uid": pod["metadata"]["uid"], "namespace": pod["metadata"]["namespace"],
                     "name": pod["metadata"]["name"], "tier": tier,
                     "qos": "Burstable", "phase": "Running", "request_m": request, "limit_m": request * 2,
                     "used_m": request // 3, "pressure_pct": 1.5, "planned": True,
                     "cgroup": {"path": f"kubepods.slice/{pod['metadata']['uid']}", "id": 1},
                     "throttling": {"nr_periods": 1000, "nr_throttled": 25, "throttled_seconds": 0.75}})
    kinds = {"critical": ("confined", "6-7"), "high": ("grouped", "0-5"), "normal": ("grouped", "0-5"),
             "low": ("open", "0-5"), "background": ("open", "0-5")}
    plan = {"schema": 1, "online": "0-7", "fenced": "6-7", "shared": "0-5", "critical_request_m": 0,
            "fence_wanted_cpus": 2, "fence_capped": False, "starvation_guard_us": 5000,
            "pinned_fenced": "", "pinned_unfenced": "",
            "tiers": [{"tier": t, "kind": k, "cpus": c, "weight": 100, "slice_us": 2000, "preempt": t == "critical",
                       "preemptible": k == "open", "may_borrow_fenced": False, "util_band": [0.5, 0.8],
                       "pods": sum(1 for p in pods if p["tier"] == t),
                       "request_m": sum(p["request_m"] for p in pods if p["tier"] == t)}
                      for t, (k, c) in kinds.items()],
            "members": [{"uid": p["uid"], "pod": f"{p['namespace']}/{p['name']}", "tier": p["tier"],
                         "request_m": p["request_m"], "weight": 100, "pinned": ""} for p in pods]}
    return {"node": node, "online": "0-7", "tiers": {}, "pods": pods, "skipped": {}, "pod_errors": [],
            "pod_source_error": None, "plan": plan,
            "enforcement": {"state": "enforcing", "reason": "", "kernel": "6.12.8", "since": 1764316800, "exit": ""},
            "enforcer": {"attached": True, "scheduler": "temper", "last_exit": "", "attach_count": 1, "counters": {}},
            "ready": True}


class FakeAgents:
    """A fake node agent for every node: ``GET /observe/{node}`` and ``POST /traces/{node}``.

    The console's agent URL template is set to ``{url}/observe/{node}`` style by tests
    (``--agent-url 'http://127.0.0.1:PORT/{node}'``): the template gets ``/observe`` appended.
    ``down`` holds nodes whose agent answers 503; ``traces`` toggles whether the trace endpoint exists.
    """

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.down: set[str] = set()
        self.observed: dict[str, int] = {}
        """node -> how many /observe requests its agent answered."""
        self.traces_supported = True
        self.trace_blobs: dict[str, bytes] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{node}/observe", self.observe)
        app.router.add_post("/{node}/traces", self.trace)
        app.router.add_get("/{node}/traces/{id}", self.download)
        return app

    async def observe(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        if node in self.down:
            return web.Response(status=503, text="agent down")
        self.observed[node] = self.observed.get(node, 0) + 1
        return web.json_response(observe_for(self.api, node))

    async def trace(self, request: web.Request) -> web.Response:
        if not self.traces_supported:
            return web.Response(status=404, text="404: Not Found")
        trace_id = f"t{len(self.trace_blobs) + 1}"
        self.trace_blobs[trace_id] = b"trace-bytes-" + request.match_info["node"].encode()
        return web.json_response({"trace_id": trace_id})

    async def download(self, request: web.Request) -> web.Response:
        blob = self.trace_blobs.get(request.match_info["id"])
        if blob is None:
            return web.Response(status=404, text="no such trace")
        return web.Response(body=blob, content_type="application/octet-stream")
