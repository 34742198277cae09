"""Which profile a pod gets, and why (pure; the agent's /observe and ``temper plan`` show it).

Rule (first match wins), every outcome with a reason:
1. annotation ``infera.io/profile: none`` -> no profile (opted out);
2. annotation naming a known profile -> that profile (explicit wins); an unknown name -> no
   profile, reason says so (never guessed);
3. the first container (spec order) whose image matches a profile's ``selectors.images``
   (fnmatch on the image with registry, ``library/`` and digest stripped; profiles in name
   order) -> that profile;
4. otherwise none.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from temper.profiles.model import Profile

PROFILE_ANNOTATION = "infera.io/profile"
OPT_OUT = "none"


@dataclass(frozen=True)
class Selection:
    profile: str | None
    source: str  # explicit | image | opt-out | unknown | none
    reason: str


def normalize_image(image: str) -> str:
    """``docker.io/library/mysql:8.0@sha256:..`` -> ``mysql:8.0``; no tag -> ``:latest``."""
    ref = image.split("@", 1)[0]
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    path = "/".join(parts)
    if ":" not in parts[-1]:
        path += ":latest"
    return path


def pod_profile_inputs(pod: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """(profile annotation, container images in spec order) of an API pod object (total)."""
    metadata = pod.get("metadata") if isinstance(pod, Mapping) else None
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    value = annotations.get(PROFILE_ANNOTATION) if isinstance(annotations, Mapping) else None
    spec = pod.get("spec") if isinstance(pod, Mapping) else None
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    images = tuple(c["image"] for c in containers or () if isinstance(c, Mapping) and isinstance(c.get("image"), str))
    return (value if isinstance(value, str) else None), images


def select_profile(annotation: str | None, images: Sequence[str], profiles: Mapping[str, Profile]) -> Selection:
    if annotation is not None:
        wanted = annotation.strip()
        if wanted == OPT_OUT:
            return Selection(None, "opt-out", f"{PROFILE_ANNOTATION}: none")
        if wanted in profiles:
            return Selection(wanted, "explicit", f"{PROFILE_ANNOTATION}: {wanted}")
        return Selection(None, "unknown", f"{PROFILE_ANNOTATION} names unknown profile {wanted!r}")
    for image in images:
        normalized = normalize_image(image)
        for name in sorted(profiles):
            for pattern in profiles[name].images:
                if fnmatch.fnmatchcase(normalized, pattern) or fnmatch.fnmatchcase(image, pattern):
                    return Selection(name, "image", f"image {image} matches {pattern!r}")
    return Selection(None, "none", "no annotation and no image matched a profile")
