"""Pure functions of the jobs API, tested as dicts: manifests, snapshots, states, fit checks."""

from __future__ import annotations

import io
import tarfile

import pytest
from jupyter_mlops.jobs import ArgoWorkflow, InvalidSpec, Parameter, PyTorchJob, Snapshot, Sweep
from jupyter_mlops.jobs.availability import check_cap, check_fit
from jupyter_mlops.jobs.credentials import KubeCredentials
from jupyter_mlops.jobs.entrypoint import attach_snapshot
from jupyter_mlops.jobs.kinds import KINDS, kind_named
from jupyter_mlops.jobs.settings import JobsSettings
from jupyter_mlops.jobs.snapshot import SnapshotRef, configmap_manifest
from jupyter_mlops.jobs.sweep import in_spec_order
from jupyterhub_mlops.provisioning import (
    WORKFLOW_EXECUTOR_CLUSTER_ROLE,
    WORKFLOW_SERVICE_ACCOUNT,
    namespace_manifest,
    role_binding_manifest,
)
from mlops_contract.namespaces import safe_name, user_namespace

IMAGE = "registry.local/notebook:1"
CM = SnapshotRef(configmap="mlops-snapshot-abc", digest="abc")


def test_pytorchjob_manifest():
    job = PyTorchJob(
        name="mnist",
        command="python train.py --lr 0.1",
        replicas=3,
        gpus=2,
        gpu_type="NVIDIA-A100-SXM4-80GB",
        cpu="8",
        memory="32Gi",
        image=IMAGE,
        env={"SEED": "1"},
    )
    job.validate()
    manifest = job.to_manifest("mlops-alice", CM)
    assert manifest["metadata"] == {
        "name": "mnist",
        "namespace": "mlops-alice",
        "labels": {"jupyterhub-mlops/submitted-by": "jupyter-mlops"},
    }
    replicas = manifest["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 2)
    pod = replicas["Worker"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    container = pod["containers"][0]
    assert container["name"] == "pytorch" and container["image"] == IMAGE
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "2", "cpu": "8", "memory": "32Gi"}
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert container["command"][3:] == ["mlops-entrypoint", "python", "train.py", "--lr", "0.1"]
    assert container["workingDir"] == "/mlops/code"
    assert {"name": "SEED", "value": "1"} in container["env"]
    assert {"name": "mlops-snapshot", "configMap": {"name": "mlops-snapshot-abc"}} in pod["volumes"]


def test_a_crashing_replica_fails_the_job_within_its_backoff_limit():
    """Replicas restart in place (OnFailure): only runPolicy.backoffLimit makes the
    Training Operator count those restarts and fail the job; cleanPodPolicy Running
    then deletes the pods still crash-looping, so their GPUs are freed."""
    spec = PyTorchJob(command="python a.py", image=IMAGE, replicas=2).to_manifest("ns")["spec"]
    assert spec["runPolicy"] == {"cleanPodPolicy": "Running", "backoffLimit": 3}
    assert {r["restartPolicy"] for r in spec["pytorchReplicaSpecs"].values()} == {"OnFailure"}
    never_retried = PyTorchJob(command="python a.py", image=IMAGE, backoff_limit=0)
    never_retried.validate()
    assert never_retried.to_manifest("ns")["spec"]["runPolicy"]["backoffLimit"] == 0


@pytest.mark.parametrize(
    "command",
    [
        "torchrun --nnodes=2 --nproc-per-node=4 train.py",
        "python -m torch.distributed.run train.py",
        ["/bin/sh", "-c", "cd src && exec torchrun train.py"],
    ],
)
def test_nproc_per_node_goes_with_torchrun(command):
    job = PyTorchJob(command=command, image=IMAGE, replicas=2, nproc_per_node=4)
    job.validate()
    assert job.to_manifest("ns")["spec"]["nprocPerNode"] == "4"


def test_nproc_per_node_without_torchrun_is_refused_saying_why():
    """Without torchrun each pod runs one process while the operator's WORLD_SIZE
    counts replicas x nproc_per_node ranks: the rendezvous would wait forever."""
    job = PyTorchJob(command="python train.py", image=IMAGE, replicas=2, nproc_per_node=4)
    with pytest.raises(InvalidSpec) as refused:
        job.validate()
    assert refused.value.details["field"] == "nproc_per_node"
    assert "torchrun" in refused.value.message and "8 ranks" in refused.value.message
    PyTorchJob(command="python train.py", image=IMAGE, nproc_per_node=1).validate()


def test_single_replica_job_has_no_workers_and_unnamed_jobs_get_generated_names():
    manifest = PyTorchJob(command=["python", "a.py"], image=IMAGE).to_manifest("ns")
    assert list(manifest["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert manifest["metadata"]["generateName"] == "pytorchjob-"
    assert "tolerations" not in manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"replicas": 0}, "replicas"),
        ({"gpus": -1}, "gpus"),
        ({"gpus": True}, "gpus"),
        ({"command": ""}, "command"),
        ({"name": "Has_Caps"}, "name"),
        ({"cpu": "fast"}, "cpu"),
        ({"gpu_type": "NVIDIA-L4"}, "gpu_type"),
        ({"env": {"A": 1}}, "env"),
        ({"backoff_limit": -1}, "backoff_limit"),
        ({"nproc_per_node": 2}, "nproc_per_node"),
    ],
)
def test_pytorchjob_validation_names_the_field(change, field):
    job = PyTorchJob(**{"command": "python a.py", "image": IMAGE, **change})
    with pytest.raises(InvalidSpec) as refused:
        job.validate()
    assert refused.value.details["field"] == field


