"""The ``admission.k8s.io/v1`` AdmissionReview wire format, typed, plus its strict decoder.

Why this module exists: the AdmissionReview is the webhook's only contract with the
kube-apiserver (REFERENCE.md §4). It is written once, here, as TypedDicts; the policy works on
the decoded ``AdmissionRequest`` and never on raw JSON, and the encoder is the only place that
builds a response.

Decoding is strict about the *envelope* (what the API server always sends) and lenient about
the *object* (the pod): a wrong ``apiVersion``/``kind``, a missing ``request`` or ``uid``, or a
body that is not JSON is the caller's mistake and raises ``BadReview`` (HTTP 400). Everything
inside ``request.object`` is the policy's business — an odd pod is allowed, never refused.

Exceptions (the webhook service's whole tree; HTTP status mapped once, in ``webhook.app``)::

    WebhookError            500 — never raised on purpose; a bug
     └── BadReview          400 — not an AdmissionReview v1 we can answer

An admission *denial* is not an exception: it is a normal response (this webhook never
denies anyway; it only mutates or allows).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

import orjson

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
MAX_UID_LENGTH = 128
"""The API server sends a UUID (36 chars); anything much longer is not from it."""


class WebhookError(Exception):
    """Base of the webhook's errors; an unmapped one is a bug (HTTP 500)."""

    status = 500


class BadReview(WebhookError):
    """The body is not an ``admission.k8s.io/v1`` AdmissionReview with a request and a uid."""

    status = 400


# --- wire format --------------------------------------------------------------------------


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class GroupVersionResource(TypedDict):
    group: str
    version: str
    resource: str


class AdmissionRequestWire(TypedDict):
    uid: str
    kind: NotRequired[GroupVersionKind]
    resource: NotRequired[GroupVersionResource]
    subResource: NotRequired[str]
    requestKind: NotRequired[GroupVersionKind]
    name: NotRequired[str]
    namespace: NotRequired[str]
    operation: NotRequired[str]
    userInfo: NotRequired[dict[str, Any]]
    object: NotRequired[dict[str, Any] | None]
    oldObject: NotRequired[dict[str, Any] | None]
    options: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[bool]


class StatusWire(TypedDict):
    code: int
    message: str


class AdmissionResponseWire(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[StatusWire]
    patchType: NotRequired[Literal["JSONPatch"]]
    patch: NotRequired[str]
    warnings: NotRequired[list[str]]
    auditAnnotations: NotRequired[dict[str, str]]


class AdmissionReviewWire(TypedDict):
    apiVersion: str
    kind: str
    request: NotRequired[AdmissionRequestWire]
    response: NotRequired[AdmissionResponseWire]


class PatchOp(TypedDict):
    """One RFC 6902 operation; this webhook only emits ``add`` and ``replace``."""

    op: Literal["add", "replace"]
    path: str
    value: Any


# --- decoded model ------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmissionRequest:
    """What the policy needs from a request (the envelope validated, the object untouched)."""

    uid: str
    group: str
    version: str
    resource: str
    sub_resource: str
    operation: str
    namespace: str
    dry_run: bool
    object: Mapping[str, Any] | None
    name: str = ""
    """``request.name``: empty at CREATE when the pod has only a ``generateName``."""

    @property
    def is_pod(self) -> bool:
        return self.group == "" and self.resource == "pods"

    @property
    def object_label(self) -> str:
        """``namespace/name`` for logs: the request's name, else the object's name, else its
        ``generateName`` followed by ``*``. Printable ASCII only and bounded, since every part
        comes from the requester."""
        metadata = self.object.get("metadata") if self.object is not None else None
        metadata = metadata if isinstance(metadata, Mapping) else {}
        name = self.name or _text(metadata.get("name"))
        if not name and _text(metadata.get("generateName")):
            name = _text(metadata.get("generateName")) + "*"
        label = f"{self.namespace}/{name or '?'}"
        return "".join(c if " " < c < "\x7f" else "?" for c in label[:253])


@dataclass(frozen=True)
class AdmissionResult:
    """The policy's answer: always allowed; maybe a patch; warnings for the user."""

    patch: tuple[PatchOp, ...] = ()
    warnings: tuple[str, ...] = ()
    audit: Mapping[str, str] = field(default_factory=dict)


def decode_review(body: bytes) -> AdmissionRequest:
    """Parse a request body; raises ``BadReview`` with a message a human can act on."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadReview(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadReview("body must be a JSON object (an AdmissionReview)")
    if doc.get("apiVersion") != API_VERSION:
        raise BadReview(f"apiVersion must be {API_VERSION!r}, got {doc.get('apiVersion')!r}")
    if doc.get("kind") != KIND:
        raise BadReview(f"kind must be {KIND!r}, got {doc.get('kind')!r}")
    request = doc.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no 'request' object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid or len(uid) > MAX_UID_LENGTH:
        raise BadReview("request.uid must be a non-empty string")
    resource = request.get("resource")
    resource = resource if isinstance(resource, dict) else {}
    obj = request.get("object")
    return AdmissionRequest(
        uid=uid,
        group=_text(resource.get("group")),
        version=_text(resource.get("version")),
        resource=_text(resource.get("resource")),
        sub_resource=_text(request.get("subResource")),
        operation=_text(request.get("operation")),
        namespace=_text(request.get("namespace")),
        dry_run=request.get("dryRun") is True,
        object=obj if isinstance(obj, dict) else None,
        name=_text(request.get("name")),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def encode_response(uid: str, result: AdmissionResult) -> bytes:
    """The AdmissionReview response body: ``uid`` echoed, JSONPatch base64-encoded."""
    response: AdmissionResponseWire = {"uid": uid, "allowed": True}
    if result.patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(list(result.patch))).decode("ascii")
    if result.warnings:
        response["warnings"] = list(result.warnings)
    if result.audit:
        response["auditAnnotations"] = dict(result.audit)
    review: AdmissionReviewWire = {"apiVersion": API_VERSION, "kind": KIND, "response": response}
    return orjson.dumps(review)


def escape_pointer(token: str) -> str:
    """RFC 6901 escaping of one JSON Pointer token (``~`` -> ``~0`` first, then ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")
