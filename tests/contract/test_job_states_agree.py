"""The hub's jobs metric and the notebook side call every job the same.

For each job kind and each status its controller can write (and a few it should
not), the (kind, state) the hub's collector counts a job in is the kind and state
the notebook side's REST summary shows for it. The sides are paired by the
Kubernetes resource they watch, so a kind named differently on one side fails
here rather than going uncompared.
"""

from __future__ import annotations

import pytest
from jupyter_mlops.jobs.kinds import KINDS
from jupyter_mlops.jobs.metrics import JobsCollector as UserJobsCollector
from jupyterhub_mlops.jobs_metrics import JOB_KINDS, JobsCollector, JobsTable

CANCELLED = {"jupyterhub-mlops/cancelled": "true"}


def conditions(*types: str, false: tuple[str, ...] = (), annotations: dict | None = None) -> dict:
    """A Kubeflow job's status with these conditions in this order (True unless in ``false``)."""
    return {
        "metadata": {"annotations": annotations or {}},
        "status": {
            "conditions": [
                {
                    "type": t,
                    "status": "False" if t in false else "True",
                    "reason": f"Job{t}",
                    "message": f"job is {t.lower()}",
                }
                for t in types
            ]
        },
    }


def workflow(phase: str | None, shutdown: str = "", annotations: dict | None = None) -> dict:
    return {
        "metadata": {"annotations": annotations or {}},
        "spec": {"shutdown": shutdown} if shutdown else {},
        "status": {"phase": phase} if phase is not None else {},
    }


# (Kubernetes plural, the object's status, the state both sides must show)
CASES = [
    ("pytorchjobs", {}, "Pending"),
    ("pytorchjobs", conditions("Created"), "Pending"),
    ("pytorchjobs", conditions("Created", "Running"), "Running"),
    # The operator replaces Running with Restarting when a replica fails and is retried.
    ("pytorchjobs", conditions("Created", "Restarting"), "Running"),
    ("pytorchjobs", conditions("Created", "Running", "Restarting"), "Running"),
    ("pytorchjobs", conditions("Created", "Running", "Succeeded", false=("Running",)), "Succeeded"),
    ("pytorchjobs", conditions("Created", "Running", "Failed", false=("Running",)), "Failed"),
    # A true Failed or Succeeded is final, whatever is appended after it.
    ("pytorchjobs", conditions("Created", "Running", "Failed", "Restarting"), "Failed"),
    ("pytorchjobs", conditions("Created", "Succeeded", "Restarting"), "Succeeded"),
    ("pytorchjobs", conditions("Created", "Running", false=("Running",)), "Pending"),
    # Suspended (runPolicy.suspend, the suite's cancel), then resumed.
    ("pytorchjobs", conditions("Created", "Running", "Suspended", false=("Running",)), "Cancelled"),
    ("pytorchjobs", conditions("Created", "Suspended", "Running", false=("Suspended",)), "Running"),
    ("pytorchjobs", conditions("Created", "Running", annotations=CANCELLED), "Cancelled"),
    ("pytorchjobs", conditions("Created", "Running", "Succeeded", annotations=CANCELLED), "Succeeded"),
    ("pytorchjobs", conditions("Created", "Running", "SomethingNew"), "Running"),
    ("experiments", {}, "Pending"),
    ("experiments", conditions("Created"), "Pending"),
    ("experiments", conditions("Created", "Running"), "Running"),
    ("experiments", conditions("Created", "Running", "Succeeded", false=("Running",)), "Succeeded"),
    ("experiments", conditions("Created", "Running", "Failed", false=("Running",)), "Failed"),
    ("experiments", conditions("Created", "Failed", "Running"), "Failed"),
    # Katib drops Succeeded and Failed before it restarts an experiment.
    ("experiments", conditions("Created", "Running", "Restarting", false=("Running",)), "Running"),
    ("experiments", conditions("Created", "Restarting", "Running"), "Running"),
    # The suite's cancel lowers maxTrialCount as far as Katib allows; Katib then ends the
    # sweep Succeeded for reaching it, the cancel's doing: the sweep stays Cancelled.
    ("experiments", conditions("Created", "Running", annotations=CANCELLED), "Cancelled"),
    (
        "experiments",
        conditions("Created", "Running", "Succeeded", false=("Running",), annotations=CANCELLED),
        "Cancelled",
    ),
    ("workflows", workflow(None), "Pending"),
    ("workflows", workflow(""), "Pending"),
    ("workflows", workflow("Pending"), "Pending"),
    ("workflows", workflow("Running"), "Running"),
    ("workflows", workflow("Succeeded"), "Succeeded"),
    ("workflows", workflow("Failed"), "Failed"),
    ("workflows", workflow("Error"), "Failed"),
    ("workflows", workflow("Bogus"), "Pending"),
    # Terminated or stopped (spec.shutdown): Argo ends it Failed, the user stopped it.
    ("workflows", workflow("Running", shutdown="Terminate"), "Cancelled"),
    ("workflows", workflow("Failed", shutdown="Terminate"), "Cancelled"),
    ("workflows", workflow("Failed", shutdown="Stop"), "Cancelled"),
    ("workflows", workflow("Succeeded", shutdown="Stop"), "Succeeded"),
    ("workflows", workflow("Running", annotations=CANCELLED), "Cancelled"),
]


