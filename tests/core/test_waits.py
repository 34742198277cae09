"""temper.waits: the scheduler's log2 runqueue-wait histograms on the Python side (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temper.waits import BUCKET_UNIT_NS, WAIT_BUCKETS, WaitHistogram, merge, summary, upper_bound_ns

waits_ns = st.lists(st.integers(min_value=0, max_value=30 * 10**9), max_size=200)


@given(waits_ns)
def test_each_wait_lands_in_the_bucket_whose_bounds_hold_it(waits: list[int]) -> None:
    h = WaitHistogram.of_waits(waits)
    assert h.count == sum(h.buckets) == len(waits) and h.sum_ns == sum(waits)
    for wait in waits:
        (bucket,) = [b for b in range(WAIT_BUCKETS) if WaitHistogram.of_waits([wait]).buckets[b]]
        assert wait < upper_bound_ns(bucket)
        if bucket > 0:
            assert wait >= upper_bound_ns(bucket - 1)


@given(st.lists(waits_ns, max_size=8))
def test_merge_is_the_histogram_of_all_the_waits(parts: list[list[int]]) -> None:
    assert merge(WaitHistogram.of_waits(p) for p in parts) == WaitHistogram.of_waits([w for p in parts for w in p])


@given(waits_ns.filter(bool), st.sampled_from([0.5, 0.9, 0.99, 1.0]))
def test_a_quantile_is_never_under_the_true_one_and_at_most_twice_it(waits: list[int], q: float) -> None:
    h = WaitHistogram.of_waits(waits)
    estimate = h.quantile_ns(q)
    true = sorted(waits)[max(0, math.ceil(q * len(waits)) - 1)]
    assert estimate is not None and estimate > true
    if not math.isinf(estimate) and true >= BUCKET_UNIT_NS:
        assert estimate <= 2 * true + 2 * BUCKET_UNIT_NS


@given(waits_ns)
def test_coarse_buckets_are_cumulative_and_keep_every_count(waits: list[int]) -> None:
    h = WaitHistogram.of_waits(waits)
    coarse = h.coarse((4, 10, 20))
    counts = [c for _, c in coarse]
    assert counts == sorted(counts) and counts[-1] == len(waits) and math.isinf(coarse[-1][0])
    assert coarse[1] == (upper_bound_ns(10), sum(1 for w in waits if w < upper_bound_ns(10)))


def test_summary_reports_microseconds_and_the_open_last_bucket() -> None:
    assert summary(WaitHistogram()) == {"count": 0, "sum_seconds": 0.0, "p50_us": None, "p99_us": None,
                                        "overflow": False}
    h = WaitHistogram.of_waits([1_500] * 99 + [20 * 10**9])  # 99 x 1.5 µs, one 20 s stall
    assert summary(h)["p50_us"] == 2.048 and summary(h)["p99_us"] == 2.048 and summary(h)["overflow"] is True
    assert WaitHistogram.of_waits([20 * 10**9]).quantile_ns(0.5) == math.inf


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="buckets"):
        WaitHistogram(0, 0, (0,) * 3)
    with pytest.raises(ValueError, match="negative"):
        WaitHistogram(-1)
    with pytest.raises(ValueError, match="quantile"):
        WaitHistogram().quantile_ns(0.0)
    with pytest.raises(ValueError, match="ascending"):
        WaitHistogram().coarse((5, 3))
    with pytest.raises(ValueError, match="outside"):
        upper_bound_ns(WAIT_BUCKETS)