def test_image_defaults_to_the_notebooks_own():
    notebook = JobsSettings.from_environment({"JUPYTER_IMAGE_SPEC": "quay.io/me/notebook:2"})
    job = PyTorchJob(command="python a.py")
    job.validate(notebook.notebook_pod())
    pod = job.to_manifest("ns", None, notebook.notebook_pod())
    pod = pod["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "quay.io/me/notebook:2"
    with pytest.raises(InvalidSpec, match="image"):
        PyTorchJob(command="python a.py").validate(JobsSettings.from_environment({}).notebook_pod())


def sweep(**kwargs) -> Sweep:
    base = dict(
        name="lr-sweep",
        command="python train.py --lr {lr} --bs {bs}",
        image=IMAGE,
        parameters=[
            Parameter("lr", "double", 0.001, 0.1),
            Parameter("bs", "categorical", values=[16, 32]),
        ],
        objective_metric="accuracy",
        goal=0.99,
        max_trials=8,
        parallel_trials=2,
    )
    base.update(kwargs)
    s = Sweep(**base)
    s.validate()
    return s


def test_sweep_experiment_spec():
    spec = sweep(trial_kind="pod").to_manifest("ns", CM)["spec"]
    assert spec["objective"] == {
        "type": "maximize",
        "objectiveMetricName": "accuracy",
        "goal": 0.99,
    }
    assert spec["algorithm"] == {"algorithmName": "random"}
    assert (spec["parallelTrialCount"], spec["maxTrialCount"]) == (2, 8)
    assert spec["parameters"] == [
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "0.1"}},
        {"name": "bs", "parameterType": "categorical", "feasibleSpace": {"list": ["16", "32"]}},
    ]
    template = spec["trialTemplate"]
    assert template["trialParameters"] == [
        {"name": "lr", "reference": "lr"},
        {"name": "bs", "reference": "bs"},
    ]
    assert template["primaryContainerName"] == "training-container"
    job = template["trialSpec"]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    # One shell line Katib's metrics collector can append to (trial_command).
    assert container["command"][:2] == ["sh", "-c"] and len(container["command"]) == 3
    assert container["command"][2].endswith("--lr '${trialParameters.lr}' --bs '${trialParameters.bs}'")


def test_a_parameter_distribution_becomes_katibs_feasible_space_distribution():
    parameters = [
        Parameter("lr", "double", 1e-4, 1e-1, distribution="loguniform"),
        {"name": "bs", "type": "int", "min": 16, "max": 128, "distribution": "lognormal"},
        Parameter("dropout", "double", 0.1, 0.5, distribution="normal"),
    ]
    # Katib's distribution names; the served algorithms ignore them (a sweep refuses them,
    # tests/jobs/test_sweep_katib_rules.py), an algorithm that honours them gets these.
    spec = {
        "spec": {"parameters": [(p if isinstance(p, Parameter) else Parameter(**p)).to_katib() for p in parameters]}
    }
    assert [p["feasibleSpace"] for p in spec["spec"]["parameters"]] == [
        {"min": "0.0001", "max": "0.1", "distribution": "logUniform"},
        {"min": "16", "max": "128", "distribution": "logNormal"},
        {"min": "0.1", "max": "0.5", "distribution": "normal"},
    ]


def test_sweep_trials_as_pytorchjobs_and_as_argo_workflows():
    template = sweep(trial_kind="pytorchjob", replicas=2, gpus=1).to_manifest("ns")["spec"]["trialTemplate"]
    assert template["trialSpec"]["kind"] == "PyTorchJob"
    assert template["primaryContainerName"] == "pytorch"
    assert 'type=="Succeeded"' in template["successCondition"]
    assert template["trialSpec"]["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1

    template = sweep(trial_kind="workflow").to_manifest("ns", CM)["spec"]["trialTemplate"]
    workflow = template["trialSpec"]
    assert (workflow["apiVersion"], workflow["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    step = workflow["spec"]["templates"][0]
    assert workflow["spec"]["entrypoint"] == step["name"] == "main"
    assert template["primaryPodLabels"] == {"katib.kubeflow.org/model-training": "true"}
    assert step["metadata"]["labels"] == template["primaryPodLabels"]
    assert "name" not in step["container"]
    assert workflow["spec"]["volumes"][0]["configMap"] == {"name": "mlops-snapshot-abc"}
    assert 'phase=="Succeeded"' in template["successCondition"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"parameters": []}, "parameters"),
        ({"parameters": [Parameter("lr", "double", 1, 0)]}, "parameters[0].max"),
        ({"parameters": [Parameter("lr", "categorical")]}, "parameters[0].values"),
        ({"parameters": [{"name": "lr", "kind": "x"}]}, "parameters[0].kind"),
        ({"parameters": [Parameter("lr", "double", 0, 1, distribution="loguniform")]}, "parameters[0].min"),
        ({"parameters": [Parameter("lr", "double", 0, 1, distribution="gauss")]}, "parameters[0].distribution"),
        (
            {"parameters": [Parameter("bs", "discrete", values=[1, 2], distribution="uniform")]},
            "parameters[0].distribution",
        ),
        ({"objective": "best"}, "objective"),
        ({"algorithm": "magic"}, "algorithm"),
        ({"trial_kind": "vm"}, "trial_kind"),
        ({"parallel_trials": 9}, "parallel_trials"),
        ({"command": "python train.py --lr {lr}"}, "command"),
        ({"trial_kind": "pod", "replicas": 2}, "replicas"),
    ],
)
def test_sweep_validation_names_the_field(change, field):
    with pytest.raises(InvalidSpec) as refused:
        sweep(**change)
    assert refused.value.details["field"] == field


