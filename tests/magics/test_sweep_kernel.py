"""%%mlops sweep and %mlops best in a real kernel against the real control plane, as alice.

No Katib runs: ``controller`` (tests/jobs_support.py) creates the Trials, their pods and logs,
and writes Trial and Experiment status (metrics, the current optimal trial) through the status
subresource, as Katib's controller would.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pytest
from mlops_testing import wait_for

pytest_plugins = ("magics_fixtures",)  # the notebook kernel fixtures

pytestmark = pytest.mark.cluster
SVG = "{http://www.w3.org/2000/svg}"
CELL = (
    "from models.net import build\n"
    "from jupyter_mlops import report\n"
    "accuracy = round(0.5 + lr * 4 + bs / 1000, 4)\n"
    "report(accuracy=accuracy)\n"
)
TRIALS = (("0.01", "32", "0.572"), ("0.05", "64", "0.764"), ("0.002", "64", None))


def experiment_or_none(controller, namespace, name):
    import kubernetes

    try:
        return controller.get("sweep", namespace, name)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def play_katib(controller, namespace: str, experiment: dict) -> None:
    """Katib's part: trials from the template, their pods and logs, metrics, the optimum."""
    name = experiment["metadata"]["name"]
    template = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    for index, (lr, bs, accuracy) in enumerate(TRIALS):
        trial_name = f"{name}-t{index}"
        trial = controller.create_trial(namespace, name, trial_name, {"lr": lr, "bs": bs})
        controller.run_pod(
            namespace,
            f"{trial_name}-pod",
            template,
            owner=trial,
            labels={"katib.kubeflow.org/experiment": name, "katib.kubeflow.org/trial": trial_name},
            log_lines=[f"accuracy={accuracy}"] if accuracy else ["epoch 1"],
        )
        status = {
            "conditions": [
                {"type": "Created", "status": "True"},
                {"type": "Running", "status": "True"},
            ]
        }
        if accuracy:
            status["conditions"] = [
                {"type": "Created", "status": "True"},
                {"type": "Running", "status": "False"},
                {"type": "Succeeded", "status": "True"},
            ]
            status["observation"] = {"metrics": [{"name": "accuracy", "latest": accuracy}]}
        controller.write_status("trial", namespace, trial_name, status)
        controller.write_status(
            "sweep",
            namespace,
            name,
            {
                "conditions": [
                    {"type": "Created", "status": "True"},
                    {"type": "Running", "status": "True"},
                ],
                "trials": index + 1,
                "trialsRunning": 1,
                "trialsSucceeded": index,
            },
        )
        time.sleep(0.2)
    controller.write_status(
        "sweep",
        namespace,
        name,
        {
            "conditions": [
                {"type": "Created", "status": "True"},
                {"type": "Running", "status": "False"},
                {"type": "Succeeded", "status": "True", "message": "max trials reached"},
            ],
            "trials": 3,
            "trialsRunning": 0,
            "trialsSucceeded": 2,
            "trialsFailed": 0,
            "currentOptimalTrial": {
                "bestTrialName": f"{name}-t1",
                "parameterAssignments": [
                    {"name": "lr", "value": "0.05"},
                    {"name": "bs", "value": "64"},
                ],
                "observation": {"metrics": [{"name": "accuracy", "latest": "0.764"}]},
            },
        },
    )


def plotted_trials(html: str) -> dict[str, str]:
    """data-trial -> class of each polyline in the (last) SVG of ``html``."""
    svg = html[html.rindex("<svg") : html.index("</svg>", html.rindex("<svg")) + 6]
    return {
        line.get("data-trial"): line.get("class")
        for line in ET.fromstring(svg).iter(f"{SVG}polyline")
    }


