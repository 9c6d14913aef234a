"""Argo workflow steps and Katib sweep trials in Kueue's line, end to end: submitted through
the suite's jobs client by a member of a group, run by Argo's real workflow-controller
and the real Katib, admitted by the real Kueue.

A GPU step's pod waits behind Kueue's admission gate (its pod integration) while the
workflow's CPU steps run; a sweep's trial Jobs wait suspended until one GPU is free for
each. The pods Argo and Katib make run as local processes (``kueue_job_runner``) once
Kueue lets them be scheduled; the member's notebook pod is the hub's, held by KWOK.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
from hera.workflows import Container, Resources, Steps, Workflow
from hera.workflows.models import Toleration
from jupyter_mlops.jobs import Parameter, Snapshot, Sweep, submit_workflow
from mlops_contract.jobs import FINISHED
from mlops_contract.placement import GPU_PRODUCT_LABEL, GPU_RESOURCE, default_gpu_tolerations
from mlops_contract.queueing import (
    JOB,
    LOCAL_QUEUE,
    PRIORITY_CLASS_LABEL,
    QUEUE_NAME_LABEL,
    TRIAL,
    WAITING_IN_LINE,
    is_gated,
    resource_flavor_name,
)

from tests.jobs_support import IMAGE, LR_TRIAL, runs_locally
from tests.kueue.lines import PRODUCT, condition
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster


def step(name: str, code: str, gpus: int = 0) -> Container:
    """A step running ``code``; with GPUs, pinned to the RTX nodes as its author would pin it."""
    if not gpus:
        return Container(name=name, image=IMAGE, command=["python", "-c", code])
    return Container(
        name=name,
        image=IMAGE,
        command=["python", "-c", code],
        resources=Resources(gpus=gpus),
        node_selector={GPU_PRODUCT_LABEL: PRODUCT},
        tolerations=[Toleration(**t) for t in default_gpu_tolerations()],
    )


def train_beside_a_report(name: str, gpus: int) -> Workflow:
    """prepare, then train (``gpus`` GPUs) and report (CPU) side by side."""
    with Workflow(name=name, entrypoint="main") as workflow:
        prepare = step("prepare", "print('prepared')")
        train = step("train", "print('trained')", gpus=gpus)
        report = step("report", "print('reported')")
        with Steps(name="main") as steps:
            prepare()
            with steps.parallel():
                train()
                report()
    return workflow


def step_pods(handle) -> dict[str, dict]:
    return {handle.kind.part_of_pod(p): p for p in handle.pods()}


def test_a_gpu_step_waits_in_line_while_the_cpu_steps_run(lines, kueue_job_runner):
    """3 GPUs asked with 2 of the group's 4 held by the notebook: the train step's pod is
    gated and holds no GPU while prepare and report run and end ungated; once the
    notebook ends, Kueue admits train, it runs on the RTX GPUs and the workflow succeeds."""
    group = lines.group(quota=4)
    user = lines.member(group)
    runs_locally(lines.core, user.namespace)
    notebook = lines.notebook(user, gpus=2)
    wait_for(lambda: lines.running(user.namespace, "component=singleuser-server"), timeout=60, what="the notebook")

    handle = submit_workflow(train_beside_a_report("wf", gpus=3), client=user.client(), if_not_fits="queue")

    def train_waits_and_cpu_steps_done():
        parts = {p["name"]: p for p in handle.status()["parts"]}
        states = {name: part["state"] for name, part in parts.items()}
        return states == {"prepare": "Succeeded", "report": "Succeeded", "train": "Queued"} and parts

    parts = wait_for(train_waits_and_cpu_steps_done, timeout=90, what="the CPU steps to end while train waits in line")
    assert parts["train"]["message"] == WAITING_IN_LINE
    assert handle.status()["state"] == "Running"
    pods = step_pods(handle)
    train = pods["train"]
    assert is_gated(train)
    assert not train["spec"].get("nodeName")  # never scheduled: it holds no GPU
    assert lines.held_back(user.namespace, train["metadata"]["uid"])
    assert train["metadata"]["labels"][QUEUE_NAME_LABEL] == LOCAL_QUEUE
    assert train["metadata"]["labels"][PRIORITY_CLASS_LABEL] == JOB.name
    for cpu_step in ("prepare", "report"):
        assert QUEUE_NAME_LABEL not in pods[cpu_step]["metadata"]["labels"], cpu_step
        assert lines.workload_of(user.namespace, pods[cpu_step]["metadata"]["uid"]) is None, cpu_step

    lines.finish(user.namespace, notebook)
    summary = handle.wait(timeout=90)
    assert summary["state"] == "Succeeded", handle.status()
    ran = lines.core.read_namespaced_pod(train["metadata"]["name"], user.namespace)
    assert ran.status.phase == "Succeeded"
    assert ran.spec.node_name.startswith("gpu-rtx-")
    assert condition(lines.workload_of(user.namespace, ran.metadata.uid), "Admitted")
    assert list(handle.logs("train")) == ["trained"]


def gated_trial(release: Path) -> str:
    """``LR_TRIAL``, first waiting until ``release`` exists: the trial the group's one GPU
    admits keeps it while the test looks at the one Kueue holds back."""
    return f"import os, time\nwhile not os.path.exists({str(release)!r}):\n    time.sleep(0.1)\n{LR_TRIAL}"


def test_sweep_trials_take_turns_on_the_groups_gpu(lines, kueue_job_runner, code_dir, tmp_path):
    """Two trials at a time, one GPU each, with one GPU in the group: Katib makes both
    trials' Jobs, Kueue admits one and keeps the other suspended with no pod; each runs
    in turn, Katib reads every trial's metric and the sweep succeeds."""
    group = lines.group(quota=1)
    user = lines.member(group)
    runs_locally(lines.core, user.namespace)
    release = tmp_path / "release"
    (code_dir / "train.py").write_text(gated_trial(release))
    batch = kubernetes.client.BatchV1Api(lines.cluster.api_client("admin"))

    handle = Sweep(
        name="lr",
        command="python train.py --lr {lr}",
        parameters=[Parameter("lr", "double", 0.001, 0.1)],
        objective_metric="accuracy",
        max_trials=3,
        parallel_trials=2,
        gpus=1,
        gpu_type=PRODUCT,
        trial_kind="pod",
        image=IMAGE,
        snapshot=Snapshot(code_dir),
    ).submit(user.client(), if_not_fits="queue")

    def one_runs_one_waits():
        jobs = batch.list_namespaced_job(user.namespace).items
        running = [j for j in jobs if lines.running(user.namespace, f"job-name={j.metadata.name}")]
        waiting = [j for j in jobs if lines.held_back(user.namespace, j.metadata.uid)]
        return len(running) == 1 and len(waiting) == 1 and (running[0], waiting[0])

    running, waiting = wait_for(one_runs_one_waits, timeout=120, interval=0.5, what="one trial to run, one to wait")
    assert waiting.spec.suspend is True
    assert lines.pods(user.namespace, f"job-name={waiting.metadata.name}") == []
    assert waiting.metadata.labels[PRIORITY_CLASS_LABEL] == TRIAL.name
    assert handle.status()["state"] == "Running"

    release.touch()
    summary = wait_for(
        lambda: (s := handle.status())["state"] in FINISHED and s, timeout=180, interval=1, what="the sweep to end"
    )
    assert summary["state"] == "Succeeded", summary
    assert summary["trials"]["succeeded"] == 3
    trials = {p["name"]: p for p in summary["parts"]}
    for trial in trials.values():
        assert trial["state"] == "Succeeded", trial
        assert float(trial["metrics"]["accuracy"]) == pytest.approx(1 - float(trial["parameters"]["lr"]), abs=1e-4)
    # Every trial went through Kueue: each Job's Workload was admitted on the RTX flavor.
    jobs = batch.list_namespaced_job(user.namespace).items
    assert sorted(j.metadata.name for j in jobs) == sorted(trials)
    for job in jobs:
        workload = wait_for(
            lambda uid=job.metadata.uid: (
                (w := lines.workload_of(user.namespace, uid)) and condition(w, "Finished") and w
            ),
            timeout=30,
            what=f"Kueue to see trial {job.metadata.name} finished",
        )
        assert condition(workload, "Admitted"), job.metadata.name
        (assigned,) = workload["status"]["admission"]["podSetAssignments"]
        assert assigned["flavors"] == {GPU_RESOURCE: resource_flavor_name(PRODUCT)}, job.metadata.name
    assert waiting.metadata.name in trials and running.metadata.name in trials
