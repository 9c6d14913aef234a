"""A sweep's trials created as Katib creates them: a new one when one finishes.

Katib's experiment controller keeps an Experiment's pending and running trials
at its ``parallelTrialCount`` (``trace.Sweep.parallel_trials``): the first ones
when the Experiment is created, then one more each time a trial finishes, in
the order its suggestion service hands them out (here: the trace's order).
``SweepGate`` plays that for one run; every run (the queued and the static one
on the cluster, the in-process replays) holds a gate of its own, fed with that
run's finishes, so a slower schedule also creates its trials later, as it would
with Katib.

A workload with no sweep is never held: it arrives at its trace time.
"""

from __future__ import annotations

import heapq
from collections import deque

from .trace import Sweep, Workload


class SweepGate:
    """Which trials of ``workloads``' sweeps exist yet. Not thread-safe: one owner."""

    def __init__(self, workloads: list[Workload]):
        self._held: dict[Sweep, deque[Workload]] = {}
        self._free: list[Workload] = []
        created: dict[Sweep, int] = {}
        for w in workloads:
            if w.sweep is None:
                self._free.append(w)
                continue
            line = self._held.setdefault(w.sweep, deque())
            if created.get(w.sweep, 0) < w.sweep.parallel_trials:
                created[w.sweep] = created.get(w.sweep, 0) + 1
                self._free.append(w)
            else:
                line.append(w)

    def initial(self) -> list[Workload]:
        """What arrives at its trace time: every workload outside a sweep, and each
        sweep's first ``parallel_trials`` trials (created with the Experiment)."""
        return list(self._free)

    def finished(self, workload: Workload) -> Workload | None:
        """The trial Katib creates now that ``workload`` finished (its sweep's next one),
        or None (not a trial, or its sweep has created all of its trials). Call it once
        per finished trial; an evicted trial that runs again has not finished."""
        if workload.sweep is None:
            return None
        line = self._held[workload.sweep]
        return line.popleft() if line else None


def earliest_arrivals(workloads: list[Workload]) -> dict[str, float]:
    """The earliest hour each workload can arrive in any run: its trace time, or for a
    trial, when it would be created if every trial ran the moment it was created.

    No schedule creates a trial earlier: the k-th trial beyond the first
    ``parallel_trials`` follows the k-th finish among the trials before it, each of
    which (by induction) starts and so finishes no earlier than here. That makes
    these arrivals a sound input for an upper bound (``offline.ideal_gpu_hours``).
    """
    out: dict[str, float] = {}
    gate = SweepGate(workloads)
    finishing: list[tuple[float, int, Workload]] = []
    for w in gate.initial():
        out[w.name] = w.arrival
        if w.sweep is not None:
            heapq.heappush(finishing, (w.arrival + w.duration, len(out), w))
    while finishing:
        at, _, done = heapq.heappop(finishing)
        following = gate.finished(done)
        if following is not None:
            out[following.name] = at
            heapq.heappush(finishing, (at + following.duration, len(out), following))
    return out
