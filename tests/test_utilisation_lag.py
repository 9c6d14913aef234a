"""What the compressed cluster adds around a workload, read from raw objects."""

from __future__ import annotations

import pytest
from mlops_contract.queueing import JOB

from benchmarks.utilisation.lag import pod_overruns_s, quota_lag
from benchmarks.utilisation.trace import Workload

LABEL = "benchmarks.jupyterhub-mlops/workload"
WIDE = Workload("wide", "ada", JOB, 0, 1, 2, 4)


def pod(name, phase, start, finished=None):
    status = {"phase": phase, "startTime": start}
    if finished:
        status["containerStatuses"] = [{"name": "main", "state": {"terminated": {"finishedAt": finished}}}]
    return {"metadata": {"name": name, "labels": {LABEL: name}}, "status": status}


def test_a_succeeded_pod_overruns_by_what_it_ran_past_its_duration():
    pods = [
        pod("a", "Succeeded", "2026-12-07T04:00:00Z", "2026-12-07T04:00:03Z"),
        pod("b", "Running", "2026-12-07T04:00:00Z"),
        pod("unknown", "Succeeded", "2026-12-07T04:00:00Z", "2026-12-07T04:00:09Z"),
    ]
    assert pod_overruns_s(pods, {"a": 2.5, "b": 1.0}, LABEL) == [pytest.approx(0.5)]


def kueue_workload(owner, conditions):
    return {
        "metadata": {"ownerReferences": [{"kind": "Job", "name": owner}]},
        "status": {
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": f"2026-12-07T04:00:{s:02d}Z"}
                for t, s in conditions.items()
            ]
        },
    }


def test_quota_held_before_the_pods_run_and_after_the_work_is_done():
    ran = kueue_workload("wide", {"QuotaReserved": 10, "Admitted": 10, "PodsReady": 13, "Finished": 20})
    evicted = kueue_workload("wide", {"Admitted": 10, "PodsReady": 11, "Finished": 30, "Evicted": 15})
    unfinished = kueue_workload("wide", {"Admitted": 10, "PodsReady": 11})
    lag = quota_lag([ran, evicted, unfinished], {"wide": WIDE}, {"wide": 5.0})
    # Admitted at 10, running at 13; its 5 s of work end at 18, the quota is free at 20.
    assert (lag.workloads, lag.to_running_s, lag.after_work_s) == (1, [3.0], [2.0])
    assert lag.idle_quota_gpu_s == pytest.approx(8 * (3 + 2))
    assert "40 lab GPU-hours" in lag.summary(factor=3600)
    assert quota_lag([unfinished], {"wide": WIDE}, {"wide": 5.0}).summary(3600).startswith("no Kueue")
