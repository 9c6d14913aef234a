"""A queued job's place in Kueue's line, from its Workload and the visibility API (pure parts)."""

from __future__ import annotations

from types import SimpleNamespace

from jupyter_mlops.jobs.handle import JobHandle
from jupyter_mlops.jobs.kinds import kind_named
from jupyter_mlops.jobs.kueue_line import in_line, places, with_places
from mlops_contract.queueing import QUEUE_NAME_LABEL


def workload(name: str, owner_uid: str, *, admitted: bool = False, reason: str | None = None) -> dict:
    status: dict = {"conditions": []}
    if admitted:
        status["admission"] = {"clusterQueue": "jupyterhub-mlops-batch-vision"}
    if reason is not None:
        status["conditions"].append({"type": "QuotaReserved", "status": "False", "message": reason})
    return {"metadata": {"name": name, "ownerReferences": [{"uid": owner_uid}]}, "status": status}


PENDING = {
    "items": [
        {"metadata": {"name": "pytorchjob-a-1"}, "positionInClusterQueue": 0, "positionInLocalQueue": 0},
        {"metadata": {"name": "pytorchjob-b-1"}, "positionInClusterQueue": 4, "positionInLocalQueue": 1},
    ]
}


def test_places_count_from_one_in_the_groups_queue_and_leave_admitted_jobs_out():
    found = places(
        [
            workload("pytorchjob-a-1", "uid-a", reason="insufficient unused quota"),
            workload("pytorchjob-b-1", "uid-b"),
            workload("pytorchjob-c-1", "uid-c", admitted=True),
            workload("pytorchjob-d-1", "uid-d", reason="not ranked yet"),
        ],
        PENDING,
    )
    assert found == {
        "uid-a": {"position": 1, "reason": "insufficient unused quota"},
        "uid-b": {"position": 5, "reason": ""},
        "uid-d": {"position": None, "reason": "not ranked yet"},
    }


class FakeKube:
    """Answers the two reads ``with_places`` makes, and counts them."""

    def __init__(self):
        self.calls = 0

    def list(self, resource, namespace):
        self.calls += 1
        return {"items": [workload("pytorchjob-b-1", "uid-b", reason="needs 8 GPUs")]}

    def get(self, resource, name, namespace):
        self.calls += 1
        assert name == "gpus/pendingworkloads"
        return PENDING


def test_a_listing_reads_the_line_only_when_a_job_is_queued_and_says_the_place():
    kube = FakeKube()
    running = [{"uid": "uid-r", "state": "Running", "message": ""}]
    assert with_places(running, kube, "ns") is running and kube.calls == 0
    queued = [*running, {"uid": "uid-b", "state": "Queued", "message": "waiting"}]
    shown = with_places(queued, kube, "ns")
    assert shown[0] == running[0]
    assert shown[1]["queue"] == {"position": 5, "reason": "needs 8 GPUs"}
    assert shown[1]["message"] == "Queued: 5th in line. Kueue: needs 8 GPUs"


def test_only_jobs_with_a_queue_label_are_in_line():
    assert in_line({"metadata": {"labels": {"kueue.x-k8s.io/queue-name": "gpus"}}})
    assert not in_line({"metadata": {"labels": {"team": "x"}}}) and not in_line({})


class CancelKube:
    """A queued PyTorchJob and its Workload; records the writes a cancel makes, in order."""

    JOB = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "ddp", "namespace": "ns", "uid": "uid-ddp", "labels": {QUEUE_NAME_LABEL: "gpus"}},
        "spec": {"runPolicy": {}},
    }

    def __init__(self):
        self.writes: list[tuple[str, dict]] = []

    def get(self, resource, name, namespace=None):
        return self.JOB

    def list(self, resource, namespace, label_selector=None):
        assert (resource.plural, label_selector) == ("workloads", "kueue.x-k8s.io/job-uid=uid-ddp")
        return {"items": [{"metadata": {"name": "pytorchjob-ddp-1"}}]}

    def patch(self, resource, name, body, namespace=None):
        self.writes.append((resource.plural, body))
        return self.JOB


def test_a_cancel_takes_the_job_out_of_kueues_line_before_suspending_it():
    """Kueue unsuspends an admitted job that is suspended while its Workload is active."""
    kube = CancelKube()
    client = SimpleNamespace(kube=kube, namespace="ns", observe=lambda kind, obj: None)
    JobHandle(client, kind_named("pytorchjob"), "ddp").cancel()
    assert [plural for plural, _ in kube.writes] == ["workloads", "pytorchjobs"]
    assert kube.writes[0][1] == {"spec": {"active": False}}
    assert kube.writes[1][1]["spec"] == {"runPolicy": {"suspend": True}}
