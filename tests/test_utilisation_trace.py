"""The lab trace of the utilisation benchmark: seeded, shaped by the cited figures."""

from __future__ import annotations

import statistics

import pytest
from mlops_contract.queueing import JOB, NOTEBOOK, TRIAL

from benchmarks.utilisation import trace
from benchmarks.utilisation.trace import HORIZON_H, lab_trace, philly_duration_h, small_lab


def test_the_same_seed_gives_the_same_trace_and_another_seed_another():
    lab = small_lab()
    assert lab_trace(lab, 7) == lab_trace(lab, 7)
    assert lab_trace(lab, 7) != lab_trace(lab, 8)


def test_durations_follow_the_philly_quantiles_between_a_floor_and_a_cap():
    assert philly_duration_h(0.5) == pytest.approx(1186 / 3600)
    assert philly_duration_h(0.9) == pytest.approx(12860 / 3600)
    # Log-linear between p50 and p75: the geometric mean half-way.
    assert philly_duration_h(0.625) == pytest.approx((1186 * 3342) ** 0.5 / 3600)
    assert philly_duration_h(0.0) == trace.MIN_DURATION_H
    assert philly_duration_h(0.999) == pytest.approx(287333 / 3600)
    samples = [philly_duration_h(i / 1000) for i in range(1, 1000)]
    assert statistics.median(samples) == pytest.approx(1186 / 3600, rel=0.01)


def test_submission_shares_fall_with_rank_and_put_most_jobs_on_the_top_two():
    shares = trace.submission_shares(8)
    assert sum(shares) == pytest.approx(1)
    assert shares == sorted(shares, reverse=True)
    assert 0.65 < shares[0] + shares[1] < 0.75


def test_arrivals_follow_the_working_day_and_the_week():
    assert trace.arrival_rate(10) == 1.0  # Monday 10:00
    assert trace.arrival_rate(3) < trace.arrival_rate(20) < trace.arrival_rate(14)
    assert trace.arrival_rate(5 * 24 + 14) < trace.arrival_rate(14)  # Saturday afternoon
    jobs = [w for w in lab_trace(small_lab(), 3) if w.workload_class == JOB]
    working = sum(1 for w in jobs if w.arrival % (7 * 24) < 5 * 24 and 9 <= w.arrival % 24 < 18)
    # Working hours are 45 of 168 hours a week but get rate 1.0 against at most 0.5 elsewhere.
    assert working / len(jobs) > 0.45


def test_the_trace_has_every_class_in_the_window_and_wide_jobs_split_over_servers():
    lab = small_lab()
    workloads = lab_trace(lab, 1)
    assert [w.arrival for w in workloads] == sorted(w.arrival for w in workloads)
    assert all(0 <= w.arrival < HORIZON_H for w in workloads)
    assert sum(1 for w in workloads if w.workload_class == TRIAL) == trace.SWEEP_TRIALS
    assert len({w.name for w in workloads}) == len(workloads)
    for w in workloads:
        assert w.gpus_per_pod <= lab.gpus_per_server
        assert w.duration >= trace.MIN_DURATION_H
    assert any(w.pods == 2 and w.gpus == 8 for w in workloads)
    notebooks = [w for w in workloads if w.workload_class == NOTEBOOK]
    assert notebooks and all(w.busy_share == pytest.approx(trace.NOTEBOOK_BUSY_SHARE) for w in notebooks)
    for w in notebooks:
        assert all(0 <= a < b <= w.duration for a, b in w.busy)
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(w.busy, w.busy[1:], strict=False))
