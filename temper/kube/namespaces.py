"""A watch of the cluster's Namespaces reduced to each namespace's labels, and the cache it fills.

Why it exists: an AdmissionReview names the pod's namespace but carries none of its labels,
and the overcommit webhook must check the namespace's opt-in label itself rather than trust
that its registration's ``namespaceSelector`` filtered the request. A LIST per admission would
put the API server on the path of every pod CREATE, so the webhook keeps a local copy instead.

Design: ``NamespaceWatch`` is ``temper.kube.objectwatch.ObjectWatch`` on ``/api/v1/namespaces``
(all namespaces, no selector: a namespace that loses the label must be seen to lose it, which a
selector-filtered watch only reports as a deletion) with ``namespace_meta`` as the reduction;
``NamespaceCache`` is its sink, ``name -> labels``. A cluster has at most a few thousand
namespaces with a handful of labels each, so keeping every label is cheap.

Invariants: ``labels(name)`` is ``None`` for a namespace the cache has not seen (not listed
yet, or created after the last event) — callers treat that as *unknown*, never as "no labels";
the labels stored are always ``dict[str, str]``; the cache is only ever changed from the event
loop, so a reader never sees a half-applied LIST.

Exceptions: none of its own (see ``temper.kube.objectwatch``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from temper.kube.objectwatch import ObjectWatch, name_and_metadata, string_map

NAMESPACES_PATH = "/api/v1/namespaces"


@dataclass(frozen=True, slots=True)
class NamespaceMeta:
    """A Namespace reduced to its name and labels."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


def namespace_meta(obj: object) -> NamespaceMeta | None:
    """Reduce an API Namespace object; ``None`` when it has no usable ``metadata.name``."""
    found = name_and_metadata(obj)
    if found is None:
        return None
    name, metadata = found
    return NamespaceMeta(name, string_map(metadata.get("labels")))


class NamespaceCache:
    """``name -> labels`` of every namespace the watch has reported (a ``Sink[NamespaceMeta]``)."""

    def __init__(self) -> None:
        self._labels: dict[str, Mapping[str, str]] = {}

    def replace(self, items: list[NamespaceMeta]) -> None:
        self._labels = {item.name: item.labels for item in items}

    def upsert(self, item: NamespaceMeta) -> None:
        self._labels[item.name] = item.labels

    def delete(self, name: str) -> None:
        self._labels.pop(name, None)

    def labels(self, name: str) -> Mapping[str, str] | None:
        """The namespace's labels; ``None`` when the namespace is unknown to the cache."""
        return self._labels.get(name)

    def __len__(self) -> int:
        return len(self._labels)


class NamespaceWatch(ObjectWatch[NamespaceMeta]):
    """List+watch all Namespaces into a ``NamespaceCache``; ``synced`` once the first LIST landed."""

    def __init__(self, cache: NamespaceCache, on_error: Callable[[Exception], None] | None = None) -> None:
        super().__init__(NAMESPACES_PATH, namespace_meta, cache, on_error)
        self.cache = cache
