"""Hera workflows run by Argo's real workflow-controller, as alice's notebook submits them.

The session's cluster runs the workflow-controller of Argo Workflows v4.0.5
(``ControlPlane(argo_controller=True)``) with the upstream CRDs. It creates each
step's pod; the pod runner runs the step's command as a local process and plays
Argo's executor around it (``mlops_cluster.argo_executor``): the step's
WorkflowTaskResult is written with the pod's own service-account token. Nothing
here writes a Workflow's status: every phase, node and message below is the
controller's.
"""

from __future__ import annotations

import sys
import uuid

import kubernetes
import pytest
from hera.workflows import DAG, Container, Steps, Workflow
from jupyter_mlops.jobs import NotFound, PermissionDenied, submit_workflow

from tests.mlops_testing import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
IMAGE = "python:3.12-slim"
PYTHON = sys.executable
"""Steps run as local processes: this machine's Python stands in for the image's."""
TIMEOUT = 120


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def python_step(name: str, code: str) -> Container:
    return Container(name=name, image=IMAGE, command=[PYTHON, "-c", code])


def pipeline(name: str, train_code: str = "print('accuracy=0.9')", **workflow) -> Workflow:
    """prepare -> train -> publish, where publish is skipped (its ``when`` is false)."""
    with Workflow(name=name, entrypoint="main", **workflow) as w:
        prepare = python_step("prepare", "print('prepared 3 shards')")
        train = python_step("train", train_code)
        publish = python_step("publish", "print('published')")
        with Steps(name="main"):
            prepare()
            train()
            publish(when="1 == 2")
    return w


def steps(handle) -> list[tuple[str, str, str]]:
    return [(s["name"], s["type"], s["state"]) for s in handle.status()["parts"]]


def test_steps_and_phases_as_the_real_controller_writes_them(alice, argo_workflows):
    handle = submit_workflow(pipeline(unique("pipeline")), client=alice.client())

    assert handle.wait(timeout=TIMEOUT)["state"] == "Succeeded", handle.status()
    obj = handle.get()
    assert obj["status"]["phase"] == "Succeeded"  # written by the workflow-controller
    nodes = obj["status"]["nodes"]
    # The controller's nodes hold the root (Steps) and a StepGroup per step: not steps.
    assert {n["type"] for n in nodes.values()} >= {"Steps", "StepGroup", "Pod", "Skipped"}
    assert steps(handle) == [
        ("prepare", "Pod", "Succeeded"),
        ("train", "Pod", "Succeeded"),
        ("publish", "Skipped", "Skipped"),
    ]
    parts = {s["name"]: s for s in handle.status()["parts"]}
    assert parts["publish"]["pod"] is None
    assert parts["train"]["pod"] in {p["metadata"]["name"] for p in handle.pods()}
    # What the step printed, from the process the pod runner ran for it.
    assert list(handle.logs("train")) == ["accuracy=0.9"]
    handle.delete()


def test_a_dag_task_its_dependencies_rule_out_reads_omitted(alice, argo_workflows):
    """``depends: "train.Failed"`` after a train that succeeds: the controller omits
    the task, and it reads Omitted (not Pending) once the workflow has ended."""
    with Workflow(name=unique("dag"), entrypoint="main") as workflow:
        train = python_step("train", "print('accuracy=0.9')")
        rescue = python_step("rescue", "print('rescued')")
        with DAG(name="main"):
            train(name="train")
            rescue(name="rescue", depends="train.Failed")
    handle = submit_workflow(workflow, client=alice.client())

    assert handle.wait(timeout=TIMEOUT)["state"] == "Succeeded", handle.status()
    nodes = handle.get()["status"]["nodes"].values()
    assert {n["phase"] for n in nodes if n["displayName"] == "rescue"} == {"Omitted"}
    assert steps(handle) == [("train", "Pod", "Succeeded"), ("rescue", "Skipped", "Omitted")]
    handle.delete()


