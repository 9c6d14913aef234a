"""What the server's watch keeps of a Trial gives the sweep's detail what the whole Trial gives."""

from __future__ import annotations

import copy

from jupyter_mlops.jobs.kinds import kind_named
from jupyter_mlops.jobs.trials import kept_of_trial, of_experiment

SWEEP = kind_named("sweep")


def katib_trial(name: str, experiment: str, lr: str, accuracy: str | None, created: str) -> dict:
    """A Trial with the fields Katib v0.19 writes (the run spec abridged)."""
    conditions = [{"type": "Created", "status": "True", "reason": "TrialCreated", "message": "created"}]
    if accuracy is not None:
        conditions.append({"type": "Succeeded", "status": "True", "reason": "TrialSucceeded", "message": "done"})
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Trial",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": "42",
            "creationTimestamp": created,
            "labels": {"katib.kubeflow.org/experiment": experiment},
            "ownerReferences": [{"kind": "Experiment", "name": experiment}],
            "managedFields": [{"manager": "katib-controller"}],
        },
        "spec": {
            "parameterAssignments": [{"name": "lr", "value": lr}],
            "runSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": []}}}},
            "metricsCollector": {"collector": {"kind": "StdOut"}},
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "primaryContainerName": "training-container",
        },
        "status": {
            "conditions": conditions,
            "observation": {"metrics": [{"name": "accuracy", "latest": accuracy, "min": accuracy, "max": accuracy}]}
            if accuracy
            else {},
            "startTime": created,
        },
    }


class Served:
    """The one ``JobsClient`` method ``SweepKind.parts`` calls, over given Trials."""

    def __init__(self, trials: list[dict]):
        self.listed = trials

    def trials(self, experiment: str, namespace: str) -> list[dict]:
        return of_experiment(self.listed, experiment)


def test_the_kept_fields_make_the_same_parts_as_the_whole_trials():
    whole = [
        katib_trial("s-b", "s", "0.02", None, "2026-01-01T00:00:02Z"),
        katib_trial("s-a", "s", "0.05", "0.95", "2026-01-01T00:00:01Z"),
        katib_trial("other-a", "other", "0.01", "0.9", "2026-01-01T00:00:00Z"),
    ]
    kept = [kept_of_trial(copy.deepcopy(t)) for t in whole]
    sweep = {"metadata": {"name": "s", "namespace": "ns"}}
    pods = [{"metadata": {"name": "s-a-pod", "labels": {"katib.kubeflow.org/trial": "s-a"}}}]
    parts = SWEEP.parts(sweep, pods, Served(kept))
    assert parts == SWEEP.parts(sweep, pods, Served(whole))
    assert [(p["name"], p["state"], p["parameters"], p["metrics"], p["pods"]) for p in parts] == [
        ("s-a", "Succeeded", {"lr": "0.05"}, {"accuracy": "0.95"}, ["s-a-pod"]),
        ("s-b", "Pending", {"lr": "0.02"}, {}, []),
    ]
    # The run spec, owner references and managed fields are what is dropped.
    assert set(kept[0]["spec"]) == {"parameterAssignments"}
    assert set(kept[0]["metadata"]) == {"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels"}
