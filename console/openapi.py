"""OpenAPI 3.1 for /api/v1, generated from ``console.models`` (never hand-written JSON).

``ROUTES`` lists (method, path, response model, minimum role); the server registers handlers
for the same table, so the spec and the router cannot drift, and ``console.auth`` takes each
route's role from it. Side tables keyed by (method, path) add what only some routes have:
``BODIES`` (request bodies), ``QUERIES`` (query parameters as OpenAPI dicts), ``QUERY_MODELS``
(query parameters as a pydantic model the handler validates with), ``MEDIA`` (non-JSON answers:
logs, the event stream, exports, traces), ``ROUTE_ERRORS`` (statuses one route alone answers);
``PATH_SCHEMAS`` narrows path parameters, ``ROUTE_PATH_SCHEMAS`` on one route.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from console import models as m

ROUTES: list[tuple[str, str, type[BaseModel], str | None]] = [
    ("get", "/api/v1/healthz", m.Health, None),
    ("get", "/api/v1/whoami", m.WhoAmI, "viewer"),
    ("get", "/api/v1/clusters", m.ClusterList, "viewer"),
    ("get", "/api/v1/clusters/{c}/nodes", m.NodePage, "viewer"),
    ("get", "/api/v1/clusters/{c}/pods", m.PodPage, "viewer"),
    # the explorer (console.explorer_api)
    ("get", "/api/v1/events", m.EventStream, "viewer"),
    ("get", "/api/v1/clusters/{c}/nodes/{name}", m.NodeDetail, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}", m.PodDetail, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/containers/{container}", m.ContainerDetail, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/performance", m.PodPerformance, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/logs", m.LogText, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/manifest", m.Manifest, "viewer"),
    ("get", "/api/v1/clusters/{c}/workloads", m.WorkloadPage, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}", m.WorkloadDetail, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/manifest", m.Manifest, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/revisions", m.RevisionList, "viewer"),
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/revisions/diff", m.RevisionDiff,
     "viewer"),
    # roles, tokens, audit, actions (console.actions)
    ("get", "/api/v1/tokens", m.TokenList, "admin"),
    ("post", "/api/v1/tokens", m.TokenCreated, "admin"),
    ("delete", "/api/v1/tokens/{name}", m.ActionResult, "admin"),
    ("get", "/api/v1/audit", m.AuditList, "admin"),
    ("get", "/api/v1/audit/export", m.AuditRecord, "admin"),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/cordon", m.ActionResult, "operator"),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/uncordon", m.ActionResult, "operator"),
    ("get", "/api/v1/clusters/{c}/nodes/{node}/drain", m.DrainPreview, "operator"),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/drain", m.DrainResult, "operator"),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/safe-mode", m.SafeModeResult, "operator"),
    ("post", "/api/v1/clusters/{c}/safe-mode", m.SafeModeResult, "operator"),
    ("post", "/api/v1/clusters/{c}/workloads/{kind}/{ns}/{name}/restart", m.ActionResult, "operator"),
    ("post", "/api/v1/clusters/{c}/nodes/{node}/traces", m.TraceResult, "operator"),
    ("get", "/api/v1/clusters/{c}/nodes/{node}/traces/{trace}", m.TraceResult, "operator"),
    # savings (console.savings_api); recording a baseline is an audited admin mutation
    ("get", "/api/v1/clusters/{c}/savings", m.Savings, "viewer"),
    ("get", "/api/v1/clusters/{c}/savings/baseline", m.Baseline, "viewer"),
    ("post", "/api/v1/clusters/{c}/savings/baseline", m.Baseline, "admin"),
]

_OBJECT_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"}
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "node": _OBJECT_NAME, "ns": _OBJECT_NAME, "name": _OBJECT_NAME,
    "kind": {"enum": ["Deployment", "StatefulSet", "DaemonSet"]},
    "trace": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
    "container": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
}
"""Path parameters narrower than any string (Kubernetes object names, ...); others are strings."""

BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/api/v1/tokens"): m.TokenRequest,
    ("post", "/api/v1/clusters/{c}/nodes/{node}/drain"): m.DrainRequest,
    ("post", "/api/v1/clusters/{c}/nodes/{node}/safe-mode"): m.SafeModeRequest,
    ("post", "/api/v1/clusters/{c}/safe-mode"): m.SafeModeRequest,
    ("post", "/api/v1/clusters/{c}/nodes/{node}/traces"): m.TraceRequest,
    ("post", "/api/v1/clusters/{c}/savings/baseline"): m.BaselineRequest,
}
"""Request-body model of each route that takes one (JSON; an empty body means the defaults)."""

_TIME = {"type": "number", "minimum": 0}
QUERIES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("get", "/api/v1/audit"): [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
        {"name": "continue", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
        {"name": "since", "in": "query", "schema": _TIME}, {"name": "until", "in": "query", "schema": _TIME},
        {"name": "verify", "in": "query", "schema": {"enum": ["full"]},
         "description": "re-hash the whole chain (default: only what is new since the last check)"}],
    ("get", "/api/v1/audit/export"): [
        {"name": "format", "in": "query", "schema": {"enum": ["jsonl", "csv"]}},
        {"name": "since", "in": "query", "schema": _TIME}, {"name": "until", "in": "query", "schema": _TIME}],
    ("get", "/api/v1/clusters/{c}/savings"): [{"name": "window", "in": "query", "schema": {
        "type": "string", "enum": ["1h", "24h", "7d", "30d", "month"], "default": "month"}}],
}
"""Query parameters written out as OpenAPI (``QUERY_MODELS`` has the ones generated from models)."""
MEDIA: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/v1/audit/export"): {"application/jsonl": {"schema": {"type": "string"}},
                                      "text/csv": {"schema": {"type": "string"}}},
    ("get", "/api/v1/clusters/{c}/nodes/{node}/traces/{trace}"): {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/logs"): {"text/plain": {"schema": {"type": "string"}}},
    ("get", "/api/v1/events"): {"text/event-stream": {"schema": {  # frames of Event / StreamReset data
        "type": "string", "description": "event: nodes | pods | workloads (data: an Event) or reset (data: a "
                                         "StreamReset); id: EPOCH-SEQ, for Last-Event-ID"}}},
}
"""Routes whose 200 body is not the JSON of their model."""
UPSTREAM_ERRORS: dict[str, str] = {
    "502": "upstream failed: the API server, a node agent, or (hub) the peer cluster is unreachable",
    "504": "upstream timed out: the API server, a node agent, or (hub) the peer cluster"}
"""Error statuses of every route that mutates, reaches an agent, or names a cluster (a hub
forwards ``/api/v1/clusters/{peer}/...``)."""
EXTRA_ERRORS: dict[str, str] = {"409": "conflict (already exists, or a drain of this node is running)",
                                "501": "the node agent lacks this feature", **UPSTREAM_ERRORS}
"""Further error statuses of every route that mutates or reaches an agent."""
ROUTE_ERRORS: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/api/v1/clusters/{c}/savings/baseline"): {"503": "the data dir refused the baseline write"},
}
"""Error statuses only one route answers."""

QUERY_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("get", "/api/v1/clusters/{c}/nodes"): m.ListQuery,
    ("get", "/api/v1/clusters/{c}/pods"): m.PodListQuery,
    ("get", "/api/v1/clusters/{c}/workloads"): m.WorkloadListQuery,
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/logs"): m.LogQuery,
    ("get", "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/revisions/diff"): m.DiffQuery,
    ("get", "/api/v1/events"): m.EventsQuery,
}
"""Query-string model per route: the handler validates with it, the spec lists its fields."""
_WORKLOAD = "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}"
ROUTE_PATH_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    (path, "kind"): {"enum": ["Deployment", "StatefulSet", "DaemonSet", "Job"]}
    for path in (_WORKLOAD, _WORKLOAD + "/manifest", _WORKLOAD + "/revisions", _WORKLOAD + "/revisions/diff")}
"""Path parameters that differ from ``PATH_SCHEMAS`` on one route (the explorer shows Jobs)."""


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters from a query model (an optional value is simply left out, so
    ``null`` is dropped from its schema)."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title" and not (k == "default" and v is None)}
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options
        if "const" in prop and "enum" not in prop:
            prop["enum"] = [prop.pop("const")]
        params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params



def spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    models: set[type[BaseModel]] = {m.ErrorResponse, m.Event, m.StreamReset}  # the last two: SSE data
    models |= {r[2] for r in ROUTES}
    every: list[tuple[type[BaseModel], Literal["serialization", "validation"]]] = [
        (model, "serialization") for model in models]
    every += [(model, "validation") for model in set(BODIES.values())]
    _, defs = models_json_schema(every, ref_template="#/components/schemas/{model}", by_alias=True)
    paths: dict[str, Any] = {}
    for method, path, model, role in ROUTES:
        params = [{"name": p.strip("{}"), "in": "path", "required": True,
                   "schema": ROUTE_PATH_SCHEMAS.get((path, p.strip("{}")))
                   or PATH_SCHEMAS.get(p.strip("{}"), {"type": "string"})}
                  for p in path.split("/") if p.startswith("{")]
        if (method, path) in QUERY_MODELS:
            params += query_parameters(QUERY_MODELS[(method, path)])
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        responses: dict[str, Any] = {"200": {"description": "ok", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}},
            "400": {"description": "bad input", **error},
            "404": {"description": "not found", **error}}
        operation: dict[str, Any] = {"operationId": method + path.replace("/", "_").replace("{", "").replace("}", ""),
                                     "parameters": params, "responses": responses}
        params += QUERIES.get((method, path), [])
        if (method, path) in MEDIA:
            responses["200"]["content"] = MEDIA[(method, path)]
        if (method, path) in BODIES:
            body = BODIES[(method, path)]
            operation["requestBody"] = {  # optional when every field has a default (empty body = defaults)
                "required": any(f.is_required() for f in body.model_fields.values()),
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}}}
        if "{c}" in path:
            responses.update({code: {"description": text, **error} for code, text in UPSTREAM_ERRORS.items()})
        if method != "get" or "/traces" in path:
            responses.update({code: {"description": text, **error} for code, text in EXTRA_ERRORS.items()})
        responses.update({code: {"description": text, **error}
                          for code, text in ROUTE_ERRORS.get((method, path), {}).items()})
        if role is not None:
            operation["security"] = [{"bearer": []}]
            responses["401"] = {"description": "no or bad token", **error}
            responses["403"] = {"description": f"needs role {role}", **error}
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0", "info": {"title": "Temper console", "version": "1"}, "paths": paths,
            "components": {"schemas": defs.get("$defs", {}),
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}