def test_steps_run_as_the_executor_account_and_report_their_results(alice, argo_workflows):
    handle = submit_workflow(pipeline(unique("reported")), client=alice.client())
    assert handle.wait(timeout=TIMEOUT)["state"] == "Succeeded", handle.status()
    obj = handle.get()
    assert obj["spec"]["serviceAccountName"] == alice.workflow_service_account
    for pod in handle.pods():
        assert pod["spec"]["serviceAccountName"] == alice.workflow_service_account
    # One WorkflowTaskResult per step that ran, written with the step pod's token.
    results = argo_workflows.task_results(alice.namespace, handle.name)
    assert sorted(r["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] for r in results) == [
        "true",
        "true",
    ]
    handle.delete()


def test_a_step_whose_account_may_not_report_fails_as_on_a_cluster(alice, argo_workflows):
    """The namespace's ``default`` account (what Argo uses without serviceAccountName)
    may not create WorkflowTaskResults: Argo's wait container exits 64, the step fails."""
    handle = submit_workflow(pipeline(unique("no-report"), service_account_name="default"), client=alice.client())
    assert handle.wait(timeout=TIMEOUT)["state"] == "Failed", handle.status()
    prepare = next(s for s in handle.status()["parts"] if s["name"] == "prepare")
    assert prepare["state"] == "Failed"
    assert "wait: Error (exit code 64)" in prepare["message"]
    handle.delete()


def test_a_failing_step_fails_the_workflow_with_its_message(alice, argo_workflows):
    crash = "import sys; print('loss is NaN'); sys.exit(3)"
    handle = submit_workflow(pipeline(unique("crash"), train_code=crash), client=alice.client())

    summary = handle.wait(timeout=TIMEOUT)
    assert summary["state"] == "Failed", handle.status()
    # Argo's own message names the failed child by node id; the user reads step and reason.
    assert handle.get()["status"]["message"].startswith("child '")
    assert summary["message"] == "step train failed: main: Error (exit code 3)", summary
    parts = {s["name"]: s for s in handle.status()["parts"]}
    assert parts["prepare"]["state"] == "Succeeded"
    assert parts["train"]["state"] == "Failed"
    assert parts["train"]["message"] == "main: Error (exit code 3)"
    assert list(handle.logs("train")) == ["loss is NaN"]
    # The steps after the failed one never ran.
    assert "publish" not in parts or parts["publish"]["state"] != "Succeeded"
    handle.delete()


def test_terminate_stops_a_running_workflow(alice, argo_workflows):
    with Workflow(name=unique("long"), entrypoint="main") as workflow:
        sleep = python_step("sleep", "import time; print('started', flush=True); time.sleep(600)")
        with Steps(name="main"):
            sleep()
    handle = submit_workflow(workflow, client=alice.client())
    wait_for(lambda: ("sleep", "Pod", "Running") in steps(handle), timeout=TIMEOUT, what="the step to run")

    assert handle.cancel()["state"] == "Cancelled"
    assert handle.wait(timeout=TIMEOUT)["state"] == "Cancelled"
    wait_for(
        lambda: handle.get()["status"].get("phase") == "Failed",
        timeout=TIMEOUT,
        what="the controller to stop the workflow",
    )
    step = next(s for s in handle.status()["parts"] if s["name"] == "sleep")
    assert step["state"] == "Failed"
    assert "shutdown" in step["message"], step
    handle.delete()


def test_bob_cannot_see_or_touch_alices_workflow(alice, bob, argo_workflows):
    handle = submit_workflow(pipeline(unique("private")), client=alice.client())
    assert handle.wait(timeout=TIMEOUT)["state"] == "Succeeded", handle.status()
    pod = handle.pods()[0]["metadata"]["name"]

    as_bob = bob.client(namespace=alice.namespace)
    for attempt in (
        lambda: as_bob.get("workflow", handle.name).status(),
        lambda: list(as_bob.get("workflow", handle.name).logs("train")),
        lambda: as_bob.handle("workflow", handle.name).cancel(),
        lambda: as_bob.handle("workflow", handle.name).delete(),
        lambda: submit_workflow(pipeline(unique("intruder")), client=as_bob),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert handle.name not in {j["name"] for j in bob.client().list("workflow")}
    # Bob's own token, straight at the API server, is refused alice's step pod and its log.
    core = kubernetes.client.CoreV1Api(bob.api_client())
    for call in (
        lambda: core.read_namespaced_pod(pod, alice.namespace),
        lambda: core.read_namespaced_pod_log(pod, alice.namespace, container="main"),
    ):
        with pytest.raises(kubernetes.client.ApiException) as refused:
            call()
        assert refused.value.status == 403
    assert handle.state() == "Succeeded"  # untouched
    handle.delete()
    with pytest.raises(NotFound):
        handle.get()