def test_sweep_cell_runs_as_katib_trials_with_plot_and_best(kernel, alice, controller, tmp_path):
    name = f"sweep-{uuid.uuid4().hex[:6]}"
    msg_id = kernel.start(
        f"%%mlops sweep --param lr=loguniform(1e-3,1e-1) --param bs=choice(32,64) "
        f'--objective "maximize accuracy" --trials 3 --parallel 1 --algorithm tpe '
        f"--name {name} -o sweep\n{CELL}"
    )

    def katib():
        experiment = wait_for(
            lambda: experiment_or_none(controller, alice.namespace, name),
            timeout=60,
            what="the Experiment",
        )
        play_katib(controller, alice.namespace, experiment)

    thread = threading.Thread(target=katib)
    thread.start()
    result = kernel.collect(msg_id, timeout=180)
    thread.join()
    assert result.ok, result.outputs

    # Followed in place; the last view has every trial on the plot and the best one marked.
    displays = result.displays()
    assert len({d[1] for d in displays}) == 1 and displays[-1][0] == "update_display_data"
    final = displays[-1][2]
    assert final["text/plain"].splitlines()[0] == (
        f"sweep {name}: Succeeded · trials 2 succeeded, 0 running, 0 failed · "
        f"best accuracy=0.764 ({name}-t1) · max trials reached"
    )
    assert plotted_trials(final["text/html"]) == {
        f"{name}-t0": "trial",
        f"{name}-t1": "trial best",
        f"{name}-t2": "trial",
    }
    assert f"best trial {name}-t1: accuracy=0.764 with lr=0.05, bs=64" in final["text/html"]

    # The Experiment Katib got: the search space, the objective and the cell as each trial.
    spec = controller.get("sweep", alice.namespace, name)["spec"]
    assert spec["parameters"] == [
        {
            "name": "lr",
            "parameterType": "double",
            "feasibleSpace": {"min": "0.001", "max": "0.1", "distribution": "logUniform"},
        },
        {"name": "bs", "parameterType": "discrete", "feasibleSpace": {"list": ["32", "64"]}},
    ]
    assert spec["objective"] == {"type": "maximize", "objectiveMetricName": "accuracy"}
    assert spec["algorithm"] == {"algorithmName": "tpe"}
    assert (spec["maxTrialCount"], spec["parallelTrialCount"]) == (3, 1)
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    script, *args = container["command"][container["command"].index("python") + 1 :]
    assert args == ["lr=${trialParameters.lr}", "bs=${trialParameters.bs}"]

    # Run the trial script from the shipped snapshot the way a trial pod would, with the values
    # Katib substitutes: the cell sees lr and bs as numbers and prints what the collector reads.
    experiment = controller.get("sweep", alice.namespace, name)
    configmap = controller.core.read_namespaced_config_map(
        experiment["metadata"]["annotations"]["jupyterhub-mlops/snapshot"], alice.namespace
    )
    data = base64.b64decode(configmap.binary_data["snapshot.tar.gz"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    ran = subprocess.run(
        [sys.executable, script, "lr=0.05", "bs=64"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}"},
    )
    assert ran.stdout == "accuracy=0.764\n"

    status = kernel.run(f"%mlops status {name}")
    assert plotted_trials(status.html)[f"{name}-t1"] == "trial best"
    trial_row = next(
        line.split() for line in status.text.splitlines() if line.startswith(f"{name}-t2")
    )
    assert trial_row == [f"{name}-t2", "Running", "64", "0.002"]

    best = kernel.run(f"%mlops best {name} -o params")
    assert best.text == f"best trial {name}-t1: accuracy=0.764 with lr=0.05, bs=64"
    assert f"<code>{name}-t1</code>" in best.html
    assert kernel.value("params") == {"lr": 0.05, "bs": 64}
    assert kernel.value("sweep.status()['best_trial']['name']") == f"{name}-t1"

    assert kernel.run(f"%mlops logs {name} --trial {name}-t1").stdout == "accuracy=0.764\n"
    wrong = kernel.run(f"%mlops logs {name} --replica master-0")
    assert wrong.stderr.strip() == (
        f"UsageError: --replica is for pytorchjobs; {name} is a sweep (use --trial)."
    )
    assert kernel.run(f"%mlops delete {name}").ok
