"""The figures of a run, from when each workload's pods started and stopped.

A run is a list of ``Started``: one per workload that arrived, with the hour it
arrived (on the cluster: its object's creation time; a sweep's trial arrives
when that run's sweep created it), and per pod the hours it ran. The
same functions read the measured run and the simulated ones, so the ratios
compare like with like.

GPU-hours *used* are those held by running pods inside the window: a notebook's
whole session counts, busy or idle, because nobody else can have those GPUs
(that is the case study's point); ``busy_gpu_hours`` counts only the stretches
a notebook computes. A workload still waiting when the window closes has waited
at least until then; its wait enters the statistics as that lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.harness import median, percentile

from .offline import Placement
from .trace import Workload


@dataclass(frozen=True)
class Started:
    workload: Workload
    arrival: float
    pods: tuple[tuple[float, float], ...]
    """(start, stop) hours of each pod that ran; empty when none did."""

    @property
    def start(self) -> float | None:
        """When the whole workload first ran: the start of its n-th pod, n being its
        pod count (an evicted workload's later pods come after), or None."""
        if len(self.pods) < self.workload.pods:
            return None
        return sorted(start for start, _ in self.pods)[self.workload.pods - 1]


def from_placements(placements: list[Placement]) -> list[Started]:
    """A simulated run in the shape of a measured one; a trial its sweep never created
    is not in it (nobody waited for it)."""
    return [
        Started(
            p.workload,
            p.arrival,
            () if p.start is None else ((p.start, p.start + p.workload.duration),) * p.workload.pods,
        )
        for p in placements
        if p.arrival is not None
    ]


def _overlap(start: float, stop: float, horizon: float) -> float:
    return max(0.0, min(stop, horizon) - max(start, 0.0))


def used_gpu_hours(run: list[Started], horizon: float) -> float:
    return sum(s.workload.gpus_per_pod * _overlap(a, b, horizon) for s in run for a, b in s.pods)


def busy_gpu_hours(run: list[Started], horizon: float) -> float:
    """Like ``used_gpu_hours``, counting notebooks only while they compute."""
    total = 0.0
    for s in run:
        for start, stop in s.pods:
            stretches = s.workload.busy or ((0.0, s.workload.duration),)
            for a, b in stretches:
                total += s.workload.gpus_per_pod * _overlap(start + a, min(start + b, stop), horizon)
    return total


def waits(run: list[Started], horizon: float, class_name: str | None = None) -> list[float]:
    """Hours from arrival to start of every workload (of one class) that arrived in the
    window; one that never started waited at least until the window closed."""
    out = []
    for s in run:
        if s.arrival >= horizon or (class_name and s.workload.workload_class.name != class_name):
            continue
        start = s.start
        out.append((horizon if start is None else start) - s.arrival)
    return out


@dataclass(frozen=True)
class WaitSummary:
    count: int
    median: float
    p95: float
    longest: float
    never_started: int


def wait_summary(run: list[Started], horizon: float, class_name: str | None = None) -> WaitSummary:
    samples = waits(run, horizon, class_name)
    unstarted = sum(
        1
        for s in run
        if s.arrival < horizon
        and s.start is None
        and (class_name is None or s.workload.workload_class.name == class_name)
    )
    if not samples:
        return WaitSummary(0, 0.0, 0.0, 0.0, 0)
    return WaitSummary(len(samples), median(samples), percentile(samples, 95), max(samples), unstarted)
