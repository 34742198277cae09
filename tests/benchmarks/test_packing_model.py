"""The packing-at-equal-SLO model (benchmarks/packing.py): curves, safe utilisation, the
webhook's scaling and first-fit-decreasing, as pure functions; and the script's loud fallback."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.packing import (
    DEFAULT_FALLBACK_CURVE,
    DEFAULT_TIER_SHARES,
    InputError,
    MixDistribution,
    NodeLimits,
    PodMix,
    SafeUtil,
    curves_from_ladder,
    generate_mix,
    main,
    make_arms,
    max_util_at_slo,
    monotone_curve,
    p99_at,
    pack_first_fit_decreasing,
    parse_curve_spec,
    request_ceiling,
    scale_requests,
)
from temper.tiers import Tier
from webhook.policy import DEFAULT_FACTORS, PolicyConfig, scale_cpu_milli

# --- strategies -----------------------------------------------------------------------------

points = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=50.0)),
    min_size=1, max_size=12)


@st.composite
def pod_mixes(draw: st.DrawFn, max_size: int = 40) -> PodMix:
    pods = draw(st.lists(st.tuples(st.sampled_from(list(Tier)), st.integers(min_value=1, max_value=4000),
                                   st.floats(min_value=0.0, max_value=1.0)), min_size=1, max_size=max_size))
    return PodMix(np.array([int(t) for t, _, _ in pods], dtype=np.int64),
                  np.array([r for _, r, _ in pods], dtype=np.int64),
                  np.array([r * u for _, r, u in pods], dtype=np.float64))


limits = st.builds(NodeLimits, capacity_milli=st.integers(min_value=1000, max_value=16_000),
                   protected_cap=st.floats(min_value=0.0, max_value=1.0),
                   total_cap=st.floats(min_value=0.0, max_value=1.0))

policies = st.builds(
    PolicyConfig,
    factors=st.fixed_dictionaries({t: st.floats(min_value=0.01, max_value=1.0) for t in Tier}),
    floor_milli=st.integers(min_value=1, max_value=500))


# --- curves and safe utilisation ------------------------------------------------------------


@given(points)
def test_the_envelope_is_non_decreasing_and_never_below_a_measured_point(pts: list[tuple[float, float]]) -> None:
    curve = monotone_curve("s", pts)
    assert np.all(np.diff(curve.util) > 0)
    assert np.all(np.diff(curve.p99_ms) >= 0)
    for util, p99 in pts:
        assert p99_at(curve, round(util, 6)) >= p99 - 1e-12  # utilisations are kept to 1e-6
    grid = [p99_at(curve, u) for u in np.linspace(0.0, 1.0, 51)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(grid))


@given(points, st.floats(min_value=0.0, max_value=60.0), st.floats(min_value=0.0, max_value=20.0))
def test_a_looser_slo_never_lowers_the_safe_utilisation(pts: list[tuple[float, float]], slo: float,
                                                        looser_by: float) -> None:
    curve = monotone_curve("s", pts)
    assert max_util_at_slo(curve, slo + looser_by).util >= max_util_at_slo(curve, slo).util


@given(points, st.floats(min_value=0.0, max_value=60.0))
def test_the_safe_utilisation_meets_the_slo_inside_the_measured_range(pts: list[tuple[float, float]],
                                                                      slo: float) -> None:
    curve = monotone_curve("s", pts)
    safe = max_util_at_slo(curve, slo)
    if safe.bound == "unattainable":
        assert safe.util == 0.0 and p99_at(curve, float(curve.util[0])) > slo
        return
    assert curve.util[0] <= safe.util <= curve.util[-1]
    assert p99_at(curve, safe.util) <= slo * (1 + 1e-9) + 1e-12
    if safe.bound == "crossing":  # tight: the envelope reaches the SLO exactly there
        assert math.isclose(p99_at(curve, safe.util), slo, rel_tol=1e-9, abs_tol=1e-12)


def test_the_docstring_worked_example_on_the_illustrative_curve() -> None:
    curves = parse_curve_spec(DEFAULT_FALLBACK_CURVE)
    fair, temper = max_util_at_slo(curves["fair"], 1.0), max_util_at_slo(curves["temper"], 1.0)
    assert fair.bound == "crossing" and math.isclose(fair.util, 0.05 + 0.9 / 2.2 * 0.95)
    assert (temper.util, temper.bound) == (1.0, "measured_max")


def test_the_ladder_is_read_per_scheduler_with_the_worst_of_duplicates_and_dips_kept() -> None:
    rung = {"fillers": 0, "p50_us": 1.0, "p999_us": 1.0, "batch_cpu_s": 0.0}
    doc = {"kernel": "7.2", "cpus": 2, "rungs": [
        {**rung, "scheduler": "fair", "cpu_util": 0.5, "p99_us": 400.0, "samples": 3000},
        {**rung, "scheduler": "fair", "cpu_util": 0.5, "p99_us": 600.0, "samples": 500},
        {**rung, "scheduler": "fair", "cpu_util": 0.8, "p99_us": 300.0, "samples": 3000},  # a noisy dip
        {**rung, "scheduler": "fair", "cpu_util": 1.02, "p99_us": 2300.0, "samples": 3000},
        {**rung, "scheduler": "temper", "cpu_util": 0.9, "p99_us": 450.0, "samples": 3000},
    ]}
    curves = curves_from_ladder(doc)
    fair = curves["fair"]
    assert fair.util.tolist() == [0.5, 0.8, 1.0]
    assert fair.p99_ms.tolist() == [0.6, 0.6, 2.3]
    assert fair.min_samples == 500
    assert max_util_at_slo(curves["temper"], 0.5).bound == "measured_max"


@pytest.mark.parametrize("doc", [{}, {"rungs": []}, {"rungs": [{"scheduler": "fair"}]},
                                 {"rungs": [{"scheduler": "fair", "cpu_util": 1.5, "p99_us": 1.0}]}])
def test_a_malformed_ladder_is_refused_with_a_reason(doc: dict[str, object]) -> None:
    with pytest.raises(InputError):
        curves_from_ladder(doc)


@pytest.mark.parametrize("spec", ["fair", "fair=0.5", "fair=0.5:x", "=0.5:1", "fair=2:1"])
def test_a_malformed_curve_spec_is_refused(spec: str) -> None:
    with pytest.raises(InputError):
        parse_curve_spec(spec)


# --- the pod mix and the webhook's scaling --------------------------------------------------


@given(st.integers(min_value=1, max_value=300), st.integers(min_value=0, max_value=2**32))
def test_the_mix_is_seeded_and_keeps_to_its_stated_ranges(count: int, seed: int) -> None:
    dist = MixDistribution(DEFAULT_TIER_SHARES)
    mix = generate_mix(count, seed, dist, 8000)
    again = generate_mix(count, seed, dist, 8000)
    assert np.array_equal(mix.request_milli, again.request_milli)
    assert np.array_equal(mix.actual_milli, again.actual_milli)
    assert len(mix) == count
    assert mix.request_milli.min() >= 10 and mix.request_milli.max() <= 4000
    assert np.all(mix.actual_milli >= 0) and np.all(mix.actual_milli <= mix.request_milli)
    assert set(mix.tier.tolist()) <= {int(t) for t in Tier}


@given(pod_mixes(), policies)
def test_scaling_never_raises_a_request_nor_crosses_the_floor(mix: PodMix, policy: PolicyConfig) -> None:
    scaled = scale_requests(mix, policy)
    assert np.all(scaled.request_milli <= mix.request_milli)
    assert np.all(scaled.request_milli >= np.minimum(mix.request_milli, policy.floor_milli))
    critical = mix.tier == int(Tier.CRITICAL)
    assert np.array_equal(scaled.request_milli[critical], mix.request_milli[critical])
    assert np.array_equal(scaled.actual_milli, mix.actual_milli)
    assert np.array_equal(scaled.tier, mix.tier)


def test_scaling_uses_the_webhooks_own_default_factors_and_floor() -> None:
    tiers = list(Tier)
    mix = PodMix(np.array([int(t) for t in tiers], dtype=np.int64), np.full(len(tiers), 1000, dtype=np.int64),
                 np.zeros(len(tiers)))
    scaled = scale_requests(mix, PolicyConfig())
    assert scaled.request_milli.tolist() == [math.ceil(1000 * DEFAULT_FACTORS[t]) for t in tiers]
    assert scale_requests(PodMix(mix.tier, np.full(len(tiers), 12, dtype=np.int64), mix.actual_milli),
                          PolicyConfig()).request_milli.tolist() == [scale_cpu_milli(12, DEFAULT_FACTORS[t], 10)
                                                                     for t in tiers]
    assert request_ceiling([mix], PolicyConfig()) == pytest.approx(5000 / 3400 - 1)


# --- packing --------------------------------------------------------------------------------


@given(pod_mixes(), limits)
def test_every_pod_is_placed_once_and_every_shared_node_keeps_all_three_limits(mix: PodMix,
                                                                               lim: NodeLimits) -> None:
    packing = pack_first_fit_decreasing(mix, lim)
    assert packing.placed == len(mix)
    assert np.all((packing.node_of_pod >= 0) & (packing.node_of_pod < packing.nodes))
    protected = np.where(mix.protected, mix.actual_milli, 0.0)
    capacity = lim.capacity_milli
    for node in range(packing.nodes):
        on = packing.node_of_pod == node
        assert on.any()
        assert packing.request_milli[node] == pytest.approx(mix.request_milli[on].sum())
        if on.sum() > 1:  # only a lone pod may exceed a limit
            assert mix.request_milli[on].sum() <= capacity
            assert protected[on].sum() <= lim.protected_cap * capacity + 1e-6
            assert mix.actual_milli[on].sum() <= lim.total_cap * capacity + 1e-6
    too_big = ((mix.request_milli > capacity) | (protected > lim.protected_cap * capacity + 1e-9)
               | (mix.actual_milli > lim.total_cap * capacity + 1e-9))
    assert packing.lone_over_cap == int(too_big.sum())
    shared_requests = mix.request_milli[~too_big].sum()
    assert packing.nodes - packing.lone_over_cap >= math.ceil(shared_requests / capacity - 1e-9)


@given(pod_mixes(), limits, st.integers(min_value=0, max_value=40))
def test_more_nodes_never_place_fewer_pods(mix: PodMix, lim: NodeLimits, nodes: int) -> None:
    fewer = pack_first_fit_decreasing(mix, lim, max_nodes=nodes)
    more = pack_first_fit_decreasing(mix, lim, max_nodes=nodes + 1)
    assert more.placed >= fewer.placed
    assert fewer.nodes <= nodes
    # first fit fills nodes in order: the first `nodes` nodes hold the same pods either way
    kept = (fewer.node_of_pod >= 0)
    assert np.array_equal(fewer.node_of_pod[kept], more.node_of_pod[kept])


def test_first_fit_decreasing_is_not_monotone_in_node_size() -> None:
    """A larger node can need more nodes (packing by request, blind to actual use): why the
    script reports a spread over seeds rather than asserting 'more capacity, fewer nodes'."""
    mix = PodMix(np.array([int(Tier.CRITICAL), int(Tier.BACKGROUND), int(Tier.CRITICAL), int(Tier.BACKGROUND)],
                          dtype=np.int64),
                 np.array([6, 4, 4, 6], dtype=np.int64), np.array([1.0, 4.0, 4.0, 1.0]))
    assert pack_first_fit_decreasing(mix, NodeLimits(10, 0.5, 0.5)).nodes == 2
    assert pack_first_fit_decreasing(mix, NodeLimits(14, 0.5, 0.5)).nodes == 3


def test_the_arms_give_fair_one_cap_and_temper_the_fair_cap_for_protected_load() -> None:
    arms = {a.name: a for a in make_arms({"fair": SafeUtil(0.4, "crossing"),
                                          "temper": SafeUtil(0.9, "crossing")}, 8000, "fair")}
    assert (arms["fair"].limits.protected_cap, arms["fair"].limits.total_cap) == (0.4, 0.4)
    assert (arms["temper + webhook"].limits.protected_cap, arms["temper + webhook"].limits.total_cap) == (0.4, 0.9)
    sensitivity = arms["temper + webhook, protected cap = temper reading"]
    assert (sensitivity.limits.protected_cap, sensitivity.webhook) == (0.9, True)
    assert not arms["temper"].webhook and arms["fair + webhook"].webhook


# --- the script -----------------------------------------------------------------------------

SMALL = ["--pods", "150", "--seeds", "1", "--sweep-slo-ms", "0.5,2"]


def test_a_missing_ladder_is_announced_loudly_and_labelled_in_the_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "packing.json"
    assert main(["--ladder", str(tmp_path / "absent.json"), "--out", str(out), *SMALL]) == 0
    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert "LADDER NOT FOUND" in stream and "NOT MEASURED" in stream
    assert "ILLUSTRATIVE" in captured.out and "This is a model" in captured.out and "+72%" in captured.out
    result = json.loads(out.read_text())
    assert result["curve_source"] == "illustrative" and result["fallback_curve"] == DEFAULT_FALLBACK_CURVE
    assert [a["name"] for a in result["arms"]][:4] == ["fair", "fair + webhook", "temper", "temper + webhook"]
    assert len(result["slo_sweep"]) == 2


def test_require_ladder_turns_the_fallback_into_an_error(tmp_path: Path) -> None:
    assert main(["--ladder", str(tmp_path / "absent.json"), "--require-ladder",
                 "--out", str(tmp_path / "o.json"), *SMALL]) == 2
    assert not (tmp_path / "o.json").exists()


def test_a_measured_ladder_is_used_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rungs = [{"fillers": f, "scheduler": s, "p50_us": 50.0, "p99_us": p, "p999_us": p * 2, "samples": 3000,
              "cpu_util": u, "batch_cpu_s": 0.0}
             for s, series in (("fair", [(0.1, 200.0), (0.6, 900.0), (1.0, 2500.0)]),
                               ("temper", [(0.1, 200.0), (0.6, 300.0), (1.0, 450.0)]))
             for f, (u, p) in enumerate(series)]
    ladder = tmp_path / "lab_ladder.json"
    ladder.write_text(json.dumps({"kernel": "7.2.13", "cpus": 2, "date": "d", "host_load": [1.0], "rungs": rungs}))
    out = tmp_path / "packing.json"
    assert main(["--ladder", str(ladder), "--out", str(out), "--require-ladder", *SMALL]) == 0
    captured = capsys.readouterr()
    assert "NOT FOUND" not in captured.out + captured.err and "measured ladder" in captured.out
    result = json.loads(out.read_text())
    assert result["curve_source"] == "ladder" and result["ladder"]["kernel"] == "7.2.13"
    assert result["schedulers"]["temper"]["bound"] == "measured_max"


def test_a_ladder_without_a_needed_scheduler_is_an_error(tmp_path: Path) -> None:
    ladder = tmp_path / "lab_ladder.json"
    ladder.write_text(json.dumps({"rungs": [{"scheduler": "fair", "cpu_util": 0.5, "p99_us": 100.0}]}))
    assert main(["--ladder", str(ladder), "--out", str(tmp_path / "o.json"), *SMALL]) == 2

