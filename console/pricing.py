"""Machine prices for the savings report: a price book read from a ConfigMap, no network needed.

Why it exists: savings are money, and the console must price a node without calling a cloud
pricing API (clusters often have no route out). The operator mounts a ConfigMap holding a
YAML (or JSON) price book; this module parses it (pure, strict, every error names its field)
and answers "what does one millicore-hour on this node cost" or "unpriced".

The document (``prices.yaml`` in the ConfigMap)::

    currency: USD
    default: {vcpuHour: 0.04}           # optional: types not listed below; absent -> unpriced
    prices:
      - instanceType: m6i.xlarge        # node.kubernetes.io/instance-type
        capacityType: on-demand         # optional: on-demand | spot   (absent: any)
        region: eu-west-1               # optional: topology.kubernetes.io/region (absent: any)
        nodeHour: 0.192                 # the machine's price per hour ...
      - instanceType: c6i.4xlarge
        vcpuHour: 0.0425                # ... or per vCPU-hour (exactly one of the two)

Lookup (first match wins, most specific first): (type, capacity, region), (type, capacity,
any), (type, any, region), (type, any, any), then ``default``. A node with no instance-type
label, or one no entry matches and no default covers, is *unpriced*: the report lists it and
never prices it at 0. ``nodeHour`` is spread over the node's CPU capacity
(price per millicore-hour = nodeHour / capacity millicores), so a node whose capacity is
unknown cannot be priced from ``nodeHour`` either.

Capacity type comes from the labels the common provisioners set (``capacity_type``):
``karpenter.sh/capacity-type``, ``eks.amazonaws.com/capacityType``,
``cloud.google.com/gke-spot`` / ``gke-preemptible``, ``kubernetes.azure.com/scalesetpriority``;
values are normalised to ``spot`` / ``on-demand``.

Invariants: prices are finite and >= 0; ``Price.milli_hour`` is None (unpriced) or a finite
number >= 0 (0 only when the book says 0: a free type is priced, not unpriced).
Errors: ``PriceError`` (a ``ValueError``), raised only by ``parse_price_book``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from temper.quantity import QuantityError, parse_cpu_milli

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
REGION_LABEL = "topology.kubernetes.io/region"
ANY = ""
"""The wildcard in a price key (capacity type or region not given)."""


class PriceError(ValueError):
    """A price book that cannot be used (the message names the entry and field)."""


@dataclass(frozen=True)
class Price:
    """One entry's price: per node-hour or per vCPU-hour (exactly one is set)."""

    node_hour: float | None = None
    vcpu_hour: float | None = None

    def milli_hour(self, capacity_m: int | None) -> float | None:
        """The price of one millicore for one hour on a node of ``capacity_m`` millicores."""
        if self.vcpu_hour is not None:
            return self.vcpu_hour / 1000
        if self.node_hour is None or not capacity_m:
            return None
        return self.node_hour / capacity_m


@dataclass(frozen=True)
class PriceBook:
    currency: str = "USD"
    entries: Mapping[tuple[str, str, str], Price] = field(default_factory=dict)
    default: Price | None = None

    def lookup(self, instance_type: str | None, capacity: str, region: str) -> Price | None:
        if not instance_type:
            return None
        for key in ((instance_type, capacity, region), (instance_type, capacity, ANY),
                    (instance_type, ANY, region), (instance_type, ANY, ANY)):
            if key in self.entries:
                return self.entries[key]
        return self.default


def capacity_type(labels: Mapping[str, str]) -> str:
    """``spot``, ``on-demand``, or "" when no known label says."""
    def label(key: str) -> str:
        value = labels.get(key, "")
        return value if isinstance(value, str) else ""

    karpenter = label("karpenter.sh/capacity-type").lower()
    if karpenter in ("spot", "on-demand"):
        return karpenter
    eks = label("eks.amazonaws.com/capacityType").upper()
    if eks in ("SPOT", "ON_DEMAND"):
        return "spot" if eks == "SPOT" else "on-demand"
    if "true" in (label("cloud.google.com/gke-spot"), label("cloud.google.com/gke-preemptible")):
        return "spot"
    azure = label("kubernetes.azure.com/scalesetpriority").lower()
    if azure in ("spot", "regular"):
        return "spot" if azure == "spot" else "on-demand"
    return ANY


def _amount(entry: Mapping[str, Any], key: str, where: str) -> float | None:
    if key not in entry:
        return None
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PriceError(f"{where}.{key}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _price(entry: object, where: str, allowed: set[str]) -> Price:
    if not isinstance(entry, Mapping):
        raise PriceError(f"{where}: expected a mapping")
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise PriceError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    node_hour, vcpu_hour = _amount(entry, "nodeHour", where), _amount(entry, "vcpuHour", where)
    if (node_hour is None) == (vcpu_hour is None):
        raise PriceError(f"{where}: give exactly one of nodeHour or vcpuHour")
    return Price(node_hour, vcpu_hour)


def _text(entry: Mapping[str, Any], key: str, where: str, required: bool = False) -> str:
    value = entry.get(key, ANY)
    if not isinstance(value, str) or (required and not value):
        raise PriceError(f"{where}.{key}: expected a non-empty string" if required else
                         f"{where}.{key}: expected a string")
    return value


def parse_price_book(text: str) -> PriceBook:
    """Pure: the price book in ``text`` (YAML or JSON). Empty text is an empty book."""
    try:
        doc = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise PriceError(f"not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, Mapping):
        raise PriceError("the price book must be a mapping")
    unknown = sorted(set(doc) - {"currency", "default", "prices"})
    if unknown:
        raise PriceError(f"unknown field(s) {', '.join(map(str, unknown))}")
    currency = doc.get("currency", "USD")
    if not isinstance(currency, str) or not currency:
        raise PriceError("currency: expected a non-empty string")
    default = _price(doc["default"], "default", {"nodeHour", "vcpuHour"}) if doc.get("default") is not None else None
    if default is not None and default.node_hour is not None:
        raise PriceError("default: only vcpuHour (a node-hour price cannot apply to every machine size)")
    items = doc.get("prices") or []
    if not isinstance(items, list):
        raise PriceError("prices: expected a list")
    entries: dict[tuple[str, str, str], Price] = {}
    for i, item in enumerate(items):
        where = f"prices[{i}]"
        price = _price(item, where, {"instanceType", "capacityType", "region", "nodeHour", "vcpuHour"})
        key = (_text(item, "instanceType", where, required=True), _text(item, "capacityType", where),
               _text(item, "region", where))
        if key[1] not in (ANY, "spot", "on-demand"):
            raise PriceError(f"{where}.capacityType: expected spot or on-demand, got {key[1]!r}")
        if key in entries:
            raise PriceError(f"{where}: a second price for {'/'.join(k or '*' for k in key)}")
        entries[key] = price
    return PriceBook(currency, entries, default)


def node_price_facts(node: Mapping[str, Any]) -> dict[str, Any]:
    """Pure: what pricing needs from a Node object (``NodeSummary``'s capacity_m,
    capacity_type, region). Capacity is ``status.capacity.cpu``; None when unreadable."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    labels = labels if isinstance(labels, Mapping) else {}
    capacity = ((node.get("status") or {}).get("capacity") or {}).get("cpu")
    try:
        capacity_m: int | None = parse_cpu_milli(capacity) if capacity is not None else None
    except QuantityError:
        capacity_m = None
    region = labels.get(REGION_LABEL, "")
    return {"capacity_m": capacity_m, "capacity_type": capacity_type(labels),
            "region": region if isinstance(region, str) else ""}
