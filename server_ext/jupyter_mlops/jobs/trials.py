"""Katib Trials as a sweep's detail reads them: what is kept of each, and whose sweep it is.

A sweep of 1,000 trials has 1,000 Trial objects, each carrying its whole
trial spec (the Job, PyTorchJob or Workflow Katib runs). The REST server
keeps the namespace's Trials current with one watch (``cache.JobCache``,
``informer.Informer``) and holds only what ``SweepKind.parts`` reads of them.
"""

from __future__ import annotations

EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
"""Katib's label on a sweep's Trials and pods, valued with the Experiment's name."""
_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels")
_STATUS = ("conditions", "observation", "startTime", "completionTime")


def kept_of_trial(trial: dict) -> dict:
    """The fields of a Trial that the detail reads (identity, parameters, state, metrics)."""
    meta, spec, status = trial.get("metadata") or {}, trial.get("spec") or {}, trial.get("status") or {}
    return {
        "metadata": {key: meta[key] for key in _METADATA if key in meta},
        "spec": {"parameterAssignments": spec.get("parameterAssignments") or []},
        "status": {key: status[key] for key in _STATUS if key in status},
    }


def of_experiment(trials: list[dict], experiment: str) -> list[dict]:
    """The Trials Katib made for ``experiment`` (its label), of a namespace's."""
    return [t for t in trials if (t["metadata"].get("labels") or {}).get(EXPERIMENT_LABEL) == experiment]


def selector(experiment: str) -> str:
    """The label selector of ``experiment``'s Trials and pods, for the API server."""
    return f"{EXPERIMENT_LABEL}={experiment}"
