"""A sweep's trials in the utilisation benchmark arrive as Katib creates them."""

from __future__ import annotations

import pytest
from mlops_contract.queueing import JOB, TRIAL

from benchmarks.utilisation import trace
from benchmarks.utilisation.sweeps import SweepGate, earliest_arrivals
from benchmarks.utilisation.trace import Sweep, Workload, lab_trace, small_lab

SWEEP = Sweep("s", parallel_trials=2)


def trial(i, duration=1.0, sweep=SWEEP):
    return Workload(f"t{i}", "ada", TRIAL, 5.0, duration, 1, 1, sweep=sweep)


JOB_A = Workload("a", "ada", JOB, 1.0, 3.0, 1, 4)


def test_the_first_trials_come_with_the_sweep_and_one_more_per_finish_in_order():
    trials = [trial(i) for i in range(5)]
    gate = SweepGate([JOB_A, *trials])
    assert gate.initial() == [JOB_A, trials[0], trials[1]]
    # Whichever trial finishes, the next one in the sweep's order follows.
    assert gate.finished(trials[1]) == trials[2]
    assert gate.finished(trials[0]) == trials[3]
    assert gate.finished(trials[3]) == trials[4]
    assert gate.finished(trials[2]) is None
    assert gate.finished(JOB_A) is None


def test_each_sweep_keeps_its_own_line():
    other = Sweep("o", parallel_trials=1)
    mine, theirs = [trial(i) for i in range(3)], [trial(10 + i, sweep=other) for i in range(2)]
    gate = SweepGate([*mine, *theirs])
    assert gate.initial() == [mine[0], mine[1], theirs[0]]
    assert gate.finished(theirs[0]) == theirs[1]
    assert gate.finished(mine[0]) == mine[2]


def test_two_gates_on_one_trace_do_not_share_their_lines():
    trials = [trial(i) for i in range(3)]
    first, second = SweepGate(trials), SweepGate(trials)
    assert first.finished(trials[0]) == trials[2]
    assert second.finished(trials[1]) == trials[2]


def test_earliest_arrivals_run_the_sweep_on_its_parallel_lanes():
    # Two lanes from 5: t0 (2 h) and t1 (1 h); t2 follows t1 at 6; t3 follows the next
    # finish, t2's (6 + 0.5), and t4 the one after, t0's at 7.
    trials = [trial(0, 2), trial(1, 1), trial(2, 0.5), trial(3, 1), trial(4, 1)]
    got = earliest_arrivals([JOB_A, *trials])
    assert got == {"a": 1.0, "t0": 5, "t1": 5, "t2": 6, "t3": 6.5, "t4": 7}


def test_the_lab_trace_sweep_holds_its_trials_in_katibs_order():
    workloads = lab_trace(small_lab(), 1)
    trials = [w for w in workloads if w.workload_class == TRIAL]
    assert len(trials) == trace.SWEEP_TRIALS
    assert {w.sweep for w in trials} == {Sweep("sweep", trace.SWEEP_PARALLEL_TRIALS)}
    assert all(w.sweep is None for w in workloads if w.workload_class != TRIAL)
    # The names sort in creation order, so the trace's order is Katib's.
    assert [w.name for w in trials] == sorted(w.name for w in trials)
    assert trials[0].name == "trial-000" and trials[-1].name == f"trial-{trace.SWEEP_TRIALS - 1}"
    first = [w for w in SweepGate(workloads).initial() if w.sweep is not None]
    assert first == trials[: trace.SWEEP_PARALLEL_TRIALS]
    # No more than parallel_trials ever run at once, even with room for all of them.
    arrivals = earliest_arrivals(workloads)
    events = sorted(
        [(arrivals[w.name], 1) for w in trials] + [(arrivals[w.name] + w.duration, -1) for w in trials],
        key=lambda e: (e[0], e[1]),
    )
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == trace.SWEEP_PARALLEL_TRIALS
    assert max(arrivals[w.name] for w in trials) == pytest.approx(
        trace.SWEEP_ARRIVAL_H + sum(w.duration for w in trials) / trace.SWEEP_PARALLEL_TRIALS, rel=0.1
    )
