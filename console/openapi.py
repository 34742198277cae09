"""OpenAPI 3.1 for /api/v1, generated from ``console.models`` (never hand-written JSON).

``ROUTES`` lists (method, path, response model, minimum role); the server registers handlers
for the same table, so the spec and the router cannot drift.
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
    ("get", "/api/v1/clusters/{c}/savings", m.Savings, "viewer"),
    ("get", "/api/v1/clusters/{c}/savings/baseline", m.Baseline, "viewer"),
    ("post", "/api/v1/clusters/{c}/savings/baseline", m.Baseline, "admin"),
]

QUERY: dict[str, list[dict[str, Any]]] = {
    "/api/v1/clusters/{c}/savings": [{"name": "window", "in": "query", "schema": {
        "type": "string", "enum": ["1h", "24h", "7d", "30d", "month"], "default": "month"}}],
}
"""Query parameters of routes other than the paged lists, by path."""

BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/api/v1/clusters/{c}/savings/baseline"): m.BaselineRequest,
}
"""Request bodies by (method, path); optional (an empty body is the default request)."""


def spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    models = {r[2] for r in ROUTES} | set(BODIES.values()) | {m.ErrorResponse}
    every: list[tuple[type[BaseModel], Literal["serialization"]]] = [(model, "serialization") for model in models]
    _, defs = models_json_schema(every, ref_template="#/components/schemas/{model}", by_alias=True)
    paths: dict[str, Any] = {}
    for method, path, model, role in ROUTES:
        params = [{"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in path.split("/") if p.startswith("{")]
        if path.endswith(("/nodes", "/pods")):
            params += [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                       {"name": "continue", "in": "query", "schema": {"type": "string"}},
                       {"name": "q", "in": "query", "schema": {"type": "string"}}]
        params += QUERY.get(path, [])
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        responses: dict[str, Any] = {"200": {"description": "ok", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}},
            "400": {"description": "bad input", **error},
            "404": {"description": "not found", **error},
            "503": {"description": "a store or dependency is unavailable", **error}}
        if "{c}" in path:
            responses["502"] = {"description": "hub: the peer cluster is unreachable", **error}
            responses["504"] = {"description": "hub: the peer cluster did not answer in time", **error}
        operation: dict[str, Any] = {"operationId": method + path.replace("/", "_").replace("{", "").replace("}", ""),
                                     "parameters": params, "responses": responses}
        if (method, path) in BODIES:
            operation["requestBody"] = {"required": False, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{BODIES[(method, path)].__name__}"}}}}
        if role is not None:
            operation["security"] = [{"bearer": []}]
            responses["401"] = {"description": "no or bad token", **error}
            responses["403"] = {"description": f"needs role {role}", **error}
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0", "info": {"title": "Temper console", "version": "1"}, "paths": paths,
            "components": {"schemas": defs.get("$defs", {}),
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}
