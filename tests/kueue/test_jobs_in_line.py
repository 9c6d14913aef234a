"""Jobs in Kueue's line, submitted and cancelled through the suite's jobs client, on the
real Kueue: all-or-nothing admission of a PyTorchJob, its place in line as the notebook
reads it, and cancel from the line.

Each test makes a group of its own with the suite's queues (``tests/kueue/lines.py``)
and a member whose notebook queues its jobs (``MLOPS_KUEUE_QUEUE``). What holds GPUs
besides the job is the member's notebook pod, as the hub makes it.
"""

from __future__ import annotations

import json

import kubernetes
import pytest
from jupyter_mlops.jobs import PyTorchJob
from mlops_cluster import training_operator

from tests.jobs_support import IMAGE
from tests.kueue.lines import GROUP, PRODUCT, VERSION, condition, held_back
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

POLICY_CHANGE_REFUSED = (
    "A notebook may change nothing of a Workload but spec.active; its line and priority are Kueue's."
)
"""helm-values/kueue-policies.yaml's sentence for a notebook's change to a Workload's line."""


def ddp(name: str, gpus: int) -> PyTorchJob:
    """Two replicas of ``gpus`` RTX GPUs each, running as long as the test lets them."""
    return PyTorchJob(
        name=name, command="python train.py", replicas=2, gpus=gpus, gpu_type=PRODUCT, image=IMAGE, snapshot=None
    )


def replicas(name: str) -> str:
    return f"{training_operator.JOB_NAME_LABEL}={name}"


def listed(client, name: str) -> dict:
    (summary,) = [s for s in client.list("pytorchjob") if s["name"] == name]
    return summary


def test_a_pytorchjob_holds_no_gpu_until_all_its_replicas_fit(lines):
    """2 replicas x 4 GPUs with 6 of the group's 8 free: Queued with a place in line and
    Kueue's reason, no pod; once 8 are free both replicas run."""
    group = lines.group(quota=8)
    user = lines.member(group)
    notebook = lines.notebook(user, gpus=2)
    wait_for(lambda: lines.running(user.namespace, "component=singleuser-server"), timeout=60, what="the notebook")

    client = user.client()
    handle = ddp("ddp", gpus=4).submit(client, if_not_fits="queue")
    job = handle.get()
    assert job["spec"]["runPolicy"]["suspend"] is True  # Kueue's webhook, on the way in
    wait_for(lambda: held_back(lines, user.namespace, job["metadata"]["uid"]), timeout=30, what="Kueue to hold it")

    assert lines.pods(user.namespace, replicas("ddp")) == []
    summary = listed(client, "ddp")
    assert summary["state"] == "Queued"
    assert summary["queue"]["position"] == 1
    assert "insufficient unused quota" in summary["queue"]["reason"]
    assert summary["message"].startswith("Queued: 1st in line. Kueue: ")
    status = handle.status()
    assert (status["state"], status["queue"]) == ("Queued", summary["queue"])

    lines.finish(user.namespace, notebook)
    both = wait_for(
        lambda: len(found := lines.running(user.namespace, replicas("ddp"))) == 2 and found,
        timeout=90,
        what="both replicas to run once 8 GPUs are free",
    )
    assert sorted(p.metadata.labels["training.kubeflow.org/replica-type"] for p in both) == ["master", "worker"]
    assert {p.spec.node_name for p in both} == {"gpu-rtx-0", "gpu-rtx-1"}  # 4 GPUs: a whole node each
    running = wait_for(lambda: (s := listed(client, "ddp"))["state"] == "Running" and s, timeout=30, what="Running")
    assert "queue" not in running


def test_a_cancelled_job_leaves_the_line_for_good(lines):
    """One job admitted and one in line, both cancelled through the client: both Cancelled,
    their Workloads inactive, no pod; a job submitted afterwards gets the GPUs, they don't."""
    group = lines.group(quota=4)
    user = lines.member(group)
    client = user.client()

    admitted = ddp("admitted", gpus=2).submit(client, if_not_fits="queue")
    wait_for(lambda: len(lines.running(user.namespace, replicas("admitted"))) == 2, timeout=90, what="it to run")
    waiting = ddp("waiting", gpus=2).submit(client, if_not_fits="queue")
    waiting_uid = waiting.get()["metadata"]["uid"]
    wait_for(lambda: held_back(lines, user.namespace, waiting_uid), timeout=30, what="Kueue to hold it")
    assert listed(client, "waiting")["state"] == "Queued"

    for handle in (waiting, admitted):
        assert handle.cancel()["state"] == "Cancelled"
    cancelled = {h.name: h.get()["metadata"]["uid"] for h in (waiting, admitted)}
    for name, uid in cancelled.items():
        workload = lines.workload_of(user.namespace, uid)
        assert workload["spec"]["active"] is False, name
    wait_for(lambda: lines.pods(user.namespace, replicas("admitted")) == [], timeout=60, what="its pods to go")

    # The GPUs are free: Kueue admits the next job in line, and only that one.
    later = ddp("later", gpus=2).submit(client, if_not_fits="queue")
    wait_for(lambda: len(lines.running(user.namespace, replicas("later"))) == 2, timeout=90, what="the later job")
    for name, uid in cancelled.items():
        assert lines.pods(user.namespace, replicas(name)) == [], name
        assert listed(client, name)["state"] == "Cancelled"
        workload = lines.workload_of(user.namespace, uid)
        assert not condition(workload, "QuotaReserved"), name
        assert not condition(workload, "Admitted"), name
    assert later.state() == "Running"

    # The notebook's account may deactivate its Workloads, and do nothing else to them.
    custom = kubernetes.client.CustomObjectsApi(user.api_client())
    workload = lines.workload_of(user.namespace, cancelled["waiting"])["metadata"]["name"]
    with pytest.raises(kubernetes.client.ApiException) as refused:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, user.namespace, "workloads", workload, {"spec": {"priority": 100000}}
        )
    assert refused.value.status == 403
    assert POLICY_CHANGE_REFUSED in json.loads(refused.value.body)["message"]
