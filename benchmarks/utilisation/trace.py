"""Two weeks of a small lab's GPU work, generated from published trace figures.

``lab_trace(lab, seed)`` is pure and seeded: the same lab and seed give the
same workloads, so the queued run on the cluster, the static baseline and the
offline bound all read one trace. Times are hours from Monday 00:00 of the
first week. A sweep's trials are the one part whose arrival the run decides:
see "The sweep" below.

Where the shape comes from (figures cited in our words, never copied):

- **Durations of training jobs**: the Philly run times (Jeon et al.,
  "Analysis of Large-Scale Multi-Tenant GPU Clusters for DNN Training
  Workloads", USENIX ATC '19), as the PAI paper (Weng et al., "MLaaS in the
  Wild", NSDI '22) plots them beside its own in its Figure 4, from the file it
  publishes for that plot (alibaba/clusterdata,
  ``cluster-trace-gpu-v2020/analysis/philly_runtime.csv``, 83,154 jobs). The
  quantiles in ``PHILLY_RUNTIME_QUANTILES`` are what we computed from that
  file: median 1,186 s (20 min), p75 56 min, p90 3.6 h, p95 13.9 h, p99 80 h.
  A job's duration is drawn by log-linear interpolation between them, capped
  at p99 and floored at ``MIN_DURATION_H``: 45 % of Philly's jobs end within
  15 minutes (mostly failed and debugging runs), shorter than the compressed
  cluster can time (one API-server second is ``factor`` seconds of lab time).
- **Who submits**: PAI's trace is highly skewed by user (the paper reports,
  as summarised by its authors' project page and secondary summaries, that
  about 77 % of task instances come from the top 5 % of users). An 8-person
  lab has no "top 5 %"; we give researcher *k* a share of the jobs in
  proportion to 1/k^``USER_SKEW``, which puts ~70 % of the jobs on the top two
  researchers. The exponent is our choice, not a published figure.
- **GPUs per job**: the Philly paper buckets jobs by 1, 2-4, 5-8 and >8 GPUs
  and single-GPU jobs are the most common; we could not verify its exact
  shares, so ``GPUS_PER_JOB`` (60 % one GPU, 15 % two, 15 % four, 10 % eight as
  two 4-GPU pods on two servers) is our assumption in that shape.
- **When work arrives**: PAI's Figure 3 shows submissions following the
  working day and the week; the multipliers in ``arrival_rate`` (working
  hours 1.0, evenings 0.5, nights 0.15, weekends 0.25) are our assumption of
  that shape, not figures read off the plot.
- **Notebooks**: a notebook holds its GPU for its whole session, busy or not.
  Third-party analyses of both traces find long idle stretches inside GPU
  reservations (a quarter to a half of the reserved time idle in Philly); we
  give each session busy stretches that cover ``NOTEBOOK_BUSY_SHARE`` of it.
- **The sweep**: one Katib Experiment of 800 one-GPU trials, submitted on
  Tuesday 10:00 with ``parallelTrialCount`` = ``SWEEP_PARALLEL_TRIALS`` (12:
  our choice for one researcher's sweep in a 32-GPU lab; Katib's default is
  3). Katib never creates a sweep's trials all at once: its experiment
  controller (v0.19, ``ReconcileTrials``) counts the Experiment's pending and
  running trials and creates new ones until they are ``parallelTrialCount``
  again, so a new trial follows each one that finishes. The trace therefore gives each trial the sweep's
  submission time as ``arrival`` (the earliest it could be created) and the
  ``Sweep`` it belongs to; ``sweeps.SweepGate`` creates them in the trace's
  order as trials finish, in the run on the cluster and in the in-process
  replays alike, so every run sees the same workload and a slower schedule
  also creates its trials later. Trial lengths are log-normal around
  40 minutes (our assumption: trials are short, similar runs).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from mlops_contract.queueing import JOB, NOTEBOOK, TRIAL, WorkloadClass

DAYS = 14
HORIZON_H = DAYS * 24.0
"""The simulated window: two weeks, starting Monday 00:00."""

PHILLY_RUNTIME_QUANTILES = (
    (0.10, 61.0),
    (0.25, 131.0),
    (0.50, 1186.0),
    (0.75, 3342.0),
    (0.90, 12860.0),
    (0.95, 49969.0),
    (0.99, 287333.0),
)
"""(quantile, run time in seconds) of Philly's jobs, computed from the file cited above."""