WORKLOAD = {
    "gpus": 2,
    "gpu_type": "NVIDIA-H100-80GB-HBM3",
    "cpu": 4,
    "memory": "16Gi",
    "image": IMAGE,
    "env": {"SEED": "7"},
}


def test_pytorchjob_and_sweep_trials_get_the_same_pods_from_the_same_workload():
    job = PyTorchJob(command="python train.py --lr 0.1", snapshot=None, **WORKLOAD)
    job.validate()
    job_pod = job.to_manifest("ns")["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    trial = sweep(trial_kind="pod", **WORKLOAD).to_manifest("ns")["spec"]["trialTemplate"]
    trial_pod = trial["trialSpec"]["spec"]["template"]["spec"]
    for pod in (job_pod, trial_pod):
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
        (container,) = pod["containers"]
        # cpu given as a number is normalised to a quantity string for both kinds
        assert container["resources"]["limits"] == {"nvidia.com/gpu": "2", "cpu": "4", "memory": "16Gi"}
        assert (container["image"], container["env"]) == (IMAGE, [{"name": "SEED", "value": "7"}])


def test_every_job_pod_carries_the_notebook_owner_label_so_its_gpus_count_against_the_cap():
    owner = {"jupyterhub-mlops/user": "alice"}
    # As GPUKubeSpawner tells the notebook (MLOPS_OWNER_LABEL), read once by its client.
    pod = JobsSettings.from_environment({"MLOPS_OWNER_LABEL": "jupyterhub-mlops/user=alice"})
    notebook = pod.notebook_pod()
    job = PyTorchJob(command="python train.py", replicas=2, snapshot=None, **WORKLOAD)
    job.validate(notebook)
    replicas = job.to_manifest("ns", None, notebook)["spec"]["pytorchReplicaSpecs"]
    assert [r["template"]["metadata"]["labels"] for r in replicas.values()] == [owner, owner]
    pod_trial = sweep(trial_kind="pod").to_manifest("ns", None, notebook)["spec"]["trialTemplate"]
    pod_trial = pod_trial["trialSpec"]
    assert pod_trial["spec"]["template"]["metadata"]["labels"] == owner
    torch_trial = sweep(trial_kind="pytorchjob").to_manifest("ns", None, notebook)
    torch_trial = torch_trial["spec"]["trialTemplate"]
    master = torch_trial["trialSpec"]["spec"]["pytorchReplicaSpecs"]["Master"]
    assert master["template"]["metadata"]["labels"] == owner
    argo_trial = sweep(trial_kind="workflow").to_manifest("ns", None, notebook)
    argo_trial = argo_trial["spec"]["trialTemplate"]
    step_labels = argo_trial["trialSpec"]["spec"]["templates"][0]["metadata"]["labels"]
    assert step_labels == {**owner, "katib.kubeflow.org/model-training": "true"}
    # A Hera workflow keeps its own pod labels; the owner label is added to them.
    workflow = ArgoWorkflow(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "spec": {
                "entrypoint": "a",
                "podMetadata": {"labels": {"team": "vision"}},
                "templates": [{"name": "a", "container": {"image": IMAGE}}],
            },
        }
    )
    workflow.validate(notebook)
    built = workflow.to_manifest("ns", None, notebook)["spec"]
    assert built["podMetadata"]["labels"] == {"team": "vision", **owner}
    # Outside a server GPUKubeSpawner started there is no owner label to add.
    assert (
        "podMetadata"
        not in ArgoWorkflow(
            {
                **workflow.manifest,
                "spec": {"entrypoint": "a", "templates": [{"name": "a", "container": {"image": IMAGE}}]},
            }
        ).to_manifest("ns")["spec"]
    )
    # (no empty labels map either: Katib's webhook refuses a trial template that has one)
    assert job.to_manifest("ns")["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"] == {}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"gpus": 0}, "gpu_type"),
        ({"cpu": "lots"}, "cpu"),
        ({"memory": "16 GB"}, "memory"),
        ({"env": {"A": 1}}, "env"),
        ({"image": " "}, "image"),
        ({"gpus": 65}, "gpus"),
    ],
)
def test_pytorchjob_and_sweep_refuse_a_bad_workload_field_alike(change, field):
    fields = {**WORKLOAD, **change}
    with pytest.raises(InvalidSpec) as job_refused:
        PyTorchJob(command="python train.py", **fields).validate()
    with pytest.raises(InvalidSpec) as sweep_refused:
        sweep(**fields)
    assert job_refused.value.details["field"] == sweep_refused.value.details["field"] == field


