"""Sweeps and workflows end to end through the Python API, as alice's notebook pod would run it.

Submit -> status transitions -> logs -> cancel -> resubmit -> delete -> gone, with
the snapshot ConfigMap removed by the garbage collector through ownerReferences.
PyTorchJobs run under the real Training Operator (tests/training_operator/),
Workflows under Argo's real workflow-controller and sweeps under the real Katib
(their pods run as local processes, ``job_runner``): nothing here writes a job's
status.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from jupyter_mlops.jobs import Parameter, Snapshot, Sweep, submit_workflow
from mlops_contract.jobs import FINISHED

from tests.jobs_support import IMAGE, runs_locally
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster
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


TRAIN = """\
import argparse
from models.net import build
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--batch", type=int)
args = parser.parse_args()
print(f"epoch 1 lr={args.lr}")
print(f"accuracy={1 - abs(args.lr - 0.05):.4f}")
"""
"""Trains "best" at lr=0.05; prints its accuracy as Katib's StdOut collector reads it."""


@pytest.fixture
def sweeps_run(core_v1, alice, job_runner):
    """Katib runs alice's sweeps: their suggestion and trial pods run (``job_runner``)."""
    runs_locally(core_v1, alice.namespace)


def finished(handle, timeout: float = 240) -> dict:
    return wait_for(
        lambda: (status := handle.status())["state"] in FINISHED and status,
        timeout=timeout,
        interval=1,
        what=f"sweep {handle.name} to finish",
    )


def test_sweep_of_single_pod_trials_end_to_end(alice, controller, code_dir, sweeps_run):
    (code_dir / "train.py").write_text(TRAIN)
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

    # Katib's part: goptuna proposes, the trials' processes print, the collector stores,
    # the controller counts and names the best.
    status = finished(handle)
    assert status["state"] == "Succeeded", status
    assert status["trials"]["succeeded"] == 4 and status["trials"]["failed"] == 0, status
    accuracy = {}
    for trial in status["parts"]:
        lr = float(trial["parameters"]["lr"])
        assert trial["parameters"]["batch"] in ("32", "64")
        assert trial["state"] == "Succeeded"
        assert float(trial["metrics"]["accuracy"]) == pytest.approx(1 - abs(lr - 0.05), abs=1e-4)
        accuracy[trial["name"]] = float(trial["metrics"]["accuracy"])
    assert len(accuracy) == 4
    assert status["best_trial"]["name"] == max(accuracy, key=accuracy.get)
    # The trial's log is what it printed (through Katib's collector, which keeps it).
    lines = list(handle.logs(status["best_trial"]["name"]))
    assert any(line.endswith(f"accuracy={accuracy[status['best_trial']['name']]:.4f}") for line in lines), lines
    handle.delete()
    controller.wait_gone(alice.namespace, configmap)


def test_a_cancelled_sweep_starts_at_most_one_more_trial_and_keeps_its_results(alice, controller, code_dir, sweeps_run):
    (code_dir / "train.py").write_text("import time\ntime.sleep(8)\nprint('accuracy=0.5')\n")
    handle = Sweep(
        name=unique("cancel"),
        command="python train.py --lr {lr}",
        parameters=[Parameter("lr", "double", 0.001, 0.1)],
        objective_metric="accuracy",
        max_trials=10,
        parallel_trials=2,
        trial_kind="pod",
        image=IMAGE,
        snapshot=Snapshot(code_dir),
    ).submit(alice.client())
    wait_for(lambda: handle.status()["trials"]["running"] == 2, timeout=120, interval=1, what="two trials to run")
    cancelled = handle.cancel()
    assert cancelled["state"] == "Cancelled"
    started = handle.get()["status"]["trials"]
    assert handle.get()["spec"]["maxTrialCount"] == started + 1
    # Until Katib ends the Experiment: between the running trials' end and the one more
    # trial it may start, no trial runs, and the sweep must not read as ended then.
    status = wait_for(
        lambda: "have ended" in (s := handle.status())["message"] and s,
        timeout=120,
        interval=1,
        what="Katib to end the cancelled sweep",
    )
    assert status["state"] == "Cancelled"
    assert status["trials"]["running"] == 0 and status["trials"]["total"] == status["trials"]["succeeded"], status
    assert started <= status["trials"]["total"] <= started + 1
    assert all(part["metrics"].get("accuracy") == "0.5" for part in status["parts"])


