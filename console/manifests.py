"""Manifests as YAML, and a workload's revision history with unified diffs (pure, no I/O).

Why it exists: the pod and workload views show what the API server holds without the noise
(``metadata.managedFields``, ``status``), and what changed between two rollouts. Revisions are
the ones Kubernetes itself keeps:
- Deployment: its ReplicaSets (controller owner = the Deployment's uid), numbered by the
  ``deployment.kubernetes.io/revision`` annotation; a revision's content is the ReplicaSet's
  ``spec.template`` without the ``pod-template-hash`` label (which differs by construction).
- StatefulSet / DaemonSet: their ControllerRevisions, numbered by ``.revision``; the content is
  ``data.spec.template`` (the stored patch; its ``$patch: replace`` marker dropped), else ``data``.
- Job: none (a Job is not rolled out); the list is empty.
YAML is rendered with sorted keys (as ``kubectl get -o yaml`` does), so a diff shows only real
changes. The diff is ``difflib.unified_diff`` of the two YAML texts, 3 lines of context.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH_LABEL = "pod-template-hash"


def strip(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy without ``status`` and ``metadata.managedFields``."""
    clean = copy.deepcopy(dict(obj))
    clean.pop("status", None)
    meta = clean.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return clean


def to_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)  # non-ASCII escaped: NEL, LS, PS break lines


@dataclass(frozen=True)
class RevisionContent:
    revision: int
    name: str
    created: str
    content: dict[str, Any]


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, Mapping) and r.get("controller") and r.get("uid") == uid for r in refs)


def _int(text: object) -> int | None:
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, str) and text.isdigit() and len(text) < 19:
        return int(text)
    return None


def _replica_set_content(rs: Mapping[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH_LABEL, None)
    return {"template": template}


def _controller_revision_content(cr: Mapping[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(cr.get("data") or {})
    template = (data.get("spec") or {}).get("template") if isinstance(data, dict) else None
    if isinstance(template, dict):
        template.pop("$patch", None)
        return {"template": template}
    return data if isinstance(data, dict) else {"data": data}


def revisions(kind: str, owner_uid: str, items: Sequence[Mapping[str, Any]]) -> list[RevisionContent]:
    """The revisions of a workload (oldest first) from its namespace's ReplicaSets (for a
    Deployment) or ControllerRevisions (StatefulSet, DaemonSet); objects of other owners and
    ones without a readable revision number are left out."""
    out: list[RevisionContent] = []
    for item in items:
        if not isinstance(item, Mapping) or not _owned_by(item, owner_uid):
            continue
        meta = item.get("metadata") or {}
        if kind == "Deployment":
            number = _int((meta.get("annotations") or {}).get(REVISION_ANNOTATION))
            content = _replica_set_content(item)
        elif kind in ("StatefulSet", "DaemonSet"):
            number = _int(item.get("revision"))
            content = _controller_revision_content(item)
        else:
            continue
        if number is not None:
            out.append(RevisionContent(number, str(meta.get("name", "")), str(meta.get("creationTimestamp", "")),
                                       content))
    out.sort(key=lambda r: (r.revision, r.name))
    return out


def diff(older: RevisionContent, newer: RevisionContent) -> str:
    """A unified diff of two revisions' YAML ('' when they are the same)."""
    lines = difflib.unified_diff(to_yaml(older.content).splitlines(), to_yaml(newer.content).splitlines(),
                                 fromfile=f"revision {older.revision} ({older.name})",
                                 tofile=f"revision {newer.revision} ({newer.name})", lineterm="")
    return "\n".join(lines)
