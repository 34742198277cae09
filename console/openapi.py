"""OpenAPI 3.1 for /api/v1, generated from ``console.models`` (never hand-written JSON).

``ROUTES`` lists (method, path, response model, minimum role); the server registers handlers
for the same table, so the spec and the router cannot drift. ``QUERIES`` names the query model
of a path (the handler validates with the same model). A response model with a ``media_type``
(``models.TextBody``: logs, the event stream) is declared as that content type with a string
body instead of a JSON schema.
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
]

QUERIES: dict[str, type[BaseModel]] = {
    "/api/v1/clusters/{c}/nodes": m.ListQuery,
    "/api/v1/clusters/{c}/pods": m.PodListQuery,
    "/api/v1/clusters/{c}/workloads": m.WorkloadListQuery,
    "/api/v1/clusters/{c}/namespaces/{ns}/pods/{name}/logs": m.LogQuery,
    "/api/v1/clusters/{c}/namespaces/{ns}/workloads/{kind}/{name}/revisions/diff": m.DiffQuery,
    "/api/v1/events": m.EventsQuery,
}
"""Query-string model per path: the handler validates with it, the spec lists its fields."""


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


def _content(model: type[BaseModel]) -> dict[str, Any]:
    media = getattr(model, "media_type", "application/json")
    schema = {"type": "string"} if media != "application/json" else {"$ref": f"#/components/schemas/{model.__name__}"}
    return {media: {"schema": schema}}


def spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    models: set[type[BaseModel]] = {m.ErrorResponse, m.Event, m.StreamReset}  # the last two: SSE data
    models |= {r[2] for r in ROUTES if getattr(r[2], "media_type", None) is None}
    every: list[tuple[type[BaseModel], Literal["serialization"]]] = [(model, "serialization") for model in models]
    _, defs = models_json_schema(every, ref_template="#/components/schemas/{model}", by_alias=True)
    paths: dict[str, Any] = {}
    for method, path, model, role in ROUTES:
        params = [{"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in path.split("/") if p.startswith("{")]
        if path in QUERIES:
            params += query_parameters(QUERIES[path])
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        responses: dict[str, Any] = {"200": {"description": "ok", "content": _content(model)},
            "400": {"description": "bad input", **error},
            "404": {"description": "not found", **error}}
        operation: dict[str, Any] = {"operationId": method + path.replace("/", "_").replace("{", "").replace("}", ""),
                                     "parameters": params, "responses": responses}
        if role is not None:
            operation["security"] = [{"bearer": []}]
            responses["401"] = {"description": "no or bad token", **error}
            responses["403"] = {"description": f"needs role {role}", **error}
        if path.startswith("/api/v1/clusters/{c}/"):
            responses["502"] = {"description": "the API server failed", **error}
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0", "info": {"title": "Temper console", "version": "1"}, "paths": paths,
            "components": {"schemas": defs.get("$defs", {}),
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}