MIN_DURATION_H = 0.25
USER_SKEW = 1.5
GPUS_PER_JOB = ((1, 0.60), (2, 0.15), (4, 0.15), (8, 0.10))
"""(GPUs, share of jobs); 8 GPUs run as two pods of 4, one per server."""
JOBS_PER_WEEK = 450
"""Training jobs the whole lab submits per week: with the durations above about
2,600 GPU-hours a week, close to the 5,376 GPU-hours a week the 32 GPUs offer once
the sweep and the notebooks are added over two weeks."""
NOTEBOOK_BUSY_SHARE = 0.4
SWEEP_TRIALS = 800
SWEEP_PARALLEL_TRIALS = 12
SWEEP_TRIAL_MEDIAN_H = 40 / 60
SWEEP_ARRIVAL_H = 24 + 10.0
"""Tuesday 10:00 of the first week."""


@dataclass(frozen=True)
class Researcher:
    name: str
    group: str
    server: str
    """The server this researcher owned in the static allocation."""


@dataclass(frozen=True)
class Lab:
    researchers: tuple[Researcher, ...]
    gpus_per_server: int

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(r.server for r in self.researchers)

    @property
    def gpus(self) -> int:
        return self.gpus_per_server * len(self.researchers)


def small_lab() -> Lab:
    """Eight researchers in three JupyterHub groups, one 4-GPU server each."""
    groups = ("vision", "vision", "vision", "language", "language", "language", "robotics", "robotics")
    return Lab(
        tuple(Researcher(f"researcher{i + 1}", group, f"lab-gpu-{i}") for i, group in enumerate(groups)),
        gpus_per_server=4,
    )


@dataclass(frozen=True)
class Sweep:
    """A Katib Experiment: its trials are created one after another, at most
    ``parallel_trials`` of them pending or running at once."""

    name: str
    parallel_trials: int


@dataclass(frozen=True)
class Workload:
    name: str
    owner: str
    workload_class: WorkloadClass
    arrival: float
    """Hours from the start of the window."""
    duration: float
    """Hours the workload holds its GPUs once started."""
    pods: int
    gpus_per_pod: int
    busy: tuple[tuple[float, float], ...] = ()
    """A notebook's busy stretches, (from, to) in hours after its start."""
    sweep: Sweep | None = None
    """The sweep whose trial this is: then ``arrival`` is the sweep's submission, and
    the trial is created when the sweep has room for it (``sweeps.SweepGate``)."""

    @property
    def gpus(self) -> int:
        return self.pods * self.gpus_per_pod

    @property
    def busy_share(self) -> float:
        """The share of its held time a workload computes (jobs and trials: all of it)."""
        if not self.busy:
            return 1.0
        return sum(end - start for start, end in self.busy) / self.duration


def arrival_rate(hour: float) -> float:
    """Relative submission rate at ``hour`` of the window (1.0 = a weekday working hour)."""
    day, clock = divmod(hour, 24.0)
    if int(day) % 7 >= 5:
        return 0.25
    if 9 <= clock < 18:
        return 1.0
    if 18 <= clock < 23 or 7 <= clock < 9:
        return 0.5
    return 0.15


def philly_duration_h(u: float) -> float:
    """The Philly run time at quantile ``u``, log-linearly interpolated, in hours,
    capped at the last quantile and floored at ``MIN_DURATION_H``."""
    qs = [q for q, _ in PHILLY_RUNTIME_QUANTILES]
    i = bisect.bisect_left(qs, u)
    if i == 0:
        seconds = PHILLY_RUNTIME_QUANTILES[0][1]
    elif i == len(qs):
        seconds = PHILLY_RUNTIME_QUANTILES[-1][1]
    else:
        (q0, s0), (q1, s1) = PHILLY_RUNTIME_QUANTILES[i - 1], PHILLY_RUNTIME_QUANTILES[i]
        t = (u - q0) / (q1 - q0)
        seconds = math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0)))
    return max(MIN_DURATION_H, seconds / 3600)


