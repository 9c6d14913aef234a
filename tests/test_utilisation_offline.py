"""The static replay and the offline bound of the utilisation benchmark, on traces
small enough to check by hand."""

from __future__ import annotations

import pytest
from mlops_contract.queueing import JOB, NOTEBOOK, TRIAL

from benchmarks.utilisation.offline import ideal_gpu_hours, simulate
from benchmarks.utilisation.trace import Lab, Researcher, Sweep, Workload, lab_trace, small_lab

TWO = Lab((Researcher("ada", "g", "s-0"), Researcher("bob", "g", "s-1")), gpus_per_server=4)


def job(name, owner, arrival, duration, gpus=4, pods=1, cls=JOB):
    return Workload(name, owner, cls, arrival, duration, pods, gpus)


def starts(placements):
    return {p.workload.name: p.start for p in placements}


def test_static_work_waits_on_its_owners_server_while_the_other_idles():
    trace = [job("a1", "ada", 0, 10), job("a2", "ada", 1, 10)]
    assert starts(simulate(TWO, trace, 100, pinned=True)) == {"a1": 0, "a2": 10}
    assert starts(simulate(TWO, trace, 100, pinned=False)) == {"a1": 0, "a2": 1}


def test_a_workload_wider_than_a_server_never_runs_statically_and_runs_across_two_pooled():
    wide = [job("w", "ada", 0, 5, gpus=4, pods=2)]
    assert starts(simulate(TWO, wide, 100, pinned=True)) == {"w": None}
    assert starts(simulate(TWO, wide, 100, pinned=False)) == {"w": 0}


def test_the_highest_class_goes_first_and_smaller_work_backfills():
    trace = [
        job("big", "ada", 0, 10),
        job("trial", "ada", 1, 1, gpus=1, cls=TRIAL),
        job("nb", "ada", 2, 1, gpus=1, cls=NOTEBOOK),
        job("more", "ada", 3, 5, gpus=4),
        job("small", "ada", 4, 1, gpus=3),
    ]
    got = starts(simulate(TWO, trace, 100, pinned=True))
    # At 10 the notebook first; the older 4-GPU job cannot fit beside it, the 3-GPU one
    # can; the trial, older than both, comes after every job: at 11 "more" takes all 4.
    assert got == {"big": 0, "nb": 10, "small": 10, "more": 11, "trial": 16}


def arrivals(placements):
    return {p.workload.name: p.arrival for p in placements}


def test_a_sweep_creates_its_next_trial_when_one_of_its_trials_finishes():
    sweep = Sweep("s", parallel_trials=2)
    trials = [Workload(f"t{i}", "ada", TRIAL, 1, d, 1, 1, sweep=sweep) for i, d in enumerate((3, 2, 2, 1))]
    trace = [job("big", "ada", 0, 4, gpus=3), *trials]
    pooled = simulate(TWO, trace, 100, pinned=False)
    # Room for both lanes: t2 follows t1 at 3, t3 follows t0 at 4.
    assert arrivals(pooled) == {"big": 0, "t0": 1, "t1": 1, "t2": 3, "t3": 4}
    assert starts(pooled) == {"big": 0, "t0": 1, "t1": 1, "t2": 3, "t3": 4}
    pinned = simulate(TWO, trace, 100, pinned=True)
    # On ada's server one GPU is left beside "big" until 4: t1 waits for it, and the
    # sweep's next trials come only as its own trials finish.
    assert starts(pinned) == {"big": 0, "t0": 1, "t1": 4, "t2": 4, "t3": 6}
    assert arrivals(pinned) == {"big": 0, "t0": 1, "t1": 1, "t2": 4, "t3": 6}
    # A trial the sweep has not created by the horizon never arrived.
    assert arrivals(simulate(TWO, trace, 3.5, pinned=True))["t2"] is None


def test_nothing_starts_at_or_after_the_horizon():
    trace = [job("a1", "ada", 0, 10), job("a2", "ada", 1, 10)]
    assert starts(simulate(TWO, trace, 10, pinned=True)) == {"a1": 0, "a2": None}


def test_the_bound_is_the_smaller_of_what_fits_and_what_is_asked():
    # Asked: 4 GPUs x 10 h arriving at 0, the window is 100 h on 8 GPUs: demand binds.
    assert ideal_gpu_hours([job("a", "ada", 0, 10)], 8, 100) == pytest.approx(40)
    # Ten of them at once: 400 GPU-h asked, but each can only run 10 h from 0.
    many = [job(f"a{i}", "ada", 0, 10) for i in range(10)]
    assert ideal_gpu_hours(many, 8, 100) == pytest.approx(400)
    # ... in a 20 h window, 8 GPUs x 20 h = 160 binds.
    assert ideal_gpu_hours(many, 8, 20) == pytest.approx(160)
    # A two-pod job counts all of its GPUs, and only for its duration.
    assert ideal_gpu_hours([job("w", "ada", 0, 10, gpus=4, pods=2)], 8, 100) == pytest.approx(80)
    # Work arriving late: the window cuts it (4 GPUs x 5 h left).
    assert ideal_gpu_hours([job("late", "ada", 95, 10)], 8, 100) == pytest.approx(20)
    # An idle start cannot be made up: 8 GPUs x 10 h, arriving at 50 with 16 GPU-wide work.
    assert ideal_gpu_hours([job("x", "ada", 50, 100, gpus=4, pods=4)], 8, 100) == pytest.approx(8 * 50)


def test_the_bound_counts_a_sweep_only_as_fast_as_its_parallel_trials():
    sweep = Sweep("s", parallel_trials=1)
    trials = [Workload(f"t{i}", "ada", TRIAL, 0, 1, 1, 1, sweep=sweep) for i in range(4)]
    assert ideal_gpu_hours(trials, 8, 100) == pytest.approx(4)
    # One at a time: two of them fit in two hours, not all four side by side.
    assert ideal_gpu_hours(trials, 8, 2) == pytest.approx(2)


def test_the_bound_is_above_every_schedule_of_the_lab_trace():
    lab = small_lab()
    workloads = lab_trace(lab, 2, 72)
    assert any(w.sweep for w in workloads)
    bound = ideal_gpu_hours(workloads, lab.gpus, 72)
    for pinned in (True, False):
        used = sum(
            p.workload.gpus * (min(p.start + p.workload.duration, 72) - p.start)
            for p in simulate(lab, workloads, 72, pinned)
            if p.start is not None
        )
        assert used <= bound + 1e-9
    assert bound <= lab.gpus * 72