def test_workflow_submitted_unchanged_unless_a_snapshot_is_asked_for(monkeypatch):
    monkeypatch.delenv("MLOPS_WORKFLOW_SERVICE_ACCOUNT", raising=False)
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "wf-"},
        "spec": {
            "entrypoint": "a",
            "templates": [
                {"name": "a", "container": {"image": IMAGE, "command": ["python", "a.py"]}},
                {
                    "name": "b",
                    "script": {"image": IMAGE, "command": ["python"], "source": "print(1)"},
                },
                {"name": "c", "container": {"image": IMAGE}},
            ],
        },
    }
    plain = ArgoWorkflow(manifest)
    plain.validate()
    built = plain.to_manifest("ns")
    assert built["spec"] == manifest["spec"]
    assert built["metadata"]["namespace"] == "ns"
    shipped = ArgoWorkflow(manifest).to_manifest("ns", CM)["spec"]
    assert shipped["templates"][0]["container"]["command"][3:] == [
        "mlops-entrypoint",
        "python",
        "a.py",
    ]
    assert shipped["templates"][1]["script"]["command"][3:] == ["mlops-entrypoint", "python"]
    assert "command" not in shipped["templates"][2]["container"], "image entrypoint kept"
    assert [v["name"] for v in shipped["volumes"]] == ["mlops-snapshot", "mlops-code"]


@pytest.mark.parametrize(
    "manifest, field",
    [
        ({"apiVersion": "v1", "kind": "Pod"}, "manifest.kind"),
        (
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {}, "spec": {}},
            "manifest.metadata.name",
        ),
        (
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "w"},
                "spec": {"entrypoint": "zz", "templates": [{"name": "a"}]},
            },
            "manifest.spec.entrypoint",
        ),
    ],
)
def test_workflow_validation_names_the_field(manifest, field):
    with pytest.raises(InvalidSpec) as refused:
        ArgoWorkflow(manifest).validate()
    assert refused.value.details["field"] == field


def test_attach_snapshot_from_a_shared_volume():
    ref = SnapshotRef(claim="home", volume_path=".mlops/snapshots/abc.tar.gz", digest="abc")
    spec = attach_snapshot({"containers": [{"name": "c", "command": ["run"], "args": ["x"]}]}, ref)
    mount = spec["containers"][0]["volumeMounts"][0]
    assert mount == {
        "name": "mlops-snapshot",
        "mountPath": "/mlops/snapshot",
        "readOnly": True,
        "subPath": ".mlops/snapshots",
    }
    assert spec["containers"][0]["command"][-2:] == ["run", "x"] and "args" not in spec["containers"][0]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env == {"MLOPS_SNAPSHOT": "/mlops/snapshot/abc.tar.gz", "PYTHONPATH": "/mlops/code"}


# ------------------------------------------------------------------ snapshots
def tree(root, files: dict[str, str]):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_snapshot_honours_gitignore_nested_gitignore_include_and_exclude(tmp_path):
    tree(
        tmp_path,
        {
            ".gitignore": "*.ckpt\ndata/\n!keep.ckpt\n",
            "train.py": "",
            "model.ckpt": "",
            "keep.ckpt": "",
            "data/big.csv": "",
            "pkg/.gitignore": "local.txt\n/only_here.txt\n",
            "pkg/mod.py": "",
            "pkg/local.txt": "",
            "pkg/sub/local.txt": "",
            "pkg/only_here.txt": "",
            "pkg/sub/only_here.txt": "",
            "notes.md": "",
            ".git/HEAD": "",
            "__pycache__/x.pyc": "",
            ".ipynb_checkpoints/a": "",
            ".mlops/snapshots/old.tar.gz": "",
        },
    )
    snap = Snapshot(tmp_path, include=["data/big.csv"], exclude=["*.md"])
    assert snap.files() == [
        ".gitignore",
        "data/big.csv",
        "keep.ckpt",
        "pkg/.gitignore",
        "pkg/mod.py",
        "pkg/sub/only_here.txt",
        "train.py",
    ]
    assert Snapshot(tmp_path, gitignore=False).files() == [
        ".gitignore",
        "data/big.csv",
        "keep.ckpt",
        "model.ckpt",
        "notes.md",
        "pkg/.gitignore",
        "pkg/local.txt",
        "pkg/mod.py",
        "pkg/only_here.txt",
        "pkg/sub/local.txt",
        "pkg/sub/only_here.txt",
        "train.py",
    ]


