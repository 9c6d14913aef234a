"""User mistakes in a real kernel: each prints one clear line (no traceback) and changes nothing.

Also %mlops ssh, and what happens without credentials or an API server. The GPU checks
ask the hub's real availability service (tests/hub_availability.py) with alice's token;
%mlops gpus and the GPU cap have their own module (test_gpus_kernel.py).
"""

from __future__ import annotations

import os

import pytest

from tests.hub_availability import USER_GPU_CAP
from tests.magics.magics_checks import assert_one_line, cell, job_names, serves_experiments
from tests.mlops_testing import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
A100 = "NVIDIA-A100-SXM4-80GB"
RTX = "NVIDIA-RTX-A6000"
SWEEP = '%%mlops sweep --objective "maximize accuracy" '

MISTAKES = [
    ("%mlops nope", "%mlops: unknown subcommand 'nope'; use one of pytorchjob, sweep, best, "),
    (
        cell("%%mlops pytorchjob --gpus 2 --nodes 3"),
        "%%mlops pytorchjob: unrecognized arguments: --nodes 3",
    ),
    (
        cell("%%mlops pytorchjob --gpus two"),
        "%%mlops pytorchjob: argument --gpus: invalid int value: 'two'",
    ),
    ("%mlops pytorchjob --gpus 2", "%%mlops pytorchjob runs a cell: put %%mlops pytorchjob"),
    ("%%mlops jobs\nprint(1)", "%mlops jobs is a line magic"),
    ("%%mlops pytorchjob --gpus 1\n\n", "%%mlops pytorchjob: the cell is empty"),
    (
        cell(SWEEP + "--param lr=lognormal(1,2)"),
        "--param lr: unknown distribution 'lognormal'; use one of uniform, loguniform, int, choice",
    ),
    (cell(SWEEP + "--param lr=loguniform(0,1)"), "--param lr: loguniform() needs low > 0 (got 0)"),
    (cell(SWEEP + "--param bs=choice(32,,64)"), "empty value in (32,,64)"),
    (cell(SWEEP + "--param lr"), "--param 'lr': write NAME=DISTRIBUTION(ARGS)"),
    (
        cell('%%mlops sweep --param lr=uniform(0,1) --objective "maximise accuracy"'),
        '--objective \'maximise accuracy\': write "maximize METRIC" or "minimize METRIC"',
    ),
    (
        cell("%%mlops sweep --param lr=uniform(0,1)"),
        "%%mlops sweep: the following arguments are required: --objective",
    ),
    (
        cell(SWEEP + "--param lr=uniform(0,1) --algorithm grid"),
        "algorithm: grid search is not served on this cluster; use sobol",
    ),
    (
        cell(SWEEP + "--param lr=uniform(0,1) --algorithm annealing"),
        "algorithm: must be one of random, tpe, cmaes, sobol (got 'annealing')",
    ),
    (
        cell(SWEEP + "--param lr=uniform(0,1) --trials 2 --parallel 4"),
        "Invalid job spec: parallel_trials: must not exceed max_trials (2)",
    ),
    ("%mlops status ghost-job", "No job named 'ghost-job' in namespace"),
    ("%mlops logs ghost-job -f", "No job named 'ghost-job' in namespace"),
    ("%mlops cancel ghost-job", "No job named 'ghost-job' in namespace"),
    ("%mlops delete ghost-job --kind workflow", "No workflow named 'ghost-job' in namespace"),
    ("%mlops resubmit ghost-job --bg", "No job named 'ghost-job' in namespace"),
    ("%mlops status ghost-job --kind tfjob", "argument --kind: invalid choice: 'tfjob'"),
    # Checked before anything is submitted: a bad -o never leaves a job behind.
    (cell("%%mlops pytorchjob --bg -o 1job"), "-o '1job': not a Python variable name"),
    (cell("%%mlops pytorchjob --bg -o class"), "-o 'class': not a Python variable name"),
    (
        "%mlops logs ghost-job --replica worker-0 --trial t",
        "give one of --replica, --trial, --step",
    ),
    ('%mlops status "ghost', "%mlops status: No closing quotation"),
    (cell("%%mlops pytorchjob --gpus 100"), "Invalid job spec: gpus: must be between 0 and 64"),
    (
        # 16 GPUs: within alice's cap, but the RTX nodes have 4 GPUs each.
        cell(f"%%mlops pytorchjob --gpus 8 --workers 2 --gpu-type {RTX}"),
        "Not enough free GPUs now: 2 pod(s) of 8 GPU(s) (NVIDIA-RTX-A6000) do not fit now ",
    ),
    (
        cell(f"%%mlops pytorchjob --gpus 8 --workers 3 --gpu-type {A100}"),
        f"this job needs 24 more, and your limit is {USER_GPU_CAP}. Ask for fewer GPUs",
    ),
    (
        # Queueing does not lift the cap.
        cell(f"%%mlops pytorchjob --gpus 8 --workers 3 --gpu-type {A100} --queue"),
        f"this job needs 24 more, and your limit is {USER_GPU_CAP}.",
    ),
    (
        cell(SWEEP + "--param lr=uniform(0,1) --gpus 4 --parallel 5 --trials 10"),
        f"this job needs 20 more, and your limit is {USER_GPU_CAP}.",
    ),
    (
        cell("%%mlops pytorchjob --gpus 1 --gpu-type H100"),
        "Not enough free GPUs now: the cluster has no H100 GPUs (types: ",
    ),
    (cell("%%mlops pytorchjob --env NOEQUALS"), "--env 'NOEQUALS': write NAME=VALUE"),
    (cell("%%mlops pytorchjob --name Bad_Name"), "Invalid job spec: name: 'Bad_Name' must be"),
    ("%mlops workflow submit missing.py", "%mlops workflow submit: no file 'missing.py'"),
    ("%mlops workflow", "%mlops workflow: write %mlops workflow submit PATH.py"),
    ("%mlops best ghost-sweep", "No sweep named 'ghost-sweep'"),
]


