"""%%mlops sweep and %mlops best in a real kernel against the real control plane, as alice.

The session's real Katib runs the sweep: goptuna proposes the values, the cell runs as each
trial's process (``job_runner``), Katib's collector reads what ``report`` prints, and Katib
names the best trial. Nothing here writes a Trial's or an Experiment's status.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest

from tests.jobs_support import runs_locally

pytestmark = pytest.mark.cluster
SVG = "{http://www.w3.org/2000/svg}"
CELL = (
    "from models.net import build\n"
    "from jupyter_mlops import report\n"
    "accuracy = round(0.5 + lr * 4 + bs / 1000, 4)\n"
    "report(accuracy=accuracy)\n"
)


def plotted_trials(html: str) -> dict[str, str]:
    """data-trial -> class of each polyline in the (last) SVG of ``html``."""
    svg = html[html.rindex("<svg") : html.index("</svg>", html.rindex("<svg")) + 6]
    return {line.get("data-trial"): line.get("class") for line in ET.fromstring(svg).iter(f"{SVG}polyline")}


def expected_accuracy(trial: dict) -> float:
    """What CELL reports for a trial's values: ``lr`` is searched as its exponent."""
    lr, bs = 10 ** float(trial["parameters"]["lr"]), int(trial["parameters"]["bs"])
    return round(0.5 + lr * 4 + bs / 1000, 4)


def test_sweep_cell_runs_as_katib_trials_with_plot_and_best(kernel, alice, controller, tmp_path, core_v1, job_runner):
    runs_locally(core_v1, alice.namespace)
    name = f"sweep-{uuid.uuid4().hex[:6]}"
    result = kernel.run(
        f"%%mlops sweep --param lr=loguniform(1e-3,1e-1) --param bs=choice(32,64) "
        f'--objective "maximize accuracy" --trials 3 --parallel 2 --algorithm tpe '
        f"--setting random_state=7 --name {name} -o sweep\n{CELL}",
        timeout=300,
    )
    assert result.ok, result.outputs

    # Every trial reported what the cell computes from the values Katib gave it.
    status = kernel.value("sweep.status()")
    assert status["state"] == "Succeeded", status
    trials = {t["name"]: t for t in status["parts"]}
    assert len(trials) == 3 and {t["state"] for t in trials.values()} == {"Succeeded"}
    for trial in trials.values():
        assert float(trial["metrics"]["accuracy"]) == pytest.approx(expected_accuracy(trial))
    best = max(trials, key=lambda t: float(trials[t]["metrics"]["accuracy"]))
    assert status["best_trial"]["name"] == best
    accuracy = trials[best]["metrics"]["accuracy"]

    # Followed in place; the last view has every trial on the plot and the best one marked.
    displays = result.displays()
    assert len({d[1] for d in displays}) == 1 and displays[-1][0] == "update_display_data"
    final = displays[-1][2]
    assert (
        final["text/plain"]
        .splitlines()[0]
        .startswith(
            f"sweep {name}: Succeeded · trials 3 succeeded, 0 running, 0 failed · best accuracy={accuracy} ({best})"
        )
    ), final["text/plain"]
    assert plotted_trials(final["text/html"]) == {trial: "trial best" if trial == best else "trial" for trial in trials}

    # The Experiment Katib got: the search space, the objective and the cell as each trial.
    spec = controller.get("sweep", alice.namespace, name)["spec"]
    # lr is searched as its exponent, evenly (Katib's defaulter names the distribution).
    assert [(p["name"], p["parameterType"]) for p in spec["parameters"]] == [("lr", "double"), ("bs", "discrete")]
    lr_space, bs_space = (p["feasibleSpace"] for p in spec["parameters"])
    assert (lr_space["min"], lr_space["max"], lr_space.get("distribution")) == ("-3.0", "-1.0", "uniform")
    assert bs_space["list"] == ["32", "64"]
    assert (spec["objective"]["type"], spec["objective"]["objectiveMetricName"]) == ("maximize", "accuracy")
    assert spec["algorithm"] == {"algorithmName": "tpe", "algorithmSettings": [{"name": "random_state", "value": "7"}]}
    assert (spec["maxTrialCount"], spec["parallelTrialCount"]) == (3, 2)
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}

    params = {key: value for key, value in trials[best]["parameters"].items()}
    shown = kernel.run(f"%mlops best {name} -o params")
    assert shown.text.startswith(f"best trial {best}: accuracy={accuracy} with lr=")
    assert f"<code>{best}</code>" in shown.html
    assert kernel.value("params") == {"lr": float(params["lr"]), "bs": int(params["bs"])}
    status_view = kernel.run(f"%mlops status {name}")
    assert plotted_trials(status_view.html)[best] == "trial best"

    log = kernel.run(f"%mlops logs {name} --trial {best}").stdout
    assert f"accuracy={accuracy}" in log, log
    wrong = kernel.run(f"%mlops logs {name} --replica master-0")
    assert wrong.stderr.strip() == (f"UsageError: --replica is for pytorchjobs; {name} is a sweep (use --trial).")
    assert kernel.run(f"%mlops delete {name}").ok