def case_id(case) -> str:
    plural, obj, _ = case
    status = obj.get("status") or {}
    said = [c["type"] + ("" if c["status"] == "True" else "=False") for c in status.get("conditions", [])]
    if "phase" in status:
        said.append(f"phase={status['phase']}")
    said += [f"shutdown={v}" for v in (obj.get("spec") or {}).values()]
    said += ["cancelled"] * bool((obj.get("metadata") or {}).get("annotations"))
    return f"{plural}:{','.join(said) or 'new'}"


def hub_kind(plural: str):
    (found,) = [k for k in JOB_KINDS if k.plural == plural]
    return found


def notebook_kind(plural: str):
    (found,) = [k for k in KINDS.values() if k.resource.plural == plural]
    return found


def counted_by_hub(plural: str, obj: dict) -> tuple[str, str]:
    """The one (kind, state) series the hub's collector counts this job in."""
    table = JobsTable()
    name = hub_kind(plural).name
    table.apply(name, "ADDED", {**obj, "metadata": {**obj.get("metadata", {}), "uid": "u1"}})
    (series,) = [key for key, count in table.counts().items() if count]
    return series


def shown_by_notebook(plural: str, obj: dict) -> tuple[str, str]:
    kind = notebook_kind(plural)
    body = {
        "spec": {},
        **obj,
        "metadata": {"name": "j", "namespace": "mlops-alice", "uid": "u1", **obj.get("metadata", {})},
    }
    summary = kind.summary(body)
    return summary["kind"], summary["state"]


def test_every_kind_is_watched_by_both_sides_under_one_name():
    hub = {(k.group, k.plural): k.name for k in JOB_KINDS}
    notebook = {(k.resource.group, k.resource.plural): k.name for k in KINDS.values()}
    assert hub == notebook
    assert {plural for plural, _, _ in CASES} == {plural for _, plural in hub}


@pytest.mark.parametrize(("plural", "obj", "state"), CASES, ids=[case_id(c) for c in CASES])
def test_the_hubs_metric_and_the_notebooks_state_agree(plural, obj, state):
    hub, notebook = counted_by_hub(plural, obj), shown_by_notebook(plural, obj)
    assert hub == notebook, f"hub counts {hub}, the sidebar shows {notebook}"
    assert notebook[1] == state


def test_the_per_user_metric_has_a_name_of_its_own():
    """The hub counts every job in the cluster and each notebook server its user's:
    under one name, a dashboard summing the metric counts every job twice."""
    (hub,) = JobsCollector(JobsTable()).collect()
    (user,) = UserJobsCollector().collect()
    assert hub.name != user.name
    assert user.name.startswith("jupyterhub_mlops_")