DISTRIBUTED = """\
import os, sys
lr = float(sys.argv[sys.argv.index("--lr") + 1])
if os.environ["RANK"] == "0":
    print(f"world {os.environ['WORLD_SIZE']} at {os.environ['MASTER_ADDR']}")
    print(f"accuracy={1 - lr:.4f}")
else:
    print(f"worker {os.environ['RANK']} done")
"""


def test_a_sweep_of_pytorchjob_trials_is_scored_by_each_masters_metric(alice, controller, code_dir, sweeps_run):
    """Katib creates each trial as a PyTorchJob, the Training Operator its master and
    worker pods (which really run); only the master's collector reports."""
    (code_dir / "train.py").write_text(DISTRIBUTED)
    handle = Sweep(
        name=unique("ddp"),
        command="python train.py --lr {lr}",
        parameters=[Parameter("lr", "double", 0.001, 0.1)],
        objective_metric="accuracy",
        max_trials=2,
        parallel_trials=2,
        trial_kind="pytorchjob",
        replicas=2,
        image=IMAGE,
        snapshot=Snapshot(code_dir),
    ).submit(alice.client())
    status = finished(handle)
    assert status["state"] == "Succeeded", status
    assert status["trials"]["succeeded"] == 2
    for trial in status["parts"]:
        assert float(trial["metrics"]["accuracy"]) == pytest.approx(1 - float(trial["parameters"]["lr"]), abs=1e-4)
        assert len(trial["pods"]) == 2, trial  # the master and the worker
        job = controller.get("pytorchjob", alice.namespace, trial["name"])
        assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    log = "\n".join(handle.logs(status["best_trial"]["name"]))
    assert "world 2 at" in log and "accuracy=" in log, log


COUNTED = """\
import os, sys
# Trials take turns (parallel 1): the first fails, the second ends without a metric.
turn = len(os.listdir({turns!r}))
open(os.path.join({turns!r}, str(turn)), "w").close()
if turn == 0:
    sys.exit("diverged")
if turn > 1:
    print("accuracy=0.8")
"""


def test_a_failed_trial_and_one_without_a_metric_are_counted_as_katib_counts_them(
    alice, code_dir, sweeps_run, tmp_path
):
    turns = tmp_path / "turns"
    turns.mkdir()
    (code_dir / "train.py").write_text(COUNTED.format(turns=str(turns)))
    handle = Sweep(
        name=unique("counted"),
        command="python train.py --lr {lr}",
        parameters=[Parameter("lr", "double", 0.001, 0.1)],
        objective_metric="accuracy",
        max_trials=4,
        parallel_trials=1,
        max_failed_trials=3,
        trial_kind="pod",
        image=IMAGE,
        snapshot=Snapshot(code_dir),
    ).submit(alice.client())
    status = finished(handle, timeout=300)
    assert status["state"] == "Succeeded", status
    assert status["trials"] == {
        "total": 4,
        "pending": 0,
        "running": 0,
        "succeeded": 2,
        "failed": 1,
        "killed": 0,
        "early_stopped": 0,
        "metrics_unavailable": 1,
    }
    states = sorted(part["state"] for part in status["parts"])
    assert states == ["Failed", "Failed", "Succeeded", "Succeeded"]
    assert status["best_trial"]["metrics"] == {"accuracy": "0.8"}


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
        name,
        "Pod",
        "Succeeded",
        pod["metadata"]["name"],
    )  # the root node, named by Argo
    assert step["started"] and step["finished"]
    assert list(handle.logs(name)) == ["accuracy=0.9"]

    handle.delete()
    controller.wait_gone(alice.namespace, configmap)
