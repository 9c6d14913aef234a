"""Idle quota lent and taken back, on the real Kueue: group B's sweep trials run on
group A's idle GPUs until A's notebook arrives; Kueue preempts as many trials as the
notebook needs, runs them again once it ends, and never takes a notebook's GPUs.

Katib's controllers do not run in this cluster: the test makes the trials' Jobs as
Katib's trial controller would, from the trial template of a ``Sweep`` the suite built
for B's notebook (queue and class labels included), with its parameter filled in.
"""

from __future__ import annotations

import copy

import kubernetes
import pytest
from jupyter_mlops.jobs import Parameter, PyTorchJob, Sweep
from mlops_contract.queueing import LOCAL_QUEUE, PRIORITY_CLASS_LABEL, QUEUE_NAME_LABEL, TRIAL

from tests.jobs_support import IMAGE
from tests.kueue.lines import HOLD, PRODUCT, condition
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

TRIAL_GPUS = 2


def trial_jobs(client, namespace: str, values: list[float]) -> list[dict]:
    """The Jobs Katib would make for a sweep's trials with ``lr`` = each of ``values``.
    Their pods are held Running (KWOK) until the test ends them."""
    sweep = Sweep(
        name="lr",
        command="python train.py --lr {lr}",
        parameters=[Parameter("lr", min=0.001, max=0.1)],
        objective_metric="accuracy",
        gpus=TRIAL_GPUS,
        gpu_type=PRODUCT,
        image=IMAGE,
        snapshot=None,
        parallel_trials=len(values),
    )
    sweep.validate(client.notebook)
    template = sweep.to_manifest(namespace, None, client.notebook)["spec"]["trialTemplate"]["trialSpec"]
    jobs = []
    for index, value in enumerate(values):
        job = copy.deepcopy(template)
        job["metadata"] = {**job.get("metadata", {}), "name": f"lr-trial-{index}"}
        pod = job["spec"]["template"]
        pod.setdefault("metadata", {}).setdefault("annotations", {}).update(HOLD)
        for container in pod["spec"]["containers"]:
            container["command"] = [arg.replace("${trialParameters.lr}", str(value)) for arg in container["command"]]
        jobs.append(job)
    return jobs


def test_a_notebook_takes_back_its_groups_gpus_from_borrowing_trials(lines):
    a_group, b_group = lines.group(quota=4), lines.group(quota=0)
    a, b = lines.member(a_group, "ada"), lines.member(b_group, "bo")
    b_client = b.client()
    batch = kubernetes.client.BatchV1Api(lines.cluster.api_client("admin"))

    # B's trials borrow all 4 of A's idle GPUs.
    trials = trial_jobs(b_client, b.namespace, [0.01, 0.05])
    for job in trials:
        assert job["metadata"]["labels"] == {QUEUE_NAME_LABEL: LOCAL_QUEUE, PRIORITY_CLASS_LABEL: TRIAL.name}
        batch.create_namespaced_job(b.namespace, job)
    first_pods = wait_for(
        lambda: len(found := lines.running(b.namespace)) == 2 and {p.metadata.labels["job-name"]: p for p in found},
        timeout=90,
        what="both trials to run on the GPUs A lends",
    )

    # A's notebook arrives: one trial gives back what the notebook needs.
    notebook = lines.notebook(a, gpus=TRIAL_GPUS)
    wait_for(lambda: lines.running(a.namespace), timeout=90, what="the notebook to be admitted and run")
    uids = {job.metadata.name: job.metadata.uid for job in batch.list_namespaced_job(b.namespace).items}
    preempted = wait_for(
        lambda: [
            name for name, uid in uids.items() if condition(lines.workload_of(b.namespace, uid) or {}, "Preempted")
        ],
        timeout=30,
        what="Kueue to record the trial it preempted",
    )
    assert len(preempted) == 1
    (kept,) = set(uids) - set(preempted)
    assert batch.read_namespaced_job(preempted[0], b.namespace).spec.suspend is True
    assert [p.metadata.labels["job-name"] for p in lines.running(b.namespace)] == [kept]

    # A job of B's, above trials, cannot take the notebook's GPUs: it waits in line.
    job = PyTorchJob(
        name="big", command="python train.py", gpus=4, gpu_type=PRODUCT, image=IMAGE, snapshot=None
    ).submit(b_client, if_not_fits="queue")
    job_uid = job.get()["metadata"]["uid"]
    wait_for(
        lambda: condition(lines.workload_of(b.namespace, job_uid) or {}, "QuotaReserved", "False"),
        timeout=30,
        what="Kueue to hold B's job back",
    )
    assert job.state() == "Queued"
    notebook_pod = lines.core.read_namespaced_pod(notebook, a.namespace)
    notebook_workload = lines.workload_of(a.namespace, notebook_pod.metadata.uid)
    assert condition(notebook_workload, "Admitted") and not condition(notebook_workload, "Evicted")
    assert notebook_pod.status.phase == "Running"
    assert job.cancel()["state"] == "Cancelled"

    # The notebook ends: the preempted trial runs again, in a pod of its own.
    lines.finish(a.namespace, notebook)
    (again,) = wait_for(
        lambda: lines.running(b.namespace, f"job-name={preempted[0]}"),
        timeout=90,
        what="the preempted trial to be admitted and run again",
    )
    assert again.metadata.uid != first_pods[preempted[0]].metadata.uid
    assert batch.read_namespaced_job(preempted[0], b.namespace).spec.suspend is False
