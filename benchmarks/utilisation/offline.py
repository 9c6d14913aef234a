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
behaviour); nothing is preempted.

``ideal_gpu_hours`` is an offline upper bound on the GPU-hours any scheduler
could deliver from the trace on the lab's GPUs within the window (see there).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from .trace import Lab, Workload


@dataclass(frozen=True)
class Placement:
    workload: Workload
    start: float | None
    """Hours from the window's start; None when it never started within the window."""


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
    """When each workload starts, in the order given."""
    owner_server = {r.name: r.server for r in lab.researchers}
    free = {s: lab.gpus_per_server for s in lab.servers}
    arrivals = sorted(range(len(workloads)), key=lambda i: workloads[i].arrival)
    finishing: list[tuple[float, int, dict[str, int]]] = []
    pending: list[int] = []
    starts: dict[int, float] = {}
    next_arrival = 0
    while True:
        candidates = [workloads[arrivals[next_arrival]].arrival] if next_arrival < len(arrivals) else []
        if finishing:
            candidates.append(finishing[0][0])
        if not candidates or min(candidates) >= horizon:
            break
        now = min(candidates)
        while finishing and finishing[0][0] <= now:
            _, _, taken = heapq.heappop(finishing)
            for server, gpus in taken.items():
                free[server] += gpus
        while next_arrival < len(arrivals) and workloads[arrivals[next_arrival]].arrival <= now:
            pending.append(arrivals[next_arrival])
            next_arrival += 1
        pending.sort(key=lambda i: (-workloads[i].workload_class.value, workloads[i].arrival, i))
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
    return [Placement(w, starts.get(i)) for i, w in enumerate(workloads)]


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
    """
    events: list[tuple[float, int]] = []
    for w in workloads:
        if w.arrival < horizon:
            events.append((w.arrival, w.gpus))
            events.append((w.arrival + w.duration, -w.gpus))
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
