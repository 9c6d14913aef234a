"""What the trace allows without a cluster: the static allocation and an upper bound.

``simulate(lab, workloads, horizon, pinned=True)`` replays the trace on the
allocation the case study started from: each researcher owns one server, their
work waits in line on it (highest class first, then first come), and the other
servers stay idle however long that line is. A workload wider than one server
(a two-server training job) never starts there. With ``pinned=False`` the same
loop places pods on any server, all of a workload's pods at once or none: the
pooled policy that Kueue and the scheduler carry out on the cluster, given
here as a cross-check of the measured run, not as its substitute.

Both are greedy at every event: a workload that fits starts even when an older
one that does not fit is waiting (the scheduler's and Kueue's BestEffortFIFO
behaviour); nothing is preempted. A sweep's trials arrive as Katib would create
them (``sweeps.SweepGate``): its next trial when one of its trials finishes.

``ideal_gpu_hours`` is an offline upper bound on the GPU-hours any scheduler
could deliver from the trace on the lab's GPUs within the window (see there).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from .sweeps import SweepGate, earliest_arrivals
from .trace import Lab, Workload


@dataclass(frozen=True)
class Placement:
    workload: Workload
    start: float | None
    """Hours from the window's start; None when it never started within the window."""
    arrival: float | None
    """When it arrived: its trace time, or for a sweep's trial when the gate created
    it; None when it was never created within the window."""


def _fit(free: dict[str, int], workload: Workload, servers: list[str]) -> dict[str, int] | None:
    """GPUs to take per server for all of ``workload``'s pods, first fit, or None."""
    left = dict(free)
    taken: dict[str, int] = {}
    for _ in range(workload.pods):
        server = next((s for s in servers if left[s] >= workload.gpus_per_pod), None)
        if server is None:
            return None
        left[server] -= workload.gpus_per_pod
        taken[server] = taken.get(server, 0) + workload.gpus_per_pod
    return taken


def simulate(lab: Lab, workloads: list[Workload], horizon: float, pinned: bool) -> list[Placement]:
    """When each workload arrives and starts, in the order given. A sweep's trials
    arrive as ``sweeps.SweepGate`` creates them, on this run's finishes."""
    owner_server = {r.name: r.server for r in lab.researchers}
    index = {w.name: i for i, w in enumerate(workloads)}
    free = {s: lab.gpus_per_server for s in lab.servers}
    gate = SweepGate(workloads)
    arriving = [(w.arrival, index[w.name]) for w in gate.initial()]
    heapq.heapify(arriving)
    finishing: list[tuple[float, int, dict[str, int]]] = []
    pending: list[int] = []
    arrivals: dict[int, float] = {}
    starts: dict[int, float] = {}
    while True:
        candidates = [t[0] for t in (arriving[:1] + finishing[:1])]
        if not candidates or min(candidates) >= horizon:
            break
        now = min(candidates)
        while finishing and finishing[0][0] <= now:
            at, i, taken = heapq.heappop(finishing)
            for server, gpus in taken.items():
                free[server] += gpus
            following = gate.finished(workloads[i])
            if following is not None:
                heapq.heappush(arriving, (at, index[following.name]))
        while arriving and arriving[0][0] <= now:
            at, i = heapq.heappop(arriving)
            arrivals[i] = at
            pending.append(i)
        pending.sort(key=lambda i: (-workloads[i].workload_class.value, arrivals[i], i))
        still = []
        for i in pending:
            w = workloads[i]
            servers = [owner_server[w.owner]] if pinned else list(lab.servers)
            taken = _fit(free, w, servers)
            if taken is None:
                still.append(i)
                continue
            for server, gpus in taken.items():
                free[server] -= gpus
            starts[i] = now
            heapq.heappush(finishing, (now + w.duration, i, taken))
        pending = still
    return [Placement(w, starts.get(i), arrivals.get(i)) for i, w in enumerate(workloads)]


def ideal_gpu_hours(workloads: list[Workload], gpus: int, horizon: float) -> float:
    """An upper bound on the GPU-hours any schedule of ``workloads`` on ``gpus`` GPUs
    delivers in [0, horizon].

    For any split time s, the work done before s is at most what the workloads that
    arrived could each do since their arrival at full width (GPUs x min(duration,
    s - arrival)), and the work done after s at most ``gpus`` x (horizon - s). The
    bound is the smallest such sum over s. It ignores packing (a 4-GPU pod needs 4
    free GPUs on one server) and holds each workload to its own duration, so no
    real scheduler beats it; with s = horizon it is the demand that fits in the
    window, with s = 0 the capacity. The sum over workloads is piecewise linear
    in s, so its minimum is at a breakpoint (an arrival or an ideal finish).

    A sweep's trial counts from the earliest any run could create it
    (``sweeps.earliest_arrivals``), so the bound holds for every run's trials.
    """
    arrivals = earliest_arrivals(workloads)
    events: list[tuple[float, int]] = []
    for w in workloads:
        arrival = arrivals[w.name]
        if arrival < horizon:
            events.append((arrival, w.gpus))
            events.append((arrival + w.duration, -w.gpus))
    events.sort()
    best = gpus * horizon  # s = 0
    done, width, at = 0.0, 0, 0.0
    for time, change in [*events, (horizon, 0)]:
        time = min(time, horizon)
        done += width * (time - at)
        at = time
        width += change
        best = min(best, done + gpus * (horizon - time))
        if time >= horizon:
            break
    return best
