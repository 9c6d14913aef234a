"""Seconds the compressed cluster adds around each workload, read after a replay.

At the replay's compression one second of the control plane is many minutes of
the lab, so GPUs left idle for a few seconds by controllers count as lab hours.
These figures say how much of a run's idle time is the machine's rather than
the policy's; they read raw JSON (``kubectl get -o json``, or a pod sanitised
by the Kubernetes client), never the API server.

- ``pod_overruns_s``: how much longer than its duration a Succeeded pod ran
  (container ``finishedAt`` minus pod ``startTime``): KWOK finishing it late.
- ``quota_lag``: per Kueue Workload that ran once and finished without an
  eviction, the seconds from its ``Admitted`` condition to ``PodsReady`` (quota
  reserved, pods not yet running: the Job controller, the scheduler, KWOK) and
  from its pods' end (``PodsReady`` plus the duration) to ``Finished`` (the work
  done, the quota not yet given back: the Job controller, Kueue). Timestamps
  have one-second resolution, so each sample is within a second or two.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from benchmarks.harness import median, percentile

from .trace import Workload


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def pod_overruns_s(pods: list[dict], durations_s: dict[str, float], label: str) -> list[float]:
    """Per Succeeded pod whose workload (its ``label``) has a duration: seconds it ran
    beyond it."""
    out = []
    for pod in pods:
        status, name = pod.get("status") or {}, (pod["metadata"].get("labels") or {}).get(label)
        if status.get("phase") != "Succeeded" or name not in durations_s or not status.get("startTime"):
            continue
        ends = [
            c["state"]["terminated"]["finishedAt"]
            for c in status.get("containerStatuses") or ()
            if (c.get("state") or {}).get("terminated", {}).get("finishedAt")
        ]
        if ends:
            ran = (max(map(_time, ends)) - _time(status["startTime"])).total_seconds()
            out.append(ran - durations_s[name])
    return out


@dataclass(frozen=True)
class QuotaLag:
    workloads: int
    """Kueue Workloads read: admitted once, never evicted, finished."""
    to_running_s: list[float]
    after_work_s: list[float]
    idle_quota_gpu_s: float
    """GPU-seconds of quota held with no pod computing, summed over them."""

    def summary(self, factor: float) -> str:
        """One line for the figures' notes, in seconds and in lab hours (x ``factor``)."""
        if not self.workloads:
            return "no Kueue workload finished without an eviction"

        def spread(samples: list[float]) -> str:
            return f"median {median(samples):.1f} s, p90 {percentile(samples, 90):.1f} s"

        return (
            f"{self.workloads} workloads: admitted to pods running {spread(self.to_running_s)}; "
            f"work done to quota released {spread(self.after_work_s)}; "
            f"{self.idle_quota_gpu_s * factor / 3600:.0f} lab GPU-hours of quota held idle"
        )


def quota_lag(kueue_workloads: list[dict], trace: dict[str, Workload], durations_s: dict[str, float]) -> QuotaLag:
    """``kueue_workloads``: Kueue Workload objects; ``trace``: the trace's workloads by the
    name of the Job or pod that plays them (a Workload's owner)."""
    to_running, after_work, idle = [], [], 0.0
    for obj in kueue_workloads:
        owners = obj["metadata"].get("ownerReferences") or []
        name = owners[0]["name"] if owners else None
        conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}
        wanted = ("Admitted", "PodsReady", "Finished")
        ran_once = "Evicted" not in conditions and all(conditions.get(t, {}).get("status") == "True" for t in wanted)
        if name not in trace or not ran_once:
            continue
        admitted, ready, finished = (_time(conditions[t]["lastTransitionTime"]) for t in wanted)
        start_lag = (ready - admitted).total_seconds()
        end_lag = (finished - ready).total_seconds() - durations_s[name]
        to_running.append(start_lag)
        after_work.append(end_lag)
        idle += trace[name].gpus * (max(0.0, start_lag) + max(0.0, end_lag))
    return QuotaLag(len(to_running), to_running, after_work, idle)
