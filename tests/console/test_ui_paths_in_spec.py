"""Every /api/v1 path the web UI's JavaScript can call is a path of the OpenAPI spec.

A static scan (``tests.console.ui_paths``) of every module under console/ui/static/js; the
browser tests check the requests Chromium really made against the same spec (with methods).
Paths whose routes live on other branches are listed in ``tests.console.ui_routes_pending`` and
must not be in the spec yet (so the list is emptied as those routes land). No server runs here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.openapi import spec
from tests.console.ui_paths import PARAM, spec_path, templates
from tests.console.ui_routes_pending import NOT_YET_SERVED

JS = Path(__file__).parents[2] / "console" / "ui" / "static" / "js"
SPEC_PATHS = sorted(spec()["paths"])
NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


def ui_templates() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for module in sorted(JS.rglob("*.js")):
        for path in templates(module.read_text()):
            found.setdefault(path, []).append(str(module.relative_to(JS)))
    return found


def test_every_path_the_ui_calls_is_in_the_spec() -> None:
    found = ui_templates()
    assert len(found) >= 15, f"the scan found too few paths to be reading the UI: {sorted(found)}"
    unknown = {p: where for p, where in found.items() if spec_path(p, SPEC_PATHS) is None and p not in NOT_YET_SERVED}
    assert unknown == {}, f"the UI calls paths the OpenAPI spec lacks: {unknown}"


def test_the_actions_audit_and_token_routes_are_all_used_by_the_ui() -> None:
    used = {spec_path(p, SPEC_PATHS) for p in ui_templates()}
    wanted = {p for p in SPEC_PATHS if re.search(r"/(tokens|audit|cordon|uncordon|drain|safe-mode|restart|traces)", p)}
    assert wanted - used == set()


def test_a_pending_path_leaves_the_list_once_the_spec_serves_it() -> None:
    served = {p: spec_path(p, SPEC_PATHS) for p in NOT_YET_SERVED}
    assert {p: s for p, s in served.items() if s is not None} == {}, "now in the spec: delete from NOT_YET_SERVED"
    assert set(ui_templates()) >= NOT_YET_SERVED, "an entry the UI no longer calls: delete it"


def _fill(template: str, values: list[str]) -> str:
    parts = iter(values)
    return "/".join(next(parts) if s.startswith("{") else s for s in template.split("/"))


@given(st.sampled_from(SPEC_PATHS), st.lists(NAMES, min_size=4, max_size=4))
def test_a_concrete_request_path_maps_back_to_its_template(template: str, values: list[str]) -> None:
    assert spec_path(_fill(template, values), SPEC_PATHS) == template


@given(st.sampled_from(SPEC_PATHS), st.sampled_from(["enc(cluster)", "enc(node.name)", "x"]),
       st.booleans())
def test_a_js_template_literal_scans_to_the_path_with_parameters(template: str, expr: str, query: bool) -> None:
    body = "/".join(f"${{{expr}}}" if s.startswith("{") else s for s in template.split("/"))
    source = f"const x = 1;\nget(`{body}{'${q({ limit: 5, a: { b: 1 } })}' if query else ''}`).then(f);\n"
    [scanned] = list(templates(source))
    assert scanned == _fill(template, [PARAM] * 4)
    assert spec_path(scanned, SPEC_PATHS) == template


@given(st.sampled_from(SPEC_PATHS), st.data())
def test_a_wrong_literal_segment_never_maps_to_the_template(template: str, data: st.DataObject) -> None:
    segments = template.split("/")
    literal = [i for i, s in enumerate(segments) if s and not s.startswith("{")]
    i = data.draw(st.sampled_from(literal))
    segments[i] = segments[i] + "x"
    assert spec_path("/".join(segments), SPEC_PATHS) != template


def test_a_ui_parameter_does_not_match_a_spec_literal() -> None:
    assert spec_path("/api/v1/audit/{}", SPEC_PATHS) is None
    assert spec_path("/api/v1/audit/export", SPEC_PATHS) == "/api/v1/audit/export"


def test_quoted_literals_and_the_bare_prefix() -> None:
    source = "checkPath(p) { if (!p.startsWith('/api/v1/')) throw 1; } get('/api/v1/whoami'); get(\"/api/v1/tokens\");"
    assert list(templates(source)) == ["/api/v1/whoami", "/api/v1/tokens"]


class _Request:
    def __init__(self, method: str, url: str) -> None:
        self.method, self.url = method, url


def test_the_browser_recorder_refuses_requests_off_the_spec_or_off_the_origin() -> None:
    from tests.console.browser.chromium import Recorder

    ok = Recorder("http://127.0.0.1:1")
    for method, path in [("GET", "/api/v1/whoami"), ("POST", "/api/v1/clusters/local/nodes/n%2D1/cordon"),
                         ("GET", "/api/v1/events"), ("GET", "/static/js/main.js")]:
        ok(_Request(method, f"http://127.0.0.1:1{path}"))  # type: ignore[arg-type]  # only .method and .url are read
    ok.check()
    for method, url in [("DELETE", "http://127.0.0.1:1/api/v1/whoami"), ("GET", "http://127.0.0.1:1/api/v1/nope"),
                        ("POST", "http://127.0.0.1:1/api/v1/events"), ("GET", "http://example.invalid/x")]:
        bad = Recorder("http://127.0.0.1:1")
        bad(_Request(method, url))  # type: ignore[arg-type]
        with pytest.raises(AssertionError):
            bad.check()
