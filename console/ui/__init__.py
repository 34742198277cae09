"""Static serving of the console's web UI: the single page at ``/`` and its assets at ``/static/``.

Why a separate module: the UI is plain files (ES modules, CSS, vendored Preact/htm/uPlot built by
``scripts/build-ui.sh`` from ``console/ui/package-lock.json``); the server only has to hand them
out. Invariants: nothing here reads request data beyond the path, which aiohttp's static handler
confines to ``static/`` (no traversal); the page is sent with a Content-Security-Policy that
allows only this origin, plus the hash of the one inline import map, so the UI can make no
external call even by mistake.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"


def _csp(index_html: str) -> str:
    match = re.search(r'<script type="importmap">(.*?)</script>', index_html, re.S)
    hashes = ""
    if match:
        digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
        hashes = f" 'sha256-{digest}'"
    return (f"default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


def add_ui_routes(app: web.Application) -> None:
    """Serve ``GET /`` (the page) and ``GET /static/...`` (assets) on ``app``."""
    index = (STATIC / "index.html").read_text()
    headers = {"Content-Security-Policy": _csp(index), "X-Content-Type-Options": "nosniff",
               "Cache-Control": "no-cache"}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=index, content_type="text/html", headers=headers)

    app.router.add_get("/", page)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