def submission_shares(n: int) -> list[float]:
    """Researcher k's share of the lab's jobs (k = 1 submits most), summing to 1."""
    weights = [1 / (k**USER_SKEW) for k in range(1, n + 1)]
    return [w / sum(weights) for w in weights]


def _arrivals(rng: random.Random, per_week: float, horizon: float) -> list[float]:
    """A Poisson process following ``arrival_rate``: thinning of a constant-rate one.
    ``per_week`` is the mean count of a week whose every hour were a working hour
    scaled so that an average week gets ``per_week``."""
    mean_rate = sum(arrival_rate(h + 0.5) for h in range(24 * 7)) / (24 * 7)
    peak = per_week / (24 * 7) / mean_rate  # arrivals per hour at rate 1.0
    times, t = [], 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= horizon:
            return times
        if rng.random() < arrival_rate(t):
            times.append(t)


def _gpus(rng: random.Random) -> int:
    return rng.choices([g for g, _ in GPUS_PER_JOB], weights=[w for _, w in GPUS_PER_JOB])[0]


def _notebook(rng: random.Random, name: str, owner: str, arrival: float) -> Workload:
    """A working-day session: 3 to 9 hours, busy in a few stretches that add up to
    ``NOTEBOOK_BUSY_SHARE`` of it."""
    duration = rng.uniform(3.0, 9.0)
    stretches, busy_total = rng.randint(2, 4), NOTEBOOK_BUSY_SHARE * duration
    slot = duration / stretches
    each = busy_total / stretches
    busy = tuple((i * slot + o, i * slot + o + each) for i in range(stretches) for o in [rng.uniform(0, slot - each)])
    return Workload(name, owner, NOTEBOOK, arrival, duration, 1, 1, busy)


def lab_trace(lab: Lab, seed: int = 1, horizon: float = HORIZON_H) -> list[Workload]:
    """Every workload of the window, in arrival order."""
    rng = random.Random(seed)
    workloads: list[Workload] = []
    shares = submission_shares(len(lab.researchers))
    for rank, (researcher, share) in enumerate(zip(lab.researchers, shares, strict=True)):
        for day in range(int(horizon // 24)):
            # Most researchers open a notebook on most working days, around 9-11.
            if day % 7 < 5 and rng.random() < 0.8:
                arrival = day * 24 + rng.uniform(9.0, 11.0)
                workloads.append(_notebook(rng, f"nb-{rank + 1}-{day}", researcher.name, arrival))
        for i, arrival in enumerate(_arrivals(rng, JOBS_PER_WEEK * share, horizon)):
            gpus = _gpus(rng)
            pods, per_pod = (2, gpus // 2) if gpus > lab.gpus_per_server else (1, gpus)
            duration = philly_duration_h(rng.random())
            workloads.append(Workload(f"job-{rank + 1}-{i}", researcher.name, JOB, arrival, duration, pods, per_pod))
    sweeper = lab.researchers[1].name
    if SWEEP_ARRIVAL_H < horizon:
        sweep = Sweep("sweep", SWEEP_PARALLEL_TRIALS)
        width = len(str(SWEEP_TRIALS - 1))
        for i in range(SWEEP_TRIALS):
            duration = max(MIN_DURATION_H, rng.lognormvariate(math.log(SWEEP_TRIAL_MEDIAN_H), 0.5))
            # Zero-padded, so that the sort below keeps the trials in the order Katib creates them.
            name = f"trial-{i:0{width}d}"
            workloads.append(Workload(name, sweeper, TRIAL, SWEEP_ARRIVAL_H, duration, 1, 1, sweep=sweep))
    return sorted(workloads, key=lambda w: (w.arrival, w.name))


def demand_gpu_hours(workloads: list[Workload]) -> float:
    """GPU-hours the trace asks for (each workload's GPUs times its duration)."""
    return sum(w.gpus * w.duration for w in workloads)