@pytest.mark.parametrize("code, says", MISTAKES, ids=[m[1][:40] for m in MISTAKES])
def test_mistakes_print_one_line_and_change_nothing(kernel, alice, controller, code, says):
    before = job_names(controller, alice.namespace)
    assert_one_line(kernel.run(code), says)
    assert job_names(controller, alice.namespace) == before


def test_queue_submits_what_does_not_fit_now(kernel, alice, controller):
    result = kernel.run(cell(f"%%mlops pytorchjob --gpus 8 --workers 2 --gpu-type {RTX} --queue --bg -o queued"))
    assert result.ok, result.outputs
    assert "Queued: 2 pod(s) of 8 GPU(s)" in result.text
    assert "class='mlops-warning'" in result.html
    assert kernel.run("%mlops delete {queued.name}").ok


def test_missing_crd_is_named(kernel, alice, controller, control_plane):
    """Without Katib's CRD the sweep is refused by name and nothing is left behind."""
    from mlops_cluster import katib

    (crd,) = [doc for doc in katib.crds() if doc["spec"]["names"]["plural"] == "experiments"]
    control_plane.kubectl("delete", "crd", crd["metadata"]["name"], "--wait=true")
    try:
        wait_for(lambda: not serves_experiments(controller), timeout=60, what="the Experiment API to go")
        before = job_names(controller, alice.namespace)
        assert_one_line(
            kernel.run(cell(SWEEP + "--param lr=uniform(0,1)")),
            "Katib is not installed in this cluster (the API server does not serve "
            "experiments.kubeflow.org). Ask your cluster operator to install it.",
        )
        assert_one_line(kernel.run("%mlops jobs --kind sweep"), "Katib is not installed")
        assert kernel.run("%mlops jobs").ok, "the other kinds are still listed"
        assert job_names(controller, alice.namespace) == before
    finally:
        control_plane.apply_objects([crd])
        wait_for(lambda: serves_experiments(controller), timeout=60, what="the Experiment API to return")


def test_ssh_help(kernel):
    result = kernel.run("%mlops ssh")
    assert result.ok
    # The sidebar's SSH panel prints the same (mlops_contract.ssh): port 22 by default.
    assert "ssh alice@hub.example.org" in result.text
    assert "Host jupyterhub\n    HostName hub.example.org\n    User alice\n" in result.html
    named = kernel.run(
        "import os; os.environ['JUPYTERHUB_SERVER_NAME'] = 'gpu'\n%mlops ssh\ndel os.environ['JUPYTERHUB_SERVER_NAME']"
    )
    assert "ssh alice.gpu@hub.example.org" in named.text
    assert "Host jupyterhub-gpu\n" in named.html
    # The operator's traitlets config, then the environment, choose the port.
    configured = kernel.run("%config MlopsMagics.ssh_port = 2022\n%mlops ssh")
    assert "ssh -p 2022 alice@hub.example.org" in configured.text
    from_env = kernel.run(
        "%config MlopsMagics.ssh_port = 0\nos.environ['MLOPS_SSH_PORT'] = '2200'\n%mlops ssh\n"
        "del os.environ['MLOPS_SSH_PORT']"
    )
    assert "ssh -p 2200 alice@hub.example.org" in from_env.text
    nohost = kernel.run("saved = os.environ.pop('MLOPS_SSH_HOST')\n%mlops ssh")
    kernel.run("os.environ['MLOPS_SSH_HOST'] = saved")
    assert_one_line(nohost, "the hub's host name is unknown; set MLOPS_SSH_HOST")


def test_no_credentials_or_no_api_server(kernel):
    """Outside a pod without credentials, or with the API server away: one line each."""

    def with_environment(change: str):
        kernel.run("import os; from jupyter_mlops.jobs import set_default_client\nsaved = dict(os.environ)")
        result = kernel.run(f"{change}\nset_default_client(None)\n%mlops jobs")
        restored = kernel.run("os.environ.clear(); os.environ.update(saved)\nset_default_client(None)")
        assert restored.ok
        return result

    missing = with_environment("del os.environ['MLOPS_KUBE_SERVER']")
    assert_one_line(missing, "No Kubernetes credentials found")
    assert "MLOPS_KUBE_SERVER" in missing.stderr  # says what to set
    away = with_environment("os.environ['MLOPS_KUBE_SERVER'] = 'https://127.0.0.1:9'")
    assert_one_line(away, "The Kubernetes API server at https://127.0.0.1:9 did not answer")
    assert kernel.run("%mlops jobs").ok, "the environment is back"


def test_code_too_large_to_ship_says_how_to_trim_it(kernel, alice, controller, workdir):
    big = workdir / "scratch"
    big.mkdir()
    (big / "noise.bin").write_bytes(os.urandom(1536 * 1024))  # incompressible, over 1 MiB
    try:
        before = job_names(controller, alice.namespace)
        too_large = kernel.run(cell("%%mlops pytorchjob --bg"))
        assert_one_line(too_large, "Here: add --exclude PATTERN (e.g. --exclude data/)")
        assert "MiB" in too_large.stderr
        assert job_names(controller, alice.namespace) == before
        trimmed = kernel.run(cell("%%mlops pytorchjob --exclude scratch/ --bg -o small"))
        assert trimmed.ok, trimmed.outputs
        assert kernel.run("%mlops delete {small.name}").ok
    finally:
        (big / "noise.bin").unlink()
        big.rmdir()
