"""Golden scenarios of ``temper.rightsize.recommend``: what each situation must be told.

A single thread pinned at a core while the pod averages 300m; a startup spike kept out of the
percentile; a Deployment scaled by an HPA on CPU utilization (hpa-aware, or refused); a pod
throttled under its limit; too few samples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from temper.profiles.model import Treatment, parse_profile
from temper.rightsize import Kind, Policy, Recommendation, recommend
from tests.core.rightsize_scenarios import T0, PodTrack, api_pod, documents, hpa

HOT = (101, "encoder", "app")


def saturated_thread_track() -> PodTrack:
    # 40 samples: in 2 of every 10 intervals the encoder thread runs flat out (1.0 core),
    # otherwise at 125m; the pod's usage is that thread's, so it averages 300m.
    rates = [1.0 if i % 10 in (3, 7) else 0.125 for i in range(40)]
    return PodTrack("uid-enc", "encoder-0", [r * 1000 for r in rates], request_m=400,
                    thread_rates={HOT: rates, (102, "http", "app"): [0.0] * 40})


def only(recs: list[Recommendation], kind: Kind | None = None) -> Recommendation:
    assert len(recs) == 1, [r.kind for r in recs]
    if kind is not None:
        assert recs[0].kind is kind, (recs[0].kind, recs[0].reason)
    return recs[0]


def test_a_thread_pinned_at_a_core_gets_an_exclusive_core_profile_not_a_larger_request() -> None:
    rec = only(recommend(documents([saturated_thread_track()])), Kind.EXCLUSIVE_CORE_PROFILE)
    assert rec.evidence.used_mean_m == pytest.approx(300.0, abs=1)
    assert rec.values["request_m"] >= 1000, "the exclusive grant needs a whole core of request"
    profile = parse_profile(rec.values["profile_yaml"])  # the linter temper profile lint uses
    (group,) = profile.groups
    assert group.treatment is Treatment.EXCLUSIVE and group.cores == 1
    assert group.comm is not None and (group.comm.kind, group.comm.pattern) == ("exact", "encoder")
    assert rec.values["annotation"] == f"infera.io/profile: {profile.name}"
    assert [p["comm"] for p in rec.values["pinned"]] == ["encoder"]
    assert rec.evidence.runqueue_p99_ms == pytest.approx(2.0)  # 20 ms of wait per 10 runs
    assert "encoder" in rec.reason and "300m" in rec.reason
    assert any("tier critical or high" in r for r in rec.values["requires"])


def test_without_a_threads_section_the_same_pod_gets_a_request_and_the_reason_thread_findings_are_missing() -> None:
    rec = only(recommend(documents([saturated_thread_track()], threads=False)), Kind.REQUEST)
    assert rec.values["request_m"] == 1150  # p95 = 1000m, +15 %
    assert "older agent" in rec.evidence.threads


def test_the_exclusive_request_counts_smt_siblings() -> None:
    rec = only(recommend(documents([saturated_thread_track()]), Policy(threads_per_core=2)))
    assert rec.values["request_m"] == 2000


def spike_then_steady(first_index: int = 0) -> PodTrack:
    return PodTrack("uid-api", "api-0", [2000.0] * 20 + [200.0 + (i % 5) * 10 for i in range(60)],
                    first_index=first_index)


def test_a_startup_spike_of_a_pod_that_started_while_observed_is_left_out_of_the_percentile() -> None:
    neighbour = PodTrack("uid-other", "other-0", [100.0] * 85)
    recs = [r for r in recommend(documents([neighbour, spike_then_steady(first_index=5)]))
            if r.scope.name == "api-0"]
    rec = only(recs, Kind.REQUEST)
    assert rec.evidence.excluded_startup == 20  # 300 s at 15 s
    assert rec.evidence.used_percentile_m == 240.0
    assert rec.values["request_m"] == 280  # 240m x 1.15 = 276 -> 280
    assert "started while observed" in rec.evidence.startup


def test_start_times_from_the_pod_list_exclude_the_spike_of_a_pod_running_since_the_first_sample() -> None:
    started = datetime.fromtimestamp(T0, UTC).isoformat()
    pods = {"items": [api_pod("uid-api", "api-0", started=started)]}
    rec = only(recommend(documents([spike_then_steady()]), pods=pods))
    assert rec.evidence.excluded_startup == 20 and rec.values["request_m"] == 280
    assert "--pods-json" in rec.evidence.startup


def test_a_pod_already_running_when_observation_began_keeps_every_sample_and_says_why() -> None:
    rec = only(recommend(documents([spike_then_steady()])))
    assert rec.evidence.excluded_startup == 0 and rec.values["request_m"] == 2300
    assert "nothing excluded" in rec.evidence.startup


def web_deployment(used: float) -> tuple[list[PodTrack], dict[str, Any]]:
    tracks = [PodTrack(f"uid-web-{i}", f"web-7f9c-{i}", [used - 50 + (k % 11) * 10 for k in range(40)])
              for i in range(2)]
    pods = {"items": [api_pod(f"uid-web-{i}", f"web-7f9c-{i}", owner=("ReplicaSet", "web-7f9c"),
                              template_hash="7f9c") for i in range(2)]}
    return tracks, pods


def test_an_hpa_on_cpu_utilization_gets_the_target_that_keeps_its_scaling_point() -> None:
    tracks, pods = web_deployment(used=550)  # samples 500..600m, p95 = 600m -> request 690m
    rec = only(recommend(documents(tracks), hpas={"items": [hpa("web", "web", 60)]}, pods=pods), Kind.HPA_AWARE)
    assert (rec.scope.kind, rec.scope.name) == ("Deployment", "web")
    assert set(rec.scope.pods) == {"web-7f9c-0", "web-7f9c-1"}
    assert rec.evidence.samples == 80, "both replicas' samples size the one template"
    assert rec.values["request_m"] == 690
    assert rec.values["scaling_point_m"] == 600.0  # 60 % of 1000m
    assert rec.values["target_utilization_pct"] == 87  # 60 x 1000 / 690 = 86.96
    assert abs(rec.values["new_scaling_point_m"] - 600) <= 690 / 200
    assert "pod-template-hash" in rec.evidence.mapping


def test_an_hpa_whose_preserved_target_would_exceed_100_percent_is_refused_with_the_alternative() -> None:
    tracks, pods = web_deployment(used=150)  # p95 = 200m -> 230m; 60 x 1000 / 230 = 261 %
    rec = only(recommend(documents(tracks), hpas={"items": [hpa("web", "web", 60)]}, pods=pods), Kind.REFUSED)
    assert "261% target" in rec.reason and "above 100%" in rec.reason
    assert rec.values["smallest_request_keeping_scaling_point_m"] == 600
    assert rec.confidence.score == 0.0


def test_hpas_without_an_owner_mapping_are_not_matched_by_name_and_that_costs_confidence() -> None:
    tracks, _ = web_deployment(used=550)
    recs = recommend(documents(tracks), hpas={"items": [hpa("web", "web", 60)]})
    assert [r.scope.kind for r in recs] == ["Pod", "Pod"]
    for rec in recs:
        assert rec.kind is Kind.REQUEST
        assert "no owner mapping" in rec.evidence.hpa and "no owner mapping" in rec.evidence.mapping
        assert rec.confidence.factors["hpa_unmatched"] == 0.8


def test_throttling_under_a_limit_recommends_the_limit() -> None:
    track = PodTrack("uid-t", "tight-0", [480.0 + (i % 3) * 10 for i in range(40)], request_m=500, limit_m=500,
                     throttled_per_step=(150, 30))
    request, limit = recommend(documents([track]))
    assert request.kind is Kind.REQUEST and request.confidence.factors["censored_by_limit"] == 0.7
    assert limit.kind is Kind.LIMIT
    assert limit.evidence.throttle_pct == 20.0
    assert limit.values["limit_m"] == 600  # max(500 x 1.20, p99 500m x 1.15 = 575)
    assert "lower bound" in limit.reason


def test_light_throttling_below_the_threshold_recommends_no_limit() -> None:
    track = PodTrack("uid-t", "tight-0", [300.0] * 40, request_m=500, limit_m=500, throttled_per_step=(150, 3))
    assert [r.kind for r in recommend(documents([track]))] == [Kind.REQUEST]


def test_too_few_samples_are_refused_with_the_counts() -> None:
    rec = only(recommend(documents([PodTrack("uid-s", "short-0", [100.0] * 5)])), Kind.REFUSED)
    assert rec.reason.startswith("5 usable samples") and "needs 10" in rec.reason
    assert rec.values == {}


def test_a_multi_container_pod_is_split_by_its_threads_cpu_share() -> None:
    rates: dict[tuple[int, str, str | None], list[float]] = {(1, "main", "app"): [0.3] * 30,
                                                             (2, "proxy", "sidecar"): [0.1] * 30}
    track = PodTrack("uid-m", "multi-0", [400.0] * 30, thread_rates=rates)
    pods = {"items": [api_pod("uid-m", "multi-0", containers=("app", "sidecar"))]}
    rec = only(recommend(documents([track]), pods=pods), Kind.REQUEST)
    assert rec.values["request_m"] == 460
    assert rec.values["containers_m"] == {"app": 345, "sidecar": 115}
    assert "split across containers" in rec.evidence.granularity


def test_a_replicaset_in_the_list_maps_its_pods_exactly_and_a_bare_replicaset_is_its_own_scope() -> None:
    tracks = [PodTrack("uid-a", "a-1", [100.0] * 20), PodTrack("uid-b", "b-1", [100.0] * 20)]
    rs = {"kind": "ReplicaSet", "metadata": {"name": "a-rs", "namespace": "default", "ownerReferences": [
        {"kind": "Deployment", "name": "alpha", "controller": True}]}}
    pods = {"items": [api_pod("uid-a", "a-1", owner=("ReplicaSet", "a-rs")),
                      api_pod("uid-b", "b-1", owner=("ReplicaSet", "b-rs")), rs]}
    scopes = {r.scope.key for r in recommend(documents(tracks), pods=pods)}
    assert scopes == {"Deployment/default/alpha", "ReplicaSet/default/b-rs"}


def test_a_pod_without_a_controller_is_known_to_have_no_hpa() -> None:
    pods = {"items": [api_pod("uid-s", "solo", containers=("app",))]}
    rec = only(recommend(documents([PodTrack("uid-s", "solo", [100.0] * 30)]), hpas={"items": []}, pods=pods))
    assert rec.evidence.hpa == "none can apply: the pod has no controller"
    assert "hpa_unmatched" not in rec.confidence.factors
    assert rec.evidence.granularity == "container app (the pod's only container)"


def test_a_container_resource_hpa_on_a_multi_container_pod_is_refused() -> None:
    tracks, pods = web_deployment(used=550)
    for item in pods["items"]:
        item["spec"]["containers"].append({"name": "sidecar"})
    scaler = hpa("web", "web", 60)
    scaler["spec"]["metrics"] = [{"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    rec = only(recommend(documents(tracks), hpas=[scaler], pods=pods), Kind.REFUSED)
    assert "container app's CPU utilization" in rec.reason


def test_the_schedulers_own_runqueue_p99_is_the_evidence_when_the_agent_reports_it() -> None:
    """Newer agents put the BPF histogram's per-pod p99 in ``pods[].runqueue_wait``; it wins
    over the procfs thread estimate (2.0 ms above), and the newest sample's value is used."""
    docs = documents([saturated_thread_track()])
    for i, doc in enumerate(docs):
        for entry in doc.body["pods"]:
            entry["runqueue_wait"] = {"count": 10 + i, "sum_seconds": 0.001, "p50_us": 4.096,
                                      "p99_us": 131.072 if i < len(docs) - 1 else 524.288, "overflow": False}
    rec = only(recommend(docs), Kind.EXCLUSIVE_CORE_PROFILE)
    assert rec.evidence.runqueue_p99_ms == pytest.approx(0.524, abs=0.001)
