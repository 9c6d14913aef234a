"""A run on the cluster read back from its Jobs and pods as the API server holds them."""

from __future__ import annotations

import datetime

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1Job,
    V1ObjectMeta,
    V1OwnerReference,
    V1Pod,
    V1PodStatus,
)
from mlops_contract.queueing import JOB, NOTEBOOK, TRIAL

from benchmarks.bench_utilisation import FACTOR, measured_run
from benchmarks.utilisation.objects import HOUR_S, WORKLOAD_LABEL
from benchmarks.utilisation.trace import Sweep, Workload

T0 = datetime.datetime(2026, 12, 7, 4, 0, tzinfo=datetime.timezone.utc)
SWEEP = Sweep("s", 1)
JOB_A = Workload("job-a", "ada", JOB, 0.5, 2.0, 1, 4)
NB = Workload("nb", "ada", NOTEBOOK, 2.0, 8.0, 1, 1)
TRIALS = [Workload(f"trial-{i}", "ada", TRIAL, 3.0, 1.0, 1, 1, sweep=SWEEP) for i in range(2)]
NEVER = Workload("job-never", "ada", JOB, 5.0, 1.0, 1, 4)


def at(seconds: int) -> datetime.datetime:
    """A time the API server keeps: whole seconds after the run's marker."""
    return T0 + datetime.timedelta(seconds=seconds)


def h(seconds: int) -> float:
    """The lab hour of ``at(seconds)``."""
    return seconds * FACTOR / HOUR_S


def job(name: str, created: float) -> V1Job:
    return V1Job(metadata=V1ObjectMeta(name=name, labels={WORKLOAD_LABEL: name}, creation_timestamp=at(created)))


def pod(name, created, phase, start=None, finished=None, deleted=None, owned=True) -> V1Pod:
    owners = [V1OwnerReference(api_version="batch/v1", kind="Job", name=name, uid="u")] if owned else None
    statuses = None
    if finished is not None:
        terminated = V1ContainerStateTerminated(exit_code=0, finished_at=at(finished))
        statuses = [V1ContainerStatus(name="main", image="i", image_id="", ready=False, restart_count=0,
                                      state=V1ContainerState(terminated=terminated))]  # fmt: skip
    return V1Pod(
        metadata=V1ObjectMeta(
            name=name,
            labels={WORKLOAD_LABEL: name},
            creation_timestamp=at(created),
            owner_references=owners,
            deletion_timestamp=None if deleted is None else at(deleted),
        ),
        status=V1PodStatus(phase=phase, start_time=None if start is None else at(start), container_statuses=statuses),
    )


def test_a_run_reads_arrivals_from_creation_and_pods_from_start_to_finish():
    objects = [
        job("job-a", 1),
        # Evicted, then ran again.
        pod("job-a", 1, "Running", start=2, deleted=3),
        pod("job-a", 1, "Succeeded", start=5, finished=9),
        pod("nb", 2, "Running", start=3, owned=False),
        job("trial-0", 4),
        pod("trial-0", 4, "Succeeded", start=5, finished=6),
    ]
    run = {s.workload.name: s for s in measured_run([JOB_A, NB, *TRIALS, NEVER], objects, T0, horizon=12.0)}
    assert run["job-a"].arrival == pytest.approx(h(1))
    assert run["job-a"].pods == ((h(2), h(3)), (h(5), h(9)))
    # A notebook is a pod of its own: it arrives when that is created and runs to the end.
    assert run["nb"].arrival == pytest.approx(h(2)) and run["nb"].pods == ((h(3), 12.0),)
    assert run["trial-0"].arrival == pytest.approx(h(4)) and run["trial-0"].pods == ((h(5), h(6)),)
    # Not created by the end: a job waited from its trace time; a trial its sweep had not
    # created yet never arrived.
    assert run["job-never"].arrival == 5.0 and run["job-never"].pods == ()
    assert "trial-1" not in run
