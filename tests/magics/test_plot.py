"""Unit tests of the plot data, the parallel-coordinates SVG and the renderers, read back as data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from jupyter_mlops.jobs.trial_plot import Axis, axes_for, best_trial, plot_data
from jupyter_mlops.magics import render
from jupyter_mlops.magics.plot import parallel_coordinates_svg

SVG = "{http://www.w3.org/2000/svg}"
PARAMETERS = [
    {
        "name": "lr",
        "parameterType": "double",
        "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"},
    },
    {"name": "bs", "parameterType": "discrete", "feasibleSpace": {"list": ["64", "32"]}},
]
TRIALS = [
    {
        "name": "t-a",
        "state": "Succeeded",
        "parameters": {"lr": "0.0001", "bs": "32"},
        "metrics": {"accuracy": "0.70"},
    },
    {
        "name": "t-b",
        "state": "Succeeded",
        "parameters": {"lr": "0.1", "bs": "64"},
        "metrics": {"accuracy": "0.90"},
    },
    {"name": "t-c", "state": "Running", "parameters": {"lr": "0.001", "bs": "64"}, "metrics": {}},
]


def polylines(svg: str) -> dict[str, list[tuple[float, float]]]:
    root = ET.fromstring(svg)
    lines = {}
    for line in root.iter(f"{SVG}polyline"):
        points = [tuple(float(v) for v in p.split(",")) for p in line.get("points").split()]
        lines[line.get("data-trial")] = points
    return lines


def test_axes_from_the_experiment_spec_and_observed_metrics():
    axes = axes_for(PARAMETERS, TRIALS, "accuracy")
    assert [(a.name, a.scale) for a in axes] == [
        ("lr", "log"),
        ("bs", "categorical"),
        ("accuracy", "linear"),
    ]
    assert axes[1].categories == ["32", "64"]  # numeric choices in numeric order
    assert (axes[2].low, axes[2].high) == (0.70, 0.90)
    assert axes[0].fraction("0.001") == 1 / 3  # a third of the way up a log axis
    assert axes[1].fraction("48") is None  # not a category


def test_one_line_per_trial_through_its_values():
    axes = axes_for(PARAMETERS, TRIALS, "accuracy")
    svg = parallel_coordinates_svg(plot_data(axes, TRIALS, "accuracy", best="t-b"))
    root = ET.fromstring(svg)
    assert [a.get("data-axis") for a in root.iter(f"{SVG}g")] == ["lr", "bs", "accuracy"]
    lines = polylines(svg)
    assert set(lines) == {"t-a", "t-b", "t-c"}
    a, b, c = lines["t-a"], lines["t-b"], lines["t-c"]
    assert len(a) == len(b) == 3 and len(c) == 2  # no metric yet: stops at the last parameter
    # Higher values sit higher (smaller y): b beats a on every axis.
    assert all(pb[1] < pa[1] for pa, pb in zip(a, b, strict=True))
    assert a[0][1] > c[0][1] > b[0][1]  # lr 1e-4 < 1e-3 < 1e-1
    assert c[1][1] == b[1][1]  # same batch size, same point
    # The best trial is drawn last, thick and highlighted; the unfinished one dashed.
    drawn = list(root.iter(f"{SVG}polyline"))
    assert drawn[-1].get("data-trial") == "t-b" and "best" in drawn[-1].get("class")
    assert drawn[-1].get("stroke-width") == "3"
    assert next(d for d in drawn if d.get("data-trial") == "t-c").get("stroke-dasharray")


def test_minimize_colours_low_metrics_as_good():
    axes = [Axis("x", "linear", 0, 1), Axis("loss", "linear", 0.1, 0.9)]
    trials = [
        {"name": "low", "parameters": {"x": "0"}, "metrics": {"loss": "0.1"}},
        {"name": "high", "parameters": {"x": "1"}, "metrics": {"loss": "0.9"}},
    ]
    colour = {
        line.get("data-trial"): line.get("stroke")
        for line in ET.fromstring(parallel_coordinates_svg(plot_data(axes, trials, "loss", objective="minimize"))).iter(
            f"{SVG}polyline"
        )
    }
    assert colour["low"] == "#2563eb" and colour["high"] == "#cbd5e1"


def test_the_best_trial_by_the_objective_when_katib_has_not_named_one():
    assert best_trial(TRIALS, "accuracy", "maximize")["name"] == "t-b"
    assert best_trial(TRIALS, "accuracy", "minimize") == {
        "name": "t-a",
        "parameters": {"lr": "0.0001", "bs": "32"},
        "metrics": {"accuracy": "0.70"},
    }
    assert best_trial(TRIALS, "loss", "minimize") is None  # no trial reported it


def test_plot_data_scores_each_complete_line_by_the_objective():
    axes = axes_for(PARAMETERS, TRIALS, "accuracy")
    lines = {line["trial"]: line for line in plot_data(axes, TRIALS, "accuracy")["lines"]}
    assert (lines["t-a"]["score"], lines["t-b"]["score"], lines["t-c"]["score"]) == (0, 1, None)
    lines = plot_data(axes, TRIALS, "accuracy", objective="minimize", best="t-a")["lines"]
    assert [(line["trial"], line["score"]) for line in lines] == [
        ("t-b", 0),
        ("t-c", None),
        ("t-a", 1),
    ]  # the best one last


def test_names_and_values_are_escaped():
    axes = [Axis("<script>", "categorical", categories=["a&b"]), Axis("m", "linear", 0, 1)]
    trials = [{"name": "<img src=x>", "parameters": {"<script>": "a&b"}, "metrics": {"m": "1"}}]
    svg = parallel_coordinates_svg(plot_data(axes, trials, "m"))
    assert "<script>" not in svg and "<img" not in svg
    root = ET.fromstring(svg)  # still well-formed
    assert next(root.iter(f"{SVG}polyline")).get("data-trial") == "<img src=x>"


def test_progress_lines_and_tables():
    sweep = {
        "kind": "sweep",
        "name": "s",
        "state": "Running",
        "message": "",
        "trials": {"succeeded": 2, "running": 1, "failed": 0},
        "best_trial": {"name": "t-b", "parameters": {"lr": "0.1"}, "metrics": {"accuracy": "0.9"}},
        "parts": TRIALS,
        "part_noun": "trial",
        "plot": plot_data(axes_for(PARAMETERS, TRIALS, "accuracy"), TRIALS, "accuracy", best="t-b"),
    }
    assert render.progress_line(sweep) == (
        "sweep s: Running · trials 2 succeeded, 1 running, 0 failed · best accuracy=0.9 (t-b)"
    )
    html = render.job_html(sweep)
    assert "<svg" in html and "best trial t-b: accuracy=0.9 with lr=0.1" in html
    text = render.job_text(sweep)
    assert ["t-c", "Running", "64", "0.001"] in [line.split() for line in text.splitlines()]
    job = {
        "kind": "pytorchjob",
        "name": "j",
        "state": "Failed",
        "message": "OOMKilled",
        "part_noun": "replica",
        "parts": [
            {"name": "master-0", "phase": "Failed", "pod": "j-master-0", "node": "n1"},
            {"name": "worker-0", "phase": "Running", "pod": "j-worker-0", "node": "n2"},
        ],
    }
    assert render.progress_line(job) == ("pytorchjob j: Failed · 2 replicas: 1 Failed, 1 Running · OOMKilled")
    html = render.job_html({**job, "message": "OOMKilled <script>"})
    assert "data-state='Failed'" in html
    assert "· 2 replicas: 1 Failed, 1 Running · OOMKilled &lt;script&gt;</p>" in html


def test_gpu_table_from_the_availability_snapshot():
    snapshot = {
        "gpu_types": {
            "NVIDIA-A100-SXM4-80GB": {
                "free": 3,
                "total": 16,
                "held": 13,
                "free_per_node": [1, 2, 0],
            },
            "NVIDIA-H100-80GB-HBM3": {
                "product": "NVIDIA-H100-80GB-HBM3",
                "free": 8,
                "total": 8,
                "held": 0,
                "largest_free_on_node": 8,
                "nodes": 1,
                "unavailable": 4,
            },
            # A MIG slice of the same product is a type of its own, named by its key.
            "NVIDIA-A100-SXM4-80GB/mig-1g.10gb": {
                "product": "NVIDIA-A100-SXM4-80GB",
                "free": 5,
                "total": 7,
                "held": 2,
                "largest_free_on_node": 5,
                "nodes": 1,
            },
        },
        "user": {"owner": "alice", "held_gpus": 2, "cap": 8},
    }
    assert render.gpu_rows(snapshot) == [
        ["NVIDIA-H100-80GB-HBM3", 8, 8, 0, 8, 1, 4],
        ["NVIDIA-A100-SXM4-80GB/mig-1g.10gb", 5, 7, 2, 5, 1, None],
        ["NVIDIA-A100-SXM4-80GB", 3, 16, 13, 2, 3, None],
    ]
    assert render.gpus_text(snapshot).endswith("\nYou hold 2 GPUs of your cap of 8.")
    assert "<p class='mlops-cap'>You hold 2 GPUs of your cap of 8.</p>" in render.gpus_html(snapshot)
    uncapped = {**snapshot, "user": {"owner": "alice", "held_gpus": 2, "cap": None}}
    assert "cap" not in render.gpus_text(uncapped)
    assert render.gpus_text({"gpu_types": {}}) == "The cluster reports no GPUs."
    # Out of sync, the hub sends no numbers rather than wrong ones: say so, not "no GPUs".
    assert render.gpus_text({"in_sync": False, "gpu_types": None}).startswith("GPU availability is unknown right now")
