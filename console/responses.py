"""Decode a request, encode a response, refuse a request: the handlers' shared edges.

Why it exists: every handler answers in the shapes the OpenAPI document declares — a model as
JSON, or an ``ErrorResponse`` (``{"error": {"code", "message"}}``) with a status — so the
mapping lives here once. 4xx are the client's doing (bad input, unknown object, no rights);
502/503 say an upstream (the API server, an agent) failed — never a bare 500. Query strings
are validated by their ``console.models`` query model; a failure is a 400 naming the field.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from console import models as m

Q = TypeVar("Q", bound=BaseModel)

_CLASSES: dict[int, type[web.HTTPError]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
    409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType,
    429: web.HTTPTooManyRequests, 502: web.HTTPBadGateway, 503: web.HTTPServiceUnavailable,
    504: web.HTTPGatewayTimeout,
}


def error(status: int, code: str, message: str) -> web.HTTPError:
    """An exception to raise from a handler; unknown statuses become 400 (the client's)."""
    body = m.ErrorResponse(error=m.ErrorBody(code=code, message=message)).model_dump_json()
    return _CLASSES.get(status, web.HTTPBadRequest)(text=body, content_type="application/json")


def encode(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(by_alias=True), content_type="application/json")


def encode_json(body: bytes) -> web.Response:
    """Already-encoded JSON (a page from ``console.index.page_json``)."""
    return web.Response(body=body, content_type="application/json")


def parse_query(request: web.Request, model: type[Q]) -> Q:
    """The request's query string as ``model``; a 400 naming the first bad parameter."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "query"
        raise error(400, "bad-parameter", f"{where}: {first.get('msg', 'invalid')}") from None
