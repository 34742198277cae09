"""What a request change does to an HPA that scales the workload on CPU, and what to say.

Why it exists: an HPA with a CPU ``Utilization`` target scales when the pods' mean usage
reaches ``target% x request``. Changing the request moves that *scaling point* unless the
target moves with it. The arithmetic, for a request r0 -> r1 and target U:

    scaling point  S  = U x r0 / 100            (millicores per pod)
    preserving target U' = U x r0 / r1           (so U' x r1 / 100 = S)

Worked example: r0 = 1000m, U = 60 % -> S = 600m per pod; r1 = 700m -> U' = 86 %: same
replicas for the same load. U' is rounded to a whole percent (``averageUtilization`` is an
integer), so the preserved point is U' x r1 / 100, within r1/200 of S.

Outcomes (``adjust``):
- U' <= ``max_target_utilization_pct`` -> hpa_aware: the new request *and* the new target;
- above it -> refused: the pods would run above their request before the HPA scales;
  the smallest request that keeps S at the maximum target is given instead;
- ``AverageValue`` target -> the scaling point does not depend on the request: hpa_aware
  (said so), warned if the new request is below the per-pod target value;
- no CPU metric -> the request change does not move the HPA: the plain recommendation;
- more than one HPA, no CPU request today, or a ``ContainerResource`` target on a pod that is
  not known to have only that container (usage is per pod) -> refused with the reason.

Also said in every HPA case: while an HPA holds utilization near its target, per-pod usage
reflects the replica count the HPA chose, so the recommendation sizes the pod for that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temper.rightsize.owners import Hpa


@dataclass(frozen=True)
class HpaOutcome:
    refused: bool
    values: dict[str, Any]
    text: str
    """For the evidence's ``hpa`` field, or the refusal reason."""


HELD_NOTE = "an HPA holds per-pod usage near its target, so this sizes the pod for the replica count it chose"


def adjust(hpas: Sequence[Hpa], current_request_m: int | None, new_request_m: int,
           max_target_pct: float, containers: Sequence[str] = ()) -> HpaOutcome | None:
    """None when no HPA applies; else the values to add and what to say."""
    if not hpas:
        return None
    if len(hpas) > 1:
        names = ", ".join(sorted(h.name for h in hpas))
        return HpaOutcome(True, {}, f"{len(hpas)} HPAs target this workload ({names}); fix that first")
    hpa = hpas[0]
    label = f"HPA {hpa.namespace}/{hpa.name}"
    utilization = [t for t in hpa.cpu if t.kind == "Utilization"]
    if not hpa.cpu:
        return HpaOutcome(False, {}, f"{label} scales on {hpa.other_metrics} non-CPU metric(s); "
                                     "a request change does not move it")
    if not utilization:
        value = hpa.cpu[0].value
        warn = f"; the new request is below its {value:.0f}m per-pod target" if new_request_m < value else ""
        return HpaOutcome(False, {"hpa": hpa.name, "hpa_average_value_m": value},
                          f"{label} targets AverageValue {value:.0f}m per pod: the scaling point does not "
                          f"depend on the request{warn}; {HELD_NOTE}")
    if not current_request_m:
        return HpaOutcome(True, {}, f"{label} scales on CPU utilization but the pods have no CPU request")
    container = utilization[0].container
    if container is not None and tuple(containers) != (container,):
        return HpaOutcome(True, {}, f"{label} scales on container {container}'s CPU utilization, but usage is "
                                    "measured per pod and the pod's only container is not known to be it")
    target = utilization[0].value
    point = target * current_request_m / 100.0
    preserved = target * current_request_m / new_request_m
    if preserved > max_target_pct:
        smallest = math.ceil(point * 100.0 / max_target_pct)
        return HpaOutcome(True, {"request_m": new_request_m, "would_need_target_pct": round(preserved, 1),
                                 "smallest_request_keeping_scaling_point_m": smallest},
                          f"keeping {label}'s scaling point ({point:.0f}m per pod = {target:.0f}% of "
                          f"{current_request_m}m) with a {new_request_m}m request needs a {preserved:.0f}% target, "
                          f"above {max_target_pct:.0f}%: pods would run above their request before it scales. "
                          f"Keep the request >= {smallest}m, or accept scaling at {target:.0f}% of the new request")
    new_target = max(1, round(preserved))
    return HpaOutcome(False, {"hpa": hpa.name, "target_utilization_pct": new_target,
                              "current_target_utilization_pct": target, "scaling_point_m": round(point, 1),
                              "new_scaling_point_m": round(new_target * new_request_m / 100.0, 1)},
                      f"{label}: target {target:.0f}% -> {new_target}% keeps its scaling point at "
                      f"~{point:.0f}m per pod; {HELD_NOTE}")
