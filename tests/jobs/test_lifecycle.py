"""Each job kind end to end through the Python API, as alice's notebook pod would run it.

Submit -> status transitions -> logs -> cancel -> resubmit -> delete -> gone, with
the snapshot ConfigMap removed by the garbage collector through ownerReferences.
Argo's real workflow-controller runs Workflows (their step pods run as local
processes). For the other kinds ``controller`` (tests/jobs_support.py) writes
what the Training Operator and Katib would write (pods, and status through the
status subresource), and serves the pods' logs the way a kubelet would.
"""

from __future__ import annotations

import base64
import io
import tarfile
import threading
import time
import uuid

import pytest
from jobs_support import IMAGE, cri_line
from jupyter_mlops.jobs import NotFound, Parameter, PyTorchJob, Snapshot, Sweep, submit_workflow
from mlops_testing import wait_for

pytestmark = pytest.mark.cluster
pytest_plugins = ["jobs_support"]
A100 = "NVIDIA-A100-SXM4-80GB"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def snapshot_files(controller, namespace: str, configmap: str) -> set[str]:
    cm = controller.core.read_namespaced_config_map(configmap, namespace)
    assert cm.immutable is True
    data = base64.b64decode(cm.binary_data["snapshot.tar.gz"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return set(tar.getnames())


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


def test_pytorchjob_end_to_end(alice, controller, code_dir):
    client = alice.client()
    name = unique("mnist")
    job = PyTorchJob(
        name=name,
        command="python train.py --epochs 1",
        replicas=2,
        gpus=1,
        gpu_type=A100,
        image=IMAGE,
        snapshot=Snapshot(code_dir),
    )
    handle = client.submit(job, if_not_fits="queue")
    assert handle.name == name and handle.namespace == alice.namespace
    assert any("not checked" in w for w in handle.warnings)

    obj = controller.get("pytorchjob", alice.namespace, name)
    configmap = obj["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    assert owners(controller, alice.namespace, configmap) == {obj["metadata"]["uid"]}
    assert snapshot_files(controller, alice.namespace, configmap) == {
        ".gitignore",
        "run.txt",
        "train.py",
        "models/__init__.py",
        "models/net.py",
    }
    worker = obj["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 1
    assert worker["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": A100}
    assert handle.status()["state"] == "Pending"

    # The Training Operator's part: pods per replica, then Created/Running conditions.
    for replica, lines in (("Master", ["master says hi", "loss=0.5"]), ("Worker", ["worker 0 up"])):
        template = obj["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
        controller.run_pod(
            alice.namespace,
            f"{name}-{replica.lower()}-0",
            template,
            owner=obj,
            labels={
                "training.kubeflow.org/job-name": name,
                "training.kubeflow.org/replica-type": replica.lower(),
                "training.kubeflow.org/replica-index": "0",
            },
            log_lines=lines,
        )
    controller.write_status(
        "pytorchjob",
        alice.namespace,
        name,
        {
            "conditions": [
                {"type": "Created", "status": "True", "reason": "PyTorchJobCreated"},
                {
                    "type": "Running",
                    "status": "True",
                    "reason": "PyTorchJobRunning",
                    "message": "PyTorchJob is running.",
                },
            ],
            "replicaStatuses": {"Master": {"active": 1}, "Worker": {"active": 1}},
        },
    )

    status = handle.status()
    assert status["state"] == "Running"
    assert [(p["name"], p["phase"]) for p in status["parts"]] == [
        ("master-0", "Running"),
        ("worker-0", "Running"),
    ]
    assert list(handle.logs()) == ["master says hi", "loss=0.5"]
    assert list(handle.logs("worker-0")) == ["worker 0 up"]
    assert any(
        e["reason"] == "Scheduled" and e["object"] == f"Pod/{name}-worker-0"
        for e in handle.events()
    )

    # wait() follows the watch while the operator reports success a moment later.
    writer = later(
        0.5,
        controller.write_status,
        "pytorchjob",
        alice.namespace,
        name,
        {"conditions": obj_conditions("Succeeded")},
    )
    assert handle.wait(timeout=30)["state"] == "Succeeded"
    writer.join()

    again = handle.resubmit()
    assert again.name != name and again.name.startswith(name)
    again_obj = again.get()
    assert again_obj["metadata"]["annotations"]["jupyterhub-mlops/snapshot"] == configmap
    assert owners(controller, alice.namespace, configmap) == {
        obj["metadata"]["uid"],
        again_obj["metadata"]["uid"],
    }
    assert again.cancel()["state"] == "Cancelled"
    assert again.get()["spec"]["runPolicy"]["suspend"] is True

    handle.delete()
    wait_for(
        lambda: name not in {j["name"] for j in client.list("pytorchjob")},
        timeout=30,
        what="the job to leave the list",
    )
    time.sleep(1)
    assert controller.configmap_exists(alice.namespace, configmap), (
        "still owned by the resubmission"
    )
    again.delete()
    controller.wait_gone(alice.namespace, configmap)
    with pytest.raises(NotFound):
        again.status()


def obj_conditions(final: str) -> list[dict]:
    return [
        {"type": "Created", "status": "True"},
        {"type": "Running", "status": "False"},
        {"type": final, "status": "True", "reason": f"PyTorchJob{final}"},
    ]


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


def test_following_logs_streams_lines_as_they_are_written(alice, controller):
    handle = alice.client().submit(
        PyTorchJob(name=unique("follow"), command="python train.py", image=IMAGE, snapshot=None)
    )
    obj = handle.get()
    pod = f"{handle.name}-master-0"
    controller.run_pod(
        alice.namespace,
        pod,
        obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"],
        owner=obj,
        labels={"training.kubeflow.org/job-name": handle.name},
    )
    log_file = controller.serve_log(alice.namespace, pod, "pytorch", ["epoch 1"], follow=True)
    received = []
    with handle.open_logs(follow=True) as stream:
        lines = iter(stream)
        received.append(next(lines))
        # The training process writes on; the follower sees it without asking again.
        with open(log_file, "a") as log:
            log.write(cri_line("epoch 2"))
        received.append(next(lines))
    assert received == ["epoch 1", "epoch 2"]
    handle.delete()
