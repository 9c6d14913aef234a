"""The demo's stand-in job controllers: KWOK Stages (cluster/kwok/job-stages.yaml).

A control plane started with ``simulate_job_controllers=True`` (as the demo
starts it) must move a Katib Experiment (the Training Operator and Argo's
workflow-controller run for real, see tests/training_operator/ and
tests/jobs/test_workflow_controller.py),
built by the suite's own manifest builders, through the states their
controllers would write — and the jobs API must read each as Succeeded in the
end. The session's test cluster must not load these Stages: its tests write
Katib's statuses themselves. No Stage plays the Training Operator: it runs for real
(tests/training_operator/), and a PyTorchJob here stays untouched.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
import yaml
from jupyter_mlops.jobs.kinds import KINDS
from jupyter_mlops.jobs.sweep import Parameter, Sweep
from mlops_cluster import ControlPlane
from mlops_cluster.controlplane import JOB_STAGES, read_state
from mlops_testing import wait_for

pytestmark = pytest.mark.cluster

IMAGE = "python:3.12-slim"
NAMESPACE = "stages"


@pytest.fixture(scope="module")
def simulating_cluster(tmp_path_factory):
    cluster = ControlPlane(tmp_path_factory.mktemp("stages-cluster"), simulate_job_controllers=True)
    cluster.start()
    try:
        kubernetes.client.CoreV1Api(cluster.api_client("admin")).create_namespace(
            {"metadata": {"name": NAMESPACE}}, _request_timeout=10)
        yield cluster
    finally:
        cluster.stop()


def manifests() -> dict[str, dict]:
    return {
        "sweep": Sweep(name="lr-sweep", command="python train.py --lr {lr} --batch {batch} "
                                                "--layers {layers}",
                       parameters=[Parameter("lr", "double", 0.001, 0.1),
                                   Parameter("batch", "categorical", values=[16, 32, 64]),
                                   Parameter("layers", "int", 2, 8)],
                       objective_metric="accuracy", max_trials=6, parallel_trials=2,
                       image=IMAGE, snapshot=None).to_manifest(NAMESPACE),
    }


class TrialLister:
    """What ``SweepKind.parts`` needs of the jobs API's client: ``list`` of Trials."""

    def __init__(self, api):
        self.api = api

    def list(self, resource, namespace: str, label_selector: str) -> dict:
        return self.api.list_namespaced_custom_object("kubeflow.org", "v1beta1", namespace,
                                                      resource.plural, label_selector=label_selector,
                                                      _request_timeout=10)


def follow(api, kind: str, manifest: dict) -> tuple[list[str], dict]:
    """Create ``manifest`` and poll it until the jobs API reads a finished state;
    return the distinct states seen, in order, and the last object."""
    resource = KINDS[kind].resource
    group, version = resource.api_version.split("/")
    api.create_namespaced_custom_object(group, version, NAMESPACE, resource.plural, manifest,
                                        _request_timeout=10)
    seen: list[str] = []
    last: dict = {}

    def finished():
        nonlocal last
        last = api.get_namespaced_custom_object(group, version, NAMESPACE, resource.plural,
                                                manifest["metadata"]["name"], _request_timeout=10)
        state, _ = KINDS[kind].state(last)
        if not seen or seen[-1] != state:
            seen.append(state)
        return state in ("Succeeded", "Failed", "Cancelled")

    wait_for(finished, timeout=120, interval=0.3, what=f"the {kind} to finish")
    return seen, last


def test_stages_move_each_job_kind_to_succeeded_as_its_controller_would(simulating_cluster):
    api = kubernetes.client.CustomObjectsApi(simulating_cluster.api_client("admin"))
    jobs = manifests()
    # -- Katib: trial counts and a best trial drawn from the search space -----------------
    seen, experiment = follow(api, "sweep", jobs["sweep"])
    assert seen == ["Pending", "Running", "Succeeded"], seen
    summary = KINDS["sweep"].summary(experiment)
    assert summary["trials"]["total"] == 6 and summary["trials"]["succeeded"] == 6
    assert summary["trials"]["running"] == 0
    # One Trial object per trial, as Katib creates them, each Succeeded with its metric.
    trials = KINDS["sweep"].parts(experiment, [], client=TrialLister(api))
    assert len(trials) == 6 and {t["state"] for t in trials} == {"Succeeded"}, trials
    for trial in trials:
        assert set(trial["parameters"]) == {"lr", "batch", "layers"}
        assert 0.001 <= float(trial["parameters"]["lr"]) <= 0.1
        assert trial["parameters"]["batch"] in ("16", "32", "64")
        assert 2 <= int(trial["parameters"]["layers"]) <= 8
    assert len({t["parameters"]["lr"] for t in trials}) == 6  # spread over the range
    best = summary["best_trial"]
    by_name = {t["name"]: t for t in trials}
    assert best["name"] in by_name
    assert best["parameters"] == by_name[best["name"]]["parameters"]
    assert best["metrics"]["accuracy"] == max(t["metrics"]["accuracy"] for t in trials)


def test_no_stage_plays_the_training_operator_or_argo():
    """PyTorchJobs are the real operator's (ControlPlane(training_operator=True)), Workflows
    Argo's real workflow-controller's (ControlPlane(argo_controller=True))."""
    kinds = {stage["spec"]["resourceRef"]["kind"]
             for stage in yaml.safe_load_all(JOB_STAGES.read_text()) if stage}
    assert kinds == {"Experiment", "Trial"}


def test_the_test_cluster_leaves_job_statuses_to_the_tests(control_plane):
    kwok = read_state(control_plane.run_dir)["processes"]["kwok"]
    argv = Path(f"/proc/{kwok}/cmdline").read_bytes().decode().split("\0")
    assert f"--config={JOB_STAGES}" not in argv, argv
    assert any(arg.startswith("--config=") for arg in argv)  # the pod and node stages
