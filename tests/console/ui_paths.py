"""The API paths the web UI calls, and whether the OpenAPI spec has them (pure; no I/O).

Two sources feed it: a static scan of the UI's JavaScript (``templates``: every string or
template literal that starts with ``/api/v1/<something>``, with ``${q(...)}`` query builders
dropped and any other ``${...}`` turned into a ``{}`` path parameter), and the requests the
browser tests record (concrete paths). ``spec_path`` matches either against the spec's path
templates segment by segment: a literal matches itself or a ``{param}``; a ``{}`` from the UI
matches only a ``{param}`` (the UI may put any value there, so a spec literal is not enough).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

API_LITERAL = re.compile(r"""[`'"](?=/api/v1/[A-Za-z0-9{$])""")
PARAM = "{}"


def _template(source: str, start: int) -> tuple[str, int]:
    """The path of the template literal whose first character is ``source[start]`` (a backtick),
    and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(source) and source[i] != "`":
        if source.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(source) and depth:
                depth += {"{": 1, "}": -1}.get(source[j], 0)
                j += 1
            expression = source[i + 2:j - 1].strip()
            out.append("" if expression.startswith("q(") else PARAM)
            i = j
        else:
            out.append(source[i])
            i += 1
    return "".join(out), i + 1


def templates(source: str) -> Iterator[str]:
    """Every /api/v1 path literal in JavaScript ``source``, query strings removed."""
    pos = 0
    while (found := API_LITERAL.search(source, pos)) is not None:
        quote = source[found.start()]
        if quote == "`":
            path, pos = _template(source, found.start())
        else:
            end = source.find(quote, found.start() + 1)
            path, pos = source[found.start() + 1:end], end + 1
        yield path.split("?", 1)[0]


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def _matches(ui: list[str], spec: list[str]) -> bool:
    if len(ui) != len(spec):
        return False
    for have, want in zip(ui, spec, strict=True):
        is_param = want.startswith("{") and want.endswith("}")
        if have == PARAM and not is_param:
            return False
        if have != PARAM and not is_param and have != want:
            return False
        if not have:
            return False
    return True


def spec_path(path: str, spec_paths: Iterable[str]) -> str | None:
    """The spec path template ``path`` (a UI template or a concrete request path) falls under."""
    ui = _segments(path)
    for candidate in spec_paths:
        if _matches(ui, _segments(candidate)):
            return candidate
    return None
