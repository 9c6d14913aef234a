"""Unit tests of the pure parsers behind %mlops: distributions, objectives, env, cell scripts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jupyter_mlops.jobs import Sweep
from jupyter_mlops.magics.cellscript import (
    CellSnapshot,
    cell_command,
    sweep_command,
    sweep_script,
    torchrun_command,
    write_cell_script,
)
from jupyter_mlops.magics.parsing import (
    MagicInputError,
    match_gpu_type,
    parse_env,
    parse_objective,
    parse_parameter,
    parse_variable,
)
from jupyter_mlops.magics.report import format_metrics


def katib(text: str) -> dict:
    parameter = parse_parameter(text)
    parameter.validate("p")
    return parameter.to_katib()


def test_distributions_become_katib_parameters():
    assert katib("lr=loguniform(1e-4,1e-1)") == {
        "name": "lr",
        "parameterType": "double",
        "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"},
    }
    assert katib("dropout=uniform(0.1, 0.5, 0.1)") == {
        "name": "dropout",
        "parameterType": "double",
        "feasibleSpace": {"min": "0.1", "max": "0.5", "step": "0.1", "distribution": "uniform"},
    }
    assert katib("layers=int(1,8)") == {
        "name": "layers",
        "parameterType": "int",
        "feasibleSpace": {"min": "1", "max": "8"},
    }
    assert katib("bs=choice(32,64)") == {
        "name": "bs",
        "parameterType": "discrete",
        "feasibleSpace": {"list": ["32", "64"]},
    }
    assert katib("opt=choice(adam, 'sgd', rmsprop)") == {
        "name": "opt",
        "parameterType": "categorical",
        "feasibleSpace": {"list": ["adam", "sgd", "rmsprop"]},
    }


@pytest.mark.parametrize(
    "text, says",
    [
        ("lr", "write NAME=DISTRIBUTION(ARGS)"),
        ("lr=loguniform(1e-4)", "lr=loguniform(low, high) with numbers"),
        ("lr=loguniform(0,1)", "needs low > 0"),
        ("lr=uniform(0.5,0.1)", "must be below high"),
        ("lr=gauss(0,1)", "unknown distribution 'gauss'"),
        ("n=int(1.5,3)", "whole numbers"),
        ("bs=choice()", "at least one value"),
        ("bs=choice(32,32)", "a value twice"),
        ("bs=choice(32,,64)", "empty value"),
        ("x=uniform(a,b)", "with numbers"),
        ("x=uniform(0,1,-1)", "step must be positive"),
        ("lambda=uniform(0,1)", "a Python keyword cannot be a variable"),
    ],
)
def test_bad_distributions_say_what_to_write(text, says):
    with pytest.raises(MagicInputError) as caught:
        parse_parameter(text)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_objective():
    assert parse_objective("maximize accuracy") == ("maximize", "accuracy")
    assert parse_objective("min val-loss") == ("minimize", "val-loss")
    with pytest.raises(MagicInputError, match="not a metric name Katib can read"):
        parse_objective("maximize val.acc")  # Katib's StdOut filter would never match it
    assert parse_objective("accuracy") == ("maximize", "accuracy")
    for bad in ("", "maximise accuracy", "maximize", "maximize two words", "maximize 9lives"):
        with pytest.raises(MagicInputError):
            parse_objective(bad)


def test_env():
    assert parse_env(["A=1", "B=x=y", "A=2", "EMPTY="]) == {"A": "2", "B": "x=y", "EMPTY": ""}
    assert parse_env(None) == {}
    for bad in (["NOVALUE"], ["1X=2"], ["A-B=1"]):
        with pytest.raises(MagicInputError):
            parse_env(bad)


def test_one_process_per_pod_runs_python_several_run_torchrun():
    """The operator's MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK serve env:// for one process
    per pod; only several processes per pod need torchrun to start and number them."""
    for workers, gpus in ((1, 0), (1, 1), (3, 1)):
        assert cell_command("c.py", workers=workers, gpus_per_worker=gpus, script_args=["lr=1"]) == [
            "python",
            "c.py",
            "lr=1",
        ]
    assert cell_command("c.py", workers=2, gpus_per_worker=4) == torchrun_command("c.py", workers=2, gpus_per_worker=4)


def test_torchrun_command_spans_every_worker():
    command = torchrun_command(".mlops/cells/cell-1.py", workers=2, gpus_per_worker=4)
    assert command[:2] == ["/bin/sh", "-c"]
    shell = command[2]
    assert shell.startswith("exec torchrun --nnodes=2 --nproc-per-node=4 ")
    assert '--node-rank="${PET_NODE_RANK:-${RANK:-0}}"' in shell
    assert '--master-addr="${MASTER_ADDR:-localhost}"' in shell
    assert shell.endswith(" .mlops/cells/cell-1.py")
    # CPU-only jobs still start one process per worker.
    assert "--nproc-per-node=1 " in torchrun_command("s.py", workers=1, gpus_per_worker=0)[2]


def test_torchrun_command_expands_the_operator_variables(tmp_path):
    """Run the real shell with a fake torchrun that prints its arguments."""
    fake = tmp_path / "torchrun"
    fake.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
    fake.chmod(0o755)
    command = torchrun_command("my script.py", workers=3, gpus_per_worker=2, script_args=["lr=0.1"])
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": f"{tmp_path}:/usr/bin:/bin",
            "PET_NODE_RANK": "2",
            "MASTER_ADDR": "job-master-0",
            "MASTER_PORT": "23456",
        },
    ).stdout
    assert out.splitlines() == [
        "--nnodes=3",
        "--nproc-per-node=2",
        "--node-rank=2",
        "--master-addr=job-master-0",
        "--master-port=23456",
        "my script.py",
        "lr=0.1",
    ]


def test_sweep_script_turns_trial_arguments_into_typed_variables(tmp_path):
    parameters = [
        parse_parameter("lr=loguniform(1e-4,1e-1)"),
        parse_parameter("bs=choice(32,64)"),
        parse_parameter("opt=choice(adam,sgd)"),
        parse_parameter("n=int(1,4)"),
    ]
    cell = "print(repr(lr), repr(bs), repr(opt), repr(n))\nprint(f'accuracy={lr * bs}')\n"
    script = tmp_path / "trial.py"
    script.write_text(sweep_script(cell, parameters))
    command = sweep_command(str(script), parameters, workers=1, gpus_per_worker=1)
    assert command == ["python", str(script), "lr={lr}", "bs={bs}", "opt={opt}", "n={n}"]
    # What Katib would run once it has substituted a trial's values:
    argv = [sys.executable, str(script), "lr=0.01", "bs=64", "opt=sgd", "n=3"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["0.01 64 'sgd' 3", "accuracy=0.64"]


def test_sweep_command_is_accepted_by_the_jobs_api():
    parameters = [parse_parameter("lr=uniform(0.1,0.5)")]

    def trial_command(gpus_per_worker: int) -> tuple[list[str], dict]:
        sweep = Sweep(
            command=sweep_command("c.py", parameters, workers=2, gpus_per_worker=gpus_per_worker),
            parameters=parameters,
            objective_metric="accuracy",
            trial_kind="pytorchjob",
            replicas=2,
            image="img",
            snapshot=None,
        )
        sweep.validate()
        spec = sweep.to_manifest("ns")["spec"]
        return spec["trialTemplate"]["trialSpec"]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"][
            "containers"
        ][0]["command"], spec

    command, spec = trial_command(2)  # torchrun's shell line
    assert "'lr=${trialParameters.lr}'" in command[-1]
    assert spec["parameters"][0]["feasibleSpace"]["distribution"] == "uniform"
    command, _ = trial_command(1)  # one process per pod: python itself, on one shell line
    assert command == ["sh", "-c", "python c.py 'lr=${trialParameters.lr}'"]


def test_cell_script_is_content_addressed_and_shipped(tmp_path):
    (tmp_path / "model.py").write_text("X = 1\n")
    (tmp_path / ".gitignore").write_text("data/\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.bin").write_bytes(b"0" * 10)
    first = write_cell_script(tmp_path, "import model\n")
    assert first == write_cell_script(tmp_path, "import model\n")
    assert first != write_cell_script(tmp_path, "import model  # changed\n")
    assert (tmp_path / first).read_text() == "import model\n"
    snapshot = CellSnapshot(path=tmp_path, script=first)
    assert snapshot.files() == [".gitignore", first, "model.py"]
    assert snapshot.build().files == 3
    trimmed = CellSnapshot(path=tmp_path, script=first, exclude=["*.py"])
    assert trimmed.files() == [".gitignore", first]  # the cell itself always goes


def test_report_prints_katib_stdout_format():
    assert format_metrics(accuracy=0.93, loss=1) == "accuracy=0.93\nloss=1.0"
    for bad in ({"two words": 1.0}, {"acc": float("nan")}):
        with pytest.raises(ValueError):
            format_metrics(**bad)


TYPES = [
    "NVIDIA-A100-SXM4-80GB",
    "NVIDIA-A100-SXM4-80GB/mig-1g.10gb",
    "NVIDIA-A100-PCIE-40GB",
    "NVIDIA-RTX-A6000",
    "Tesla-V100-SXM2-32GB",
]


@pytest.mark.parametrize(
    "name, means",
    [
        ("NVIDIA-RTX-A6000", "NVIDIA-RTX-A6000"),
        ("V100", "Tesla-V100-SXM2-32GB"),
        ("a6000", "NVIDIA-RTX-A6000"),
        ("A100-SXM4", "NVIDIA-A100-SXM4-80GB"),
        ("H100", "H100"),  # no such type: left for the GPU check to say so
        ("100", "100"),  # only whole dash-separated parts match
        ("mig-1g.10gb", "mig-1g.10gb"),  # MIG slices are not --gpu-type values
    ],
)
def test_short_gpu_type_names(name, means):
    assert match_gpu_type(name, TYPES) == means


def test_ambiguous_gpu_type_name_says_which_match():
    with pytest.raises(MagicInputError) as caught:
        match_gpu_type("A100", TYPES)
    assert str(caught.value) == (
        "--gpu-type A100: several GPU types match (NVIDIA-A100-PCIE-40GB, "
        "NVIDIA-A100-SXM4-80GB); give the full name (%mlops gpus lists them)."
    )


@pytest.mark.parametrize("name", ["job", "_x", "run2"])
def test_output_variable_names(name):
    assert parse_variable(name) == name


@pytest.mark.parametrize("name", ["1job", "my-job", "class", "a.b"])
def test_output_variable_names_refused(name):
    with pytest.raises(MagicInputError, match=f"-o {name!r}: not a Python variable name"):
        parse_variable(name)


def test_settings_and_log_scales_are_what_the_served_algorithms_take():
    from jupyter_mlops.magics.cellscript import sweep_script
    from jupyter_mlops.magics.parsing import log_scale, parse_settings

    assert parse_settings(["random_state=42", "sigma=0.5"]) == {"random_state": "42", "sigma": "0.5"}
    with pytest.raises(MagicInputError, match="NAME=VALUE"):
        parse_settings(["random_state"])
    # goptuna ignores distribution: a loguniform range is searched as its exponent.
    scaled = log_scale(parse_parameter("lr=loguniform(1e-4,1e-1)"))
    assert (scaled.min, scaled.max, scaled.distribution) == (-4.0, -1.0, None)
    script = sweep_script("print(lr)", [scaled], frozenset({"lr"}))
    namespace: dict = {}
    sys_argv = ["t.py", "lr=-2.0"]
    exec(compile(script.replace("_mlops_sys.argv", repr(sys_argv)), "t", "exec"), namespace)
    assert namespace["lr"] == 10**-2.0