def test_snapshot_is_content_addressed_and_deterministic(tmp_path):
    tree(tmp_path / "a", {"x.py": "print(1)\n", "run.sh": "echo\n"})
    (tmp_path / "a" / "run.sh").chmod(0o755)
    first = Snapshot(tmp_path / "a").build()
    (tmp_path / "a" / "x.py").touch()  # a new mtime, same content
    assert Snapshot(tmp_path / "a").build().digest == first.digest
    (tmp_path / "a" / "x.py").write_text("print(2)\n")
    assert Snapshot(tmp_path / "a").build().digest != first.digest
    with tarfile.open(fileobj=io.BytesIO(first.data), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["run.sh"].mode == 0o755 and members["x.py"].mode == 0o644
    assert {m.mtime for m in members.values()} == {0}
    manifest = configmap_manifest(first, "ns")
    assert manifest["immutable"] is True
    assert manifest["metadata"]["name"] == f"mlops-snapshot-{first.digest[:20]}"
    assert list(manifest["binaryData"]) == ["snapshot.tar.gz"]


def test_snapshot_of_a_missing_directory_is_an_invalid_spec(tmp_path):
    with pytest.raises(InvalidSpec, match="snapshot.path"):
        Snapshot(tmp_path / "nope").files()


# ------------------------------------------------------------------ states
@pytest.mark.parametrize(
    "kind, obj, state",
    [
        ("pytorchjob", {}, "Pending"),
        (
            "pytorchjob",
            {
                "status": {
                    "conditions": [
                        {"type": "Created", "status": "True"},
                        {"type": "Running", "status": "True"},
                    ]
                }
            },
            "Running",
        ),
        (
            "pytorchjob",
            {
                "status": {
                    "conditions": [
                        {"type": "Running", "status": "False"},
                        {"type": "Failed", "status": "True"},
                    ]
                }
            },
            "Failed",
        ),
        (
            "pytorchjob",
            {"status": {"conditions": [{"type": "Suspended", "status": "True"}]}},
            "Cancelled",
        ),
        # Kueue holds a job in its line suspended: Queued, until the user cancels it.
        (
            "pytorchjob",
            {
                "metadata": {"labels": {"kueue.x-k8s.io/queue-name": "gpus"}},
                "status": {"conditions": [{"type": "Suspended", "status": "True"}]},
            },
            "Queued",
        ),
        (
            "pytorchjob",
            {
                "metadata": {
                    "labels": {"kueue.x-k8s.io/queue-name": "gpus"},
                    "annotations": {"jupyterhub-mlops/cancelled": "true"},
                },
                "status": {"conditions": [{"type": "Suspended", "status": "True"}]},
            },
            "Cancelled",
        ),
        (
            "pytorchjob",
            {
                "metadata": {"annotations": {"jupyterhub-mlops/cancelled": "true"}},
                "status": {"conditions": [{"type": "Running", "status": "True"}]},
            },
            "Cancelled",
        ),
        (
            "pytorchjob",
            {
                "metadata": {"annotations": {"jupyterhub-mlops/cancelled": "true"}},
                "status": {"conditions": [{"type": "Succeeded", "status": "True"}]},
            },
            "Succeeded",
        ),
        (
            "sweep",
            {"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}},
            "Succeeded",
        ),
        ("workflow", {"status": {"phase": "Error"}}, "Failed"),
        (
            "workflow",
            {"spec": {"shutdown": "Terminate"}, "status": {"phase": "Running"}},
            "Cancelled",
        ),
        ("workflow", {"status": {}}, "Pending"),
    ],
)
def test_states(kind, obj, state):
    obj = {"metadata": {}, "spec": {}, **obj}
    assert KINDS[kind].state(obj)[0] == state


def test_resubmit_manifest_drops_server_fields_and_cancellation():
    obj = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "name": "mnist--abc12",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "9",
            "creationTimestamp": "t",
            "managedFields": [],
            "labels": {"a": "b"},
            "annotations": {
                "jupyterhub-mlops/cancelled": "true",
                "jupyterhub-mlops/snapshot": "cm",
            },
        },
        "spec": {"runPolicy": {"suspend": True, "cleanPodPolicy": "None"}},
        "status": {"conditions": []},
    }
    manifest = KINDS["pytorchjob"].resubmit_manifest(obj)
    assert manifest == {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "namespace": "ns",
            "labels": {"a": "b"},
            "annotations": {"jupyterhub-mlops/snapshot": "cm"},
            "generateName": "mnist--",
        },
        "spec": {"runPolicy": {"cleanPodPolicy": "None"}},
    }


def test_kind_names():
    assert kind_named("sweeps") is kind_named("sweep")
    with pytest.raises(InvalidSpec, match="not a job kind"):
        kind_named("tfjob")


# ------------------------------------------------------------------ GPU fit
SNAPSHOT = {
    "gpu_types": {
        "NVIDIA-A100-SXM4-80GB": {"free": 6, "total": 16, "free_per_node": [3, 3]},
        "NVIDIA-RTX-A6000": {"free": 8, "total": 8},
    }
}


@pytest.mark.parametrize(
    "gpu_type, gpus, pods, fits",
    [
        ("NVIDIA-A100-SXM4-80GB", 3, 2, True),
        ("NVIDIA-A100-SXM4-80GB", 4, 1, False),  # 6 free, but at most 3 on one node
        ("NVIDIA-A100-SXM4-80GB", 1, 7, False),
        ("NVIDIA-RTX-A6000", 2, 4, True),
        (None, 8, 1, True),
        ("NVIDIA-H100", 1, 1, False),
        ("NVIDIA-H100", 0, 1, True),
    ],
)
def test_check_fit(gpu_type, gpus, pods, fits):
    assert check_fit(SNAPSHOT, gpu_type, gpus, pods).fits is fits


@pytest.mark.parametrize(
    "user, gpus, pods, within",
    [
        ({"held_gpus": 2, "cap": 8}, 3, 2, True),  # 2 + 6 = 8: at the cap is allowed
        ({"held_gpus": 2, "cap": 8}, 7, 1, False),
        ({"held_gpus": 0, "cap": 0}, 1, 1, False),  # a cap of 0: no GPUs at all
        ({"held_gpus": 0, "cap": 0}, 0, 3, True),  # CPU-only jobs are never over a cap
        ({"held_gpus": 40, "cap": None}, 8, 8, True),  # no cap
        (None, 8, 8, True),  # an availability document without the per-user answer
    ],
)
def test_check_cap(user, gpus, pods, within):
    snapshot = {**SNAPSHOT, **({"user": user} if user is not None else {})}
    assert check_cap(snapshot, gpus, pods).within is within


