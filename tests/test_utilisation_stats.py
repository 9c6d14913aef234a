"""The figures of a utilisation run: GPU-hours in the window and waits per class."""

from __future__ import annotations

import pytest
from mlops_contract.queueing import JOB, NOTEBOOK, TRIAL

from benchmarks.utilisation.offline import Placement
from benchmarks.utilisation.stats import (
    Started,
    busy_gpu_hours,
    from_placements,
    used_gpu_hours,
    wait_summary,
    waits,
)
from benchmarks.utilisation.trace import Workload

NB = Workload("nb", "ada", NOTEBOOK, 1, 8, 1, 2, busy=((0, 1), (5, 7)))
WIDE = Workload("wide", "ada", JOB, 0, 10, 2, 4)


def test_used_gpu_hours_count_every_pod_inside_the_window_only():
    run = [Started(WIDE, 0, ((2, 12), (3, 12))), Started(NB, 1, ((4, 12),))]
    # wide: 4 GPUs x (8 + 7) h inside [0, 10]; the notebook: 2 GPUs x 6 h.
    assert used_gpu_hours(run, 10) == pytest.approx(4 * 15 + 2 * 6)


def test_busy_gpu_hours_count_a_notebook_only_while_it_computes():
    run = [Started(NB, 1, ((4, 12),))]
    # Busy 4-5 and 9-11 inside a 10 h window: 1 + 1 hours, 2 GPUs each.
    assert busy_gpu_hours(run, 10) == pytest.approx(2 * 2)
    assert busy_gpu_hours([Started(WIDE, 0, ((0, 10), (0, 10)))], 10) == used_gpu_hours(
        [Started(WIDE, 0, ((0, 10), (0, 10)))], 10
    )


def test_a_gang_starts_when_its_last_pod_does_and_a_restart_does_not_count():
    assert Started(WIDE, 0, ((2, 5), (3, 5))).start == 3
    assert Started(WIDE, 0, ((2, 5),)).start is None
    evicted_then_rerun = Started(Workload("t", "ada", TRIAL, 0, 1, 1, 1), 0, ((7, 7.5), (2, 3)))
    assert evicted_then_rerun.start == 2


def test_waits_per_class_and_the_unstarted_wait_until_the_end():
    run = [
        Started(WIDE, 0, ((2, 12), (3, 12))),
        Started(NB, 1, ((4, 12),)),
        Started(Workload("t", "ada", TRIAL, 5, 1, 1, 1), 5, ()),
        Started(Workload("late", "ada", TRIAL, 20, 1, 1, 1), 20, ()),
    ]
    assert sorted(waits(run, 10)) == [3, 3, 5]
    assert waits(run, 10, TRIAL.name) == [5]
    summary = wait_summary(run, 10, TRIAL.name)
    assert (summary.count, summary.never_started, summary.longest) == (1, 1, 5)
    everything = wait_summary(run, 10)
    assert (everything.median, everything.p95, everything.longest) == (3, 5, 5)


def test_a_simulated_placement_reads_like_a_measured_run():
    uncreated = Workload("t9", "ada", TRIAL, 0, 1, 1, 1)
    run = from_placements([Placement(WIDE, 1.0, 0.5), Placement(NB, None, 1), Placement(uncreated, None, None)])
    assert run[0] == Started(WIDE, 0.5, ((1.0, 11.0), (1.0, 11.0)))
    assert run[1].start is None and run[1].arrival == 1
    # A trial its sweep never created is not waited for.
    assert len(run) == 2
