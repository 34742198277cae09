"""Manifests without managedFields and status, and revision history with unified diffs from
ReplicaSets (Deployment) and ControllerRevisions (StatefulSet, DaemonSet) — the pure core, then
through the console against the fake API server (real wire format; no kube-apiserver here)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from console.manifests import RevisionContent, diff, revisions, strip, to_yaml
from tests.console.harness import running_console

W = "/api/v1/clusters/local/namespaces/apps/workloads"
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                        max_size=3), max_leaves=10)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=4), json_values)
def test_strip_drops_exactly_status_and_managed_fields(extra: dict[str, Any], status: Any) -> None:
    obj = {**extra, "status": status, "metadata": {"name": "x", "managedFields": [{"manager": "m"}]}}
    clean = strip(obj)
    assert "status" not in clean and clean["metadata"] == {"name": "x"}
    assert {k: v for k, v in clean.items() if k != "metadata"} == {k: v for k, v in extra.items()
                                                                  if k not in ("status", "metadata")}
    assert obj["metadata"]["managedFields"], "the input was modified"
    assert yaml.safe_load(to_yaml(clean)) == clean


def test_revisions_keep_only_the_owners_and_ignore_the_template_hash() -> None:
    def rs(name: str, revision: str, uid: str, image: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": revision},
                             "ownerReferences": [{"uid": uid, "controller": True}]},
                "spec": {"template": {"metadata": {"labels": {"app": "a", "pod-template-hash": name}},
                                      "spec": {"containers": [{"image": image}]}}}}
    found = revisions("Deployment", "u1", [rs("a-2", "2", "u1", "a:2"), rs("b-1", "1", "other", "b:1"),
                                           rs("a-1", "1", "u1", "a:1"), rs("a-x", "junk", "u1", "a:x")])
    assert [(r.revision, r.name) for r in found] == [(1, "a-1"), (2, "a-2")]
    text = diff(found[0], found[1])
    assert "-    - image: a:1" in text and "+    - image: a:2" in text and "pod-template-hash" not in text
    same = RevisionContent(3, "a-3", "", found[1].content)
    assert diff(found[1], same) == ""
    assert revisions("Job", "u1", [rs("a-1", "1", "u1", "a:1")]) == []


async def test_manifests_and_revision_diffs_over_http() -> None:
    async with running_console() as r:
        manifest = yaml.safe_load((await r.get_json(f"{W}/Deployment/web/manifest"))["manifest"])  # type: ignore[index]
        assert "status" not in manifest and "managedFields" not in manifest["metadata"]
        assert manifest["spec"]["replicas"] == 2
        pod = await r.get_json("/api/v1/clusters/local/namespaces/apps/pods/db-0/manifest")
        assert "status" not in yaml.safe_load(pod["manifest"])  # type: ignore[index]
        for kind, name in (("Deployment", "web"), ("StatefulSet", "db")):
            listed = await r.get_json(f"{W}/{kind}/{name}/revisions")
            assert [i["revision"] for i in listed["items"]] == [1, 2]  # type: ignore[index]
            text = (await r.get_json(f"{W}/{kind}/{name}/revisions/diff?from=1&to=2"))["diff"]  # type: ignore[index]
            assert f"-    - image: {name}:1" in text and f"+    - image: {name}:2" in text, text
            assert "$patch" not in text
        daemon = await r.get_json(f"{W}/DaemonSet/agent/revisions")
        assert [i["name"] for i in daemon["items"]] == ["agent-1"]  # type: ignore[index]
        assert (await r.get_json(f"{W}/Job/batch/revisions"))["items"] == []  # type: ignore[index]
        missing = await r.get_json(f"{W}/Deployment/web/revisions/diff?from=1&to=9", status=404)
        assert "recorded: 1, 2" in missing["error"]["message"]  # type: ignore[index]
        await r.get_json(f"{W}/Deployment/web/revisions/diff?from=one&to=2", status=400)
        await r.get_json(f"{W}/Deployment/web/revisions/diff?to=2", status=400)