# ------------------------------------------------------------------ credentials
def test_credentials_from_kubeconfig_and_environment(tmp_path):
    kubeconfig = tmp_path / "kc.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: me\n"
        "clusters: [{name: c, cluster: {server: 'https://k:6443', certificate-authority: /ca}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
        "contexts: [{name: me, context: {cluster: c, user: u, namespace: mlops-me}}]\n"
    )
    creds = KubeCredentials.from_environment({"MLOPS_KUBECONFIG": str(kubeconfig)})
    assert (creds.server, creds.namespace, creds.ca_file, creds.bearer_token()) == (
        "https://k:6443",
        "mlops-me",
        "/ca",
        "abc",
    )
    token = tmp_path / "token"
    token.write_text("t1\n")
    creds = KubeCredentials.from_environment(
        {
            "MLOPS_KUBE_SERVER": "https://k",
            "MLOPS_NAMESPACE": "n",
            "MLOPS_KUBE_TOKEN_FILE": str(token),
        }
    )
    assert (creds.namespace, creds.bearer_token()) == ("n", "t1")
    token.write_text("t2\n")
    import os

    os.utime(token, (1, 1))  # a rotated token: re-read because the file changed
    assert creds.bearer_token() == "t2"


def test_pod_credentials_are_the_mounted_service_account(tmp_path):
    for name, text in (("token", "sa-token"), ("namespace", "mlops-alice"), ("ca.crt", "CA")):
        (tmp_path / name).write_text(text)
    # KUBERNETES_SERVICE_HOST and _PORT, as the kubelet sets them.
    pod = JobsSettings.from_environment({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    creds = KubeCredentials.from_pod(pod.pod_api_host, pod.pod_api_port, tmp_path)
    assert (creds.server, creds.namespace, creds.bearer_token()) == (
        "https://10.96.0.1:443",
        "mlops-alice",
        "sa-token",
    )


# ------------------------------------------------------------------ provisioning builders
@pytest.mark.parametrize(
    "username, expected",
    [
        ("alice", "alice"),
        ("Alice", "alice-"),
        ("bob.smith@uni.edu", "bob-smith-uni-edu-"),
    ],
)
def test_safe_names_keep_users_apart(username, expected):
    name = safe_name(username)
    assert name.startswith(expected)
    assert len(name) <= 50 and name == name.lower()
    assert safe_name("Alice") != safe_name("alice")
    assert len(user_namespace("x" * 100)) <= 63


def test_role_binding_grants_the_user_role_in_the_users_namespace_only():
    binding = role_binding_manifest("mlops-alice", "alice")
    assert binding["metadata"]["namespace"] == "mlops-alice"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "jupyterhub-mlops:user",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "jupyter-mlops", "namespace": "mlops-alice"}]
    labels = namespace_manifest("mlops-alice", "alice")["metadata"]["labels"]
    assert labels["jupyterhub-mlops/user"] == "alice"
    # Katib's Experiment webhook refuses sweeps in a namespace without this label.
    assert labels["katib.kubeflow.org/metrics-collector-injection"] == "enabled"


def test_replicas_without_pods_take_their_phase_from_the_operators_counts():
    job = PyTorchJob(name="t", command="python t.py", replicas=3, image="img", snapshot=None)
    manifest = job.to_manifest("ns")
    kind = KINDS["pytorchjob"]

    def phases(status, pods=()):
        return {p["name"]: p["phase"] for p in kind.parts({**manifest, "status": status}, list(pods), None)}

    assert phases({}) == {"master-0": "Pending", "worker-0": "Pending", "worker-1": "Pending"}
    # Ended and its pods cleaned up (cleanPodPolicy): the counts still say how it went.
    assert phases({"replicaStatuses": {"Master": {"succeeded": 1}, "Worker": {"succeeded": 1, "failed": 1}}}) == {
        "master-0": "Succeeded",
        "worker-0": "Succeeded",
        "worker-1": "Failed",
    }
    assert phases({"replicaStatuses": {"Worker": {"active": 1}}}) == {
        "master-0": "Pending",
        "worker-0": "Running",
        "worker-1": "Pending",
    }
    # A pod that exists says its own phase.
    pod = {
        "metadata": {
            "name": "t-worker-1",
            "labels": {"training.kubeflow.org/replica-type": "worker", "training.kubeflow.org/replica-index": "1"},
        },
        "status": {"phase": "Running"},
        "spec": {"nodeName": "gpu-1"},
    }
    assert phases({"replicaStatuses": {"Worker": {"succeeded": 2}}}, [pod])["worker-1"] == "Running"


def test_a_generated_name_is_chosen_before_the_create_so_a_retry_cannot_make_a_second_object():
    from jupyter_mlops.jobs.kube import with_own_name

    named = with_own_name({"metadata": {"generateName": "pytorchjob-", "labels": {"a": "b"}}})
    meta = named["metadata"]
    assert meta["name"].startswith("pytorchjob-") and len(meta["name"]) == len("pytorchjob-") + 5
    assert meta["generateName"] == "pytorchjob-" and meta["labels"] == {"a": "b"}
    assert with_own_name({"metadata": {"generateName": "x" * 70}})["metadata"]["name"][:58] == "x" * 58
    assert len(with_own_name({"metadata": {"generateName": "x" * 70}})["metadata"]["name"]) == 63
    kept = {"metadata": {"name": "mine", "generateName": "ignored-"}}
    assert with_own_name(kept) is kept


