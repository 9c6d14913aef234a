"""Request bodies through the contract's models into the Python API's specs (no cluster).

A bad body is refused naming the field, with a sentence; a good one becomes
the same spec the Python API builds. The models and the spec dataclasses name
the same fields, so neither can gain one the other lacks.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from jupyter_mlops.handlers import spec_from_json
from jupyter_mlops.jobs.errors import InvalidSpec
from jupyter_mlops.jobs.pytorchjob import PyTorchJob
from jupyter_mlops.jobs.snapshot import Snapshot
from jupyter_mlops.jobs.sweep import Parameter, Sweep
from jupyter_mlops.jobs.workflow import ArgoWorkflow
from mlops_contract import api

PARAMETER = {"name": "lr", "min": 0.001, "max": 0.1}
SWEEP = {"command": "python t.py {lr}", "parameters": [PARAMETER], "objective_metric": "acc"}
WORKFLOW = {
    "manifest": {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "w-"},
        "spec": {"entrypoint": "main"},
    }
}


@pytest.mark.parametrize(
    ("model", "spec"),
    [
        (api.PyTorchJobSpec, PyTorchJob),
        (api.SweepSpec, Sweep),
        (api.WorkflowSpec, ArgoWorkflow),
        (api.Parameter, Parameter),
        (api.Snapshot, Snapshot),
    ],
)
def test_a_model_and_its_spec_name_the_same_fields(model, spec):
    body_only = {"if_not_fits"}
    assert set(model.model_fields) - body_only == {f.name for f in fields(spec)}


@pytest.mark.parametrize(
    ("kind", "body", "field", "says"),
    [
        ("pytorchjob", {"command": []}, "command", "at least 1 item"),
        ("pytorchjob", {"command": "x", "cpu": "lots"}, "cpu", "pattern"),
        ("pytorchjob", {"command": "x", "cpu": True}, "cpu", "wrong type (boolean)"),
        ("pytorchjob", {"command": "x", "replicas": "2"}, "replicas", "wrong type (string)"),
        ("pytorchjob", {"command": "x", "replicas": True}, "replicas", "wrong type (boolean)"),
        ("pytorchjob", {"command": "x", "gpus_per_node": 2}, "gpus_per_node", "unknown field"),
        ("pytorchjob", {"command": "x", "gpu_type": None}, "gpu_type", "must not be null"),
        ("pytorchjob", {"replicas": 2}, "command", "is required"),
        ("pytorchjob", {"command": "x", "memory": "lots"}, "memory", "pattern"),
        ("pytorchjob", {"command": "x", "if_not_fits": "maybe"}, "if_not_fits", "must be one of refuse, queue"),
        ("pytorchjob", {"command": "x", "snapshot": {"gitignore": None}}, "snapshot.gitignore", "must not be null"),
        ("pytorchjob", {"command": "x", "snapshot": {"path": "../../etc"}}, "snapshot.path", "inside"),
        ("pytorchjob", {"command": "x", "snapshot": {"path": "a\u0000b"}}, "snapshot.path", "not a path"),
        (
            "sweep",
            {**SWEEP, "parameters": [{**PARAMETER, "distribution": "gauss"}]},
            "parameters[0].distribution",
            "must be one of uniform, loguniform, normal, lognormal",
        ),
        ("sweep", {**SWEEP, "parameters": [{**PARAMETER, "kind": "x"}]}, "parameters[0].kind", "unknown field"),
        ("sweep", {**SWEEP, "parameters": []}, "parameters", ""),
        (
            "sweep",
            {**SWEEP, "parameters": [{**PARAMETER, "min": 0, "distribution": "loguniform"}]},
            "parameters[0].min",
            "needs min > 0",
        ),
        ("workflow", {"manifest": {**WORKFLOW["manifest"], "kind": "Pod"}}, "manifest.kind", "must be one of Workflow"),
    ],
)
def test_a_bad_body_is_refused_naming_the_field(tmp_path, kind, body, field, says):
    with pytest.raises(InvalidSpec) as refused:
        spec = spec_from_json(kind, json.dumps(body), str(tmp_path))
        spec.validate()
    assert refused.value.details["field"] == field
    assert says in refused.value.details["reason"]


def test_a_good_body_becomes_the_spec_the_python_api_builds(tmp_path):
    body = {
        **SWEEP,
        "parameters": [{**PARAMETER, "distribution": "uniform"}],
        "gpus": 1,
        "image": "img",
        "cpu": 2,
        "snapshot": {"path": "", "exclude": ["data/"]},
        "algorithm": "tpe",
        "algorithm_settings": {"random_state": 7, "n_ei_candidates": "12"},
    }
    spec = spec_from_json("sweep", json.dumps(body), str(tmp_path))
    assert spec == Sweep(
        command="python t.py {lr}",
        objective_metric="acc",
        gpus=1,
        cpu=2,
        image="img",
        parameters=[{"name": "lr", "min": 0.001, "max": 0.1, "distribution": "uniform"}],
        algorithm="tpe",
        algorithm_settings={"random_state": 7, "n_ei_candidates": "12"},
        snapshot=Snapshot(path=tmp_path.resolve(), exclude=["data/"]),
    )
    spec.validate()
    manifest = spec.to_manifest("ns")["spec"]
    assert manifest["parameters"][0]["feasibleSpace"]["distribution"] == "uniform"
    assert manifest["algorithm"]["algorithmSettings"] == [
        {"name": "n_ei_candidates", "value": "12"},
        {"name": "random_state", "value": "7"},
    ]
    assert spec_from_json("workflow", json.dumps(WORKFLOW), str(tmp_path)).snapshot is None
