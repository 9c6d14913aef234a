"""Sweeps and workflows end to end through the Python API, as alice's notebook pod would run it.

Submit -> status transitions -> logs -> cancel -> resubmit -> delete -> gone, with
the snapshot ConfigMap removed by the garbage collector through ownerReferences.
PyTorchJobs run under the real Training Operator (tests/training_operator/) and
Workflows under Argo's real workflow-controller (their step pods run as local
processes). Katib does not run here: ``controller`` (tests/jobs_support.py) writes
what it would write (pods, and status through the
status subresource), and serves the pods' logs the way a kubelet would.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from jobs_support import IMAGE
from jupyter_mlops.jobs import Parameter, Snapshot, Sweep, submit_workflow

pytestmark = pytest.mark.cluster
pytest_plugins = ["jobs_support"]
A100 = "NVIDIA-A100-SXM4-80GB"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def owners(controller, namespace: str, configmap: str) -> set[str]:
    cm = controller.core.read_namespaced_config_map(configmap, namespace)
    return {ref.uid for ref in cm.metadata.owner_references or []}


def later(seconds: float, fn, *args) -> threading.Thread:
    """Run ``fn`` on a thread after ``seconds``: a controller acting while the user waits."""

    def run():
        time.sleep(seconds)
        fn(*args)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_sweep_of_single_pod_trials_end_to_end(alice, controller, code_dir):
    client = alice.client()
    name = unique("sweep")
    sweep = Sweep(
        name=name,
        command="python train.py --lr {lr} --batch {batch}",
        parameters=[
            Parameter("lr", "double", 0.001, 0.1),
            Parameter("batch", "categorical", values=[32, 64]),
        ],
        objective_metric="accuracy",
        max_trials=4,
        parallel_trials=2,
        trial_kind="pod",
        image=IMAGE,
        snapshot=Snapshot(code_dir),
    )
    handle = sweep.submit(client)
    experiment = controller.get("sweep", alice.namespace, name)
    configmap = experiment["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    assert owners(controller, alice.namespace, configmap) == {experiment["metadata"]["uid"]}
    assert handle.status()["state"] == "Pending"

    # Katib's part: trials from the template, their pods, metrics and the experiment status.
    template = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    for index, (lr, accuracy) in enumerate((("0.01", "0.81"), ("0.05", "0.93"))):
        trial_name = f"{name}-trial{index}"
        trial = controller.create_trial(alice.namespace, name, trial_name, {"lr": lr, "batch": "32"})
        controller.run_pod(
            alice.namespace,
            f"{trial_name}-pod",
            template,
            owner=trial,
            labels={"katib.kubeflow.org/experiment": name, "katib.kubeflow.org/trial": trial_name},
            log_lines=[f"epoch 1 lr={lr}", f"accuracy={accuracy}"],
        )
        controller.write_status(
            "trial",
            alice.namespace,
            trial_name,
            {
                "conditions": [
                    {"type": "Created", "status": "True"},
                    {"type": "Running", "status": "True"},
                ],
                "observation": {"metrics": [{"name": "accuracy", "latest": accuracy}]},
            },
        )
    controller.write_status(
        "sweep",
        alice.namespace,
        name,
        {
            "conditions": [
                {"type": "Created", "status": "True"},
                {"type": "Running", "status": "True", "message": "Experiment is running"},
            ],
            "trials": 2,
            "trialsRunning": 2,
            "currentOptimalTrial": {
                "bestTrialName": f"{name}-trial1",
                "parameterAssignments": [{"name": "lr", "value": "0.05"}],
                "observation": {"metrics": [{"name": "accuracy", "latest": "0.93"}]},
            },
        },
    )

    status = handle.status()
    assert status["state"] == "Running"
    assert status["trials"]["running"] == 2
    assert status["best_trial"]["parameters"] == {"lr": "0.05"}
    assert [
        (t["name"], t["state"], t["parameters"]["lr"], t["metrics"]["accuracy"])
        for t in status["parts"]
    ] == [
        (f"{name}-trial0", "Running", "0.01", "0.81"),
        (f"{name}-trial1", "Running", "0.05", "0.93"),
    ]
    assert list(handle.logs(f"{name}-trial1")) == ["epoch 1 lr=0.05", "accuracy=0.93"]

    cancelled = handle.cancel()
    assert cancelled["state"] == "Cancelled"
    assert handle.get()["spec"]["maxTrialCount"] == 2
    handle.delete()
    controller.wait_gone(alice.namespace, configmap)


def test_hera_workflow_end_to_end(alice, controller, code_dir, argo_workflows):
    from hera.workflows import Container, Workflow

    client = alice.client()
    name = unique("pipeline")
    with Workflow(name=name, entrypoint="train") as workflow:
        Container(name="train", image=IMAGE, command=["python", "train.py"])
    handle = submit_workflow(workflow, snapshot=Snapshot(code_dir), client=client)

    obj = controller.get("workflow", alice.namespace, name)
    assert obj["spec"]["templates"][0]["container"]["image"] == IMAGE  # Hera's, unchanged
    configmap = obj["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    assert owners(controller, alice.namespace, configmap) == {obj["metadata"]["uid"]}

    # Argo's workflow-controller runs the step; it runs train.py from the snapshot.
    assert handle.wait(timeout=120)["state"] == "Succeeded", handle.status()
    (step,) = handle.status()["parts"]
    pod = handle.pods()[0]
    assert (step["name"], step["type"], step["state"], step["pod"]) == (
        name, "Pod", "Succeeded", pod["metadata"]["name"])  # the root node, named by Argo
    assert step["started"] and step["finished"]
    assert list(handle.logs(name)) == ["accuracy=0.9"]

    handle.delete()
    controller.wait_gone(alice.namespace, configmap)