# ------------------------------------------------------------------ workflow steps
def controller_nodes() -> dict:
    """Nodes as Argo's workflow-controller (v4.0.5) writes them for steps
    [[prepare], [train], [publish (when false)]] and a DAG with a task omitted."""

    def node(id, type, phase, name, **extra):
        return id, {
            "id": id,
            "name": f"wf.{name}",
            "displayName": name,
            "type": type,
            "phase": phase,
            "startedAt": extra.pop("started", "2026-12-01T10:00:00Z"),
            **extra,
        }

    return dict(
        [
            node("wf", "Steps", "Succeeded", "wf", started="2026-12-01T09:59:59Z"),
            node("wf-1", "StepGroup", "Succeeded", "[0]"),
            node("wf-2", "Pod", "Succeeded", "prepare", started="2026-12-01T10:00:01Z"),
            node("wf-3", "StepGroup", "Succeeded", "[1]"),
            node("wf-4", "Retry", "Succeeded", "train", started="2026-12-01T10:00:02Z"),
            node(
                "wf-5", "Pod", "Failed", "train(0)", started="2026-12-01T10:00:03Z", message="main: Error (exit code 1)"
            ),
            node("wf-6", "Pod", "Succeeded", "train(1)", started="2026-12-01T10:00:04Z"),
            node("wf-7", "StepGroup", "Succeeded", "[2]"),
            node(
                "wf-8",
                "Skipped",
                "Skipped",
                "publish",
                started="2026-12-01T10:00:05Z",
                message="when 'false' evaluated false",
            ),
            node("wf-9", "DAG", "Succeeded", "report"),
            node("wf-10", "TaskGroup", "Succeeded", "fan-out"),
            node(
                "wf-11",
                "Skipped",
                "Omitted",
                "notify",
                started="2026-12-01T10:00:06Z",
                message="omitted: depends condition not met",
            ),
        ]
    )


def test_workflow_steps_are_the_nodes_that_run_not_the_groups_around_them():
    kind = KINDS["workflow"]
    obj = {"metadata": {"name": "wf"}, "spec": {}, "status": {"phase": "Succeeded", "nodes": controller_nodes()}}
    pods = [{"metadata": {"name": "wf-prepare-2", "annotations": {"workflows.argoproj.io/node-id": "wf-2"}}}]
    steps = kind.parts(obj, pods, None)
    assert [(s["name"], s["type"], s["state"]) for s in steps] == [
        ("prepare", "Pod", "Succeeded"),
        ("train(0)", "Pod", "Failed"),
        ("train(1)", "Pod", "Succeeded"),
        ("publish", "Skipped", "Skipped"),
        ("notify", "Skipped", "Omitted"),
    ]
    assert steps[0]["pod"] == "wf-prepare-2"
    assert steps[1]["message"] == "main: Error (exit code 1)"
    assert steps[3]["message"] == "when 'false' evaluated false"


def test_a_workflow_step_behind_kueues_gate_reads_queued():
    """Argo calls a step Pending, with no message, while Kueue's admission gate holds its
    pod; once the gate is lifted, Pending is Argo's again (the pod is being scheduled)."""
    kind = KINDS["workflow"]
    nodes = {
        "wf": {"id": "wf", "displayName": "wf", "type": "Steps", "phase": "Running"},
        "wf-1": {"id": "wf-1", "displayName": "train", "type": "Pod", "phase": "Pending"},
    }
    obj = {"metadata": {"name": "wf"}, "spec": {}, "status": {"phase": "Running", "nodes": nodes}}
    pod = {"metadata": {"name": "wf-train-1", "annotations": {"workflows.argoproj.io/node-id": "wf-1"}}, "spec": {}}
    gated = {**pod, "spec": {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]}}

    (step,) = kind.parts(obj, [gated], None)
    assert (step["state"], step["message"], step["pod"]) == (
        "Queued",
        "waiting in Kueue's line for its GPUs",
        "wf-train-1",
    )
    (step,) = kind.parts(obj, [pod], None)
    assert (step["state"], step["message"]) == ("Pending", "")


def test_workflow_steps_run_as_the_executor_account():
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {
            "entrypoint": "a",
            "templates": [{"name": "a", "container": {"image": IMAGE, "command": ["python", "a.py"]}}],
        },
    }
    assert "serviceAccountName" not in ArgoWorkflow(manifest).to_manifest("ns")["spec"]

    # As GPUKubeSpawner tells the notebook (MLOPS_WORKFLOW_SERVICE_ACCOUNT).
    notebook = JobsSettings.from_environment(
        {"MLOPS_WORKFLOW_SERVICE_ACCOUNT": WORKFLOW_SERVICE_ACCOUNT}
    ).notebook_pod()
    built = ArgoWorkflow(manifest).to_manifest("ns", None, notebook)
    assert built["spec"]["serviceAccountName"] == "mlops-workflow"
    own = {**manifest, "spec": {**manifest["spec"], "serviceAccountName": "etl-runner"}}
    built = ArgoWorkflow(own).to_manifest("ns", None, notebook)
    assert built["spec"]["serviceAccountName"] == "etl-runner"
    assert manifest["spec"].get("serviceAccountName") is None, "the caller's manifest is untouched"
    trial = sweep(trial_kind="workflow").to_manifest("ns", CM, notebook)["spec"]["trialTemplate"]
    assert trial["trialSpec"]["spec"]["serviceAccountName"] == "mlops-workflow"


def test_the_workflow_account_is_bound_to_the_executor_role_only():
    binding = role_binding_manifest("mlops-alice", "alice", WORKFLOW_SERVICE_ACCOUNT, WORKFLOW_EXECUTOR_CLUSTER_ROLE)
    assert binding["roleRef"]["name"] == "jupyterhub-mlops:workflow-executor"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mlops-workflow", "namespace": "mlops-alice"}]


