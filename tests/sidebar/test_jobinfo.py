"""Pure readings the sidebar shows: GPUs per job, conditions, a sweep's objective, SSH help."""

from __future__ import annotations

import pytest
from jupyter_mlops.jobs.kinds import KINDS
from jupyter_mlops.jobs.pytorchjob import PyTorchJob
from jupyter_mlops.jobs.sweep import Parameter, Sweep
from jupyter_mlops.jobs.workflow import ArgoWorkflow
from jupyter_mlops.sidebar.jobinfo import conditions, sweep_objective

A100 = "NVIDIA-A100-SXM4-80GB"
IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-python-3.12"


def test_pytorchjob_gpus_count_every_replica():
    manifest = PyTorchJob(
        command="python t.py", name="j", replicas=3, gpus=2, gpu_type=A100, image=IMAGE, snapshot=None
    ).to_manifest("ns")
    assert KINDS["pytorchjob"].requested_gpus(manifest) == {"gpus": 6, "gpu_type": A100}


def test_cpu_only_job_has_no_gpu_type():
    manifest = PyTorchJob(command="python t.py", name="j", image=IMAGE, snapshot=None).to_manifest("ns")
    assert KINDS["pytorchjob"].requested_gpus(manifest) == {"gpus": 0, "gpu_type": None}


@pytest.mark.parametrize("trial_kind", ["pytorchjob", "pod", "workflow"])
def test_sweep_gpus_are_one_trial_times_parallel_trials(trial_kind):
    sweep = Sweep(
        name="s",
        command="python t.py --lr {lr}",
        parameters=[Parameter("lr", "double", 0.1, 1)],
        objective_metric="acc",
        parallel_trials=3,
        trial_kind=trial_kind,
        replicas=2 if trial_kind == "pytorchjob" else 1,
        gpus=1,
        gpu_type=A100,
        image=IMAGE,
        snapshot=None,
    )
    per_trial = 2 if trial_kind == "pytorchjob" else 1
    assert KINDS["sweep"].requested_gpus(sweep.to_manifest("ns")) == {"gpus": 3 * per_trial, "gpu_type": A100}


def test_workflow_gpus_are_its_largest_step():
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "spec": {
            "templates": [
                {"name": "prep", "container": {"image": IMAGE}},
                {
                    "name": "train",
                    "nodeSelector": {"nvidia.com/gpu.product": A100},
                    "container": {"image": IMAGE, "resources": {"limits": {"nvidia.com/gpu": "4"}}},
                },
                {"name": "eval", "script": {"image": IMAGE, "resources": {"limits": {"nvidia.com/gpu": "1"}}}},
            ]
        },
    }
    assert KINDS["workflow"].requested_gpus(ArgoWorkflow(manifest=manifest).to_manifest("ns")) == {
        "gpus": 4,
        "gpu_type": A100,
    }


def test_every_kind_of_the_jobs_api_says_what_gpus_it_asks_for():
    for kind in KINDS.values():
        assert kind.requested_gpus({"spec": {}}) == {"gpus": 0, "gpu_type": None}


def test_conditions_in_order_with_missing_fields_filled():
    obj = {
        "status": {
            "conditions": [
                {"type": "Created", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {
                    "type": "Running",
                    "status": "False",
                    "reason": "Suspended",
                    "message": "stopped",
                    "lastUpdateTime": "2026-01-01T00:01:00Z",
                },
            ]
        }
    }
    assert conditions(obj) == [
        {"type": "Created", "status": "True", "reason": "", "message": "", "time": "2026-01-01T00:00:00Z"},
        {
            "type": "Running",
            "status": "False",
            "reason": "Suspended",
            "message": "stopped",
            "time": "2026-01-01T00:01:00Z",
        },
    ]
    assert conditions({}) == []


def test_sweep_objective_reads_the_experiment_spec():
    sweep = Sweep(
        name="s",
        command="python t.py",
        objective_metric="loss",
        objective="minimize",
        goal=0.1,
        parameters=[Parameter("lr", "double", 0.01, 0.1), Parameter("opt", "categorical", values=["adam", "sgd"])],
        max_trials=9,
        parallel_trials=3,
        algorithm="tpe",
        image=IMAGE,
        snapshot=None,
    )
    objective = sweep_objective(sweep.to_manifest("ns"))
    assert objective["metric"] == "loss" and objective["type"] == "minimize" and objective["goal"] == 0.1
    assert objective["parameters"] == [
        {"name": "lr", "type": "double", "min": "0.01", "max": "0.1", "values": None},
        {"name": "opt", "type": "categorical", "min": None, "max": None, "values": ["adam", "sgd"]},
    ]
    assert (objective["algorithm"], objective["max_trials"], objective["parallel_trials"]) == ("tpe", 9, 3)
    assert sweep_objective({"kind": "PyTorchJob", "spec": {}}) is None