@pytest.mark.parametrize(
    "node_name, step", [("wf[1].train", "train"), ("wf.fan-out", "fan-out"), ("wf[0].inner[2].eval(1)", "eval(1)")]
)
def test_a_step_pod_is_known_by_the_steps_display_name(node_name, step):
    pod = {"metadata": {"name": "wf-train-123", "annotations": {"workflows.argoproj.io/node-name": node_name}}}
    assert KINDS["workflow"].part_of_pod(pod) == step


def test_a_failed_workflow_says_which_step_failed_and_why():
    nodes = controller_nodes()
    nodes["wf-6"] = {
        **nodes["wf-6"],
        "phase": "Failed",
        "finishedAt": "2026-12-01T10:00:09Z",
        "message": "main: Error (exit code 3)",
    }
    nodes["wf-5"]["finishedAt"] = "2026-12-01T10:00:04Z"
    obj = {
        "metadata": {"name": "wf"},
        "spec": {},
        "status": {"phase": "Failed", "message": "child 'wf-4' failed", "nodes": nodes},
    }
    assert KINDS["workflow"].state(obj) == (
        "Failed",
        "step train(0) failed: main: Error (exit code 1); step train(1) failed: main: Error (exit code 3)",
    )
    obj["status"]["nodes"] = {}
    assert KINDS["workflow"].state(obj) == ("Failed", "child 'wf-4' failed")


def test_gpu_work_waits_in_the_namespaces_kueue_line_with_its_class_and_cpu_work_never_does():
    queued = JobsSettings.from_environment({"MLOPS_KUEUE_QUEUE": "gpus"}).notebook_pod()
    job_class = {"kueue.x-k8s.io/queue-name": "gpus", "kueue.x-k8s.io/priority-class": "jupyterhub-mlops-job"}
    trial_class = {**job_class, "kueue.x-k8s.io/priority-class": "jupyterhub-mlops-trial"}
    # A PyTorchJob is queued whole (its own labels): Kueue admits all replicas or none.
    gpu_job = PyTorchJob(command="python train.py", replicas=2, gpus=1, image=IMAGE)
    assert job_class.items() <= gpu_job.to_manifest("ns", None, queued)["metadata"]["labels"].items()
    cpu_job = PyTorchJob(command="python train.py", replicas=2, image=IMAGE)
    assert "kueue.x-k8s.io/queue-name" not in cpu_job.to_manifest("ns", None, queued)["metadata"]["labels"]
    # Without the hub's queue (no Kueue), nothing is labelled.
    assert "kueue.x-k8s.io/queue-name" not in gpu_job.to_manifest("ns", None)["metadata"]["labels"]
    # Trials, the lowest class: the Job or PyTorchJob Katib makes, or a workflow trial's step pod.
    for kind in ("pod", "pytorchjob"):
        spec = sweep(trial_kind=kind, gpus=1).to_manifest("ns", None, queued)["spec"]["trialTemplate"]["trialSpec"]
        assert spec["metadata"]["labels"] == trial_class
    argo = sweep(trial_kind="workflow", gpus=1).to_manifest("ns", None, queued)["spec"]["trialTemplate"]
    assert trial_class.items() <= argo["trialSpec"]["spec"]["templates"][0]["metadata"]["labels"].items()
    cpu_trial = sweep(trial_kind="pod").to_manifest("ns", None, queued)["spec"]["trialTemplate"]["trialSpec"]
    assert "metadata" not in cpu_trial  # no empty map: Katib's webhook would refuse it
    # A workflow: only its GPU steps wait in line.
    workflow = ArgoWorkflow(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "spec": {
                "entrypoint": "train",
                "templates": [
                    {"name": "prep", "container": {"image": IMAGE}},
                    {"name": "train", "container": {"image": IMAGE, "resources": {"limits": {"nvidia.com/gpu": 2}}}},
                ],
            },
        }
    )
    prep, train = workflow.to_manifest("ns", None, queued)["spec"]["templates"]
    assert "metadata" not in prep
    assert train["metadata"]["labels"] == job_class


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("workflow", "manifest.metadata.labels.kueue.x-k8s.io/queue-name"),
        ("pods", "manifest.spec.podMetadata.labels.kueue.x-k8s.io/queue-name"),
        ("step", "manifest.spec.templates[0].metadata.labels.kueue.x-k8s.io/queue-name"),
    ],
)
def test_a_workflow_naming_a_kueue_queue_itself_is_refused_before_anything_is_created(where, field):
    other_group = {"kueue.x-k8s.io/queue-name": "lab-b"}
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w", **({"labels": other_group} if where == "workflow" else {})},
        "spec": {
            "entrypoint": "a",
            "templates": [{"name": "a", "container": {"image": IMAGE}}],
        },
    }
    if where == "pods":
        manifest["spec"]["podMetadata"] = {"labels": other_group}
    if where == "step":
        manifest["spec"]["templates"][0]["metadata"] = {"labels": other_group}
    with pytest.raises(InvalidSpec) as refused:
        ArgoWorkflow(manifest).validate()
    assert refused.value.details["field"] == field
    assert "queue 'gpus'" in str(refused.value)


def test_a_trials_parameters_are_in_the_sweeps_order_whatever_katibs_order():
    experiment = {"spec": {"parameters": [{"name": "lr"}, {"name": "bs"}, {"name": "wd"}]}}
    shuffled = [{"name": "wd", "value": "0"}, {"name": "bs", "value": "32"}, {"name": "lr", "value": "0.1"}]
    assert list(in_spec_order(experiment, shuffled)) == ["lr", "bs", "wd"]
    assert in_spec_order(experiment, None) == {}
