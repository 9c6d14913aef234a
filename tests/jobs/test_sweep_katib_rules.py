"""Sweeps against Katib v0.19's own rules, as pure functions (no cluster).

``katib_rewrite`` follows what Katib's pod webhook documents doing to a trial's
primary container (StdOut collector), to show our command line survives it;
the real proof is the real webhook in the session cluster.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from jupyter_mlops.jobs import InvalidSpec, Parameter, Sweep
from jupyter_mlops.jobs.kinds import kind_named
from jupyter_mlops.jobs.snapshot import SnapshotRef
from mlops_contract import api, jobs
from mlops_contract.sweep_algorithms import SWEEP_ALGORITHMS, setting_problem


def katib_rewrite(command: list[str], metrics_dir: str) -> list[str]:
    """Katib's StdOut-collector rewrite: a leading ``sh -c``/``bash -c`` kept, the rest
    joined with spaces, unquoted, then its redirection and completion marker."""
    shell, rest = ["sh", "-c"], list(command)
    if rest[0] in ("sh", "bash") and rest[1] == "-c":
        shell, rest = rest[:2], rest[2:]
    rest += [f"1>{metrics_dir}/metrics.log 2>&1", "&&", f"echo completed > {metrics_dir}/$$$$.pid"]
    return [*shell, " ".join(rest)]


def kubelet_expand(word: str) -> str:
    """Kubernetes' expansion of command and args: ``$$`` is ``$`` (no variables here)."""
    return re.sub(r"\$\$", "$", word)


def run_trial(container: dict, metrics_dir, values: dict[str, str]) -> subprocess.CompletedProcess:
    """Katib's substitution of the trial's values, its rewrite, the kubelet, then ``sh``."""
    command = container["command"]
    for name, value in values.items():
        command = [w.replace("${trialParameters." + name + "}", value) for w in command]
    argv = [kubelet_expand(w) for w in katib_rewrite(command, str(metrics_dir))]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def sweep(**changes) -> Sweep:
    spec = Sweep(
        command=["printf", "%s|", "--lr={lr}", 'it\'s a $HOME; `x` "q"', "$(HOME)", "{opt}"],
        parameters=[Parameter("lr", "double", 0.01, 0.1), Parameter("opt", "categorical", values=["adam w", "sgd;ls"])],
        objective_metric="accuracy",
        snapshot=None,
        image="python:3.11",
        **changes,
    )
    spec.validate()
    return spec


def primary(manifest: dict) -> dict:
    trial = manifest["spec"]["trialTemplate"]["trialSpec"]
    return trial["spec"]["template"]["spec"]["containers"][0]


def test_trial_command_survives_katib_rewrite_with_shell_characters(tmp_path):
    result = run_trial(primary(sweep().to_manifest("ns")), tmp_path, {"lr": "0.05", "opt": "sgd;ls"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "metrics.log").read_text() == ('--lr=0.05|it\'s a $HOME; `x` "q"|$(HOME)|sgd;ls|')
    # Katib's "&& echo completed" ran: the command was not exec'd.
    (marker,) = tmp_path.glob("*.pid")
    assert marker.read_text().strip() == "completed"


def test_a_failing_trial_command_fails_the_container_and_writes_no_marker(tmp_path):
    spec = Sweep(
        command="sh -c 'echo accuracy=0.1; exit 3' {lr}",
        parameters=[Parameter("lr", "double", 0.01, 0.1)],
        objective_metric="accuracy",
        snapshot=None,
        image="python:3.11",
    )
    spec.validate()
    result = run_trial(primary(spec.to_manifest("ns")), tmp_path, {"lr": "0.05"})
    assert result.returncode == 3
    assert "accuracy=0.1" in (tmp_path / "metrics.log").read_text()
    assert not list(tmp_path.glob("*.pid"))


def test_trial_command_unpacks_the_snapshot_on_the_same_line_without_exec():
    spec = sweep()
    manifest = spec.to_manifest("ns", SnapshotRef(configmap="mlops-snapshot-x", digest="x"))
    command = primary(manifest)["command"]
    assert command[:2] == ["sh", "-c"] and len(command) == 3
    assert "tar -xzf" in command[2] and "exec" not in command[2]
    assert command[2].index("tar -xzf") < command[2].index("printf")


@pytest.mark.parametrize("trial_kind", ["pytorchjob", "workflow"])
def test_every_trial_kind_runs_its_command_as_one_shell_line(trial_kind):
    spec = sweep(trial_kind=trial_kind)
    trial = spec.to_manifest("ns")["spec"]["trialTemplate"]["trialSpec"]
    if trial_kind == "pytorchjob":
        containers = [r["template"]["spec"]["containers"][0] for r in trial["spec"]["pytorchReplicaSpecs"].values()]
    else:
        containers = [t["container"] for t in trial["spec"]["templates"] if "container" in t]
    for container in containers:
        assert container["command"][:2] == ["sh", "-c"] and len(container["command"]) == 3
        assert "${trialParameters.lr}" in container["command"][2]
        assert not container.get("args")


def test_finished_trials_keep_their_pods():
    assert sweep().to_manifest("ns")["spec"]["trialTemplate"]["retain"] is True


def test_algorithm_settings_reach_katib_as_text():
    spec = sweep(algorithm="tpe", algorithm_settings={"random_state": 7, "n_startup_trials": "3"})
    assert spec.to_manifest("ns")["spec"]["algorithm"] == {
        "algorithmName": "tpe",
        "algorithmSettings": [{"name": "n_startup_trials", "value": "3"}, {"name": "random_state", "value": "7"}],
    }


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"algorithm": "hyperband"}, "algorithm", "use tpe"),
        ({"algorithm": "grid"}, "algorithm", "sobol"),
        ({"algorithm": "simulated-annealing"}, "algorithm", "random, tpe, cmaes, sobol"),
        (
            {"algorithm_settings": {"n_startup_trials": "3"}},
            "algorithm_settings.n_startup_trials",
            "random has no setting",
        ),
        (
            {"algorithm": "tpe", "algorithm_settings": {"n_ei_candidates": "0"}},
            "algorithm_settings.n_ei_candidates",
            "at least 1",
        ),
        (
            {"algorithm": "tpe", "algorithm_settings": {"random_state": "1.5"}},
            "algorithm_settings.random_state",
            "integer",
        ),
        (
            {"algorithm": "cmaes", "algorithm_settings": {"restart_strategy": "always"}},
            "algorithm_settings.restart_strategy",
            "none, ipop, bipop",
        ),
        (
            {"algorithm": "sobol", "algorithm_settings": {"random_state": "1"}},
            "algorithm_settings.random_state",
            "takes no settings",
        ),
        ({"algorithm": "cmaes"}, "algorithm", "at least 2 double or int"),
        ({"name": "s" * 41}, "name", "1-40"),
    ],
)
def test_specs_katib_would_refuse_or_ignore_are_refused_with_a_sentence(changes, field, words):
    with pytest.raises(InvalidSpec) as caught:
        sweep(**changes)
    assert caught.value.details["field"] == field
    assert words in str(caught.value)


def test_a_log_scale_is_refused_where_the_algorithm_ignores_it():
    with pytest.raises(InvalidSpec) as caught:
        Sweep(
            command="python t.py {lr}",
            objective_metric="a",
            snapshot=None,
            image="i",
            parameters=[Parameter("lr", "double", 1e-4, 1e-1, distribution="loguniform")],
        ).validate()
    assert caught.value.details["field"] == "parameters[0].distribution"
    assert "ignores distribution" in str(caught.value)


def test_a_value_that_would_end_the_quoting_is_refused():
    with pytest.raises(InvalidSpec, match="single quote"):
        Sweep(
            command="python t.py {opt}",
            objective_metric="a",
            snapshot=None,
            image="i",
            parameters=[Parameter("opt", "categorical", values=["it's"])],
        ).validate()


def test_forty_characters_is_the_longest_name_and_resubmits_stay_within_it():
    spec = sweep(name="s" * 40)
    manifest = spec.to_manifest("ns")
    manifest["metadata"]["uid"] = "u"
    again = kind_named("sweep").resubmit_manifest(manifest)
    # The API server appends five characters to generateName.
    assert len(again["metadata"]["generateName"]) + 5 <= jobs.SWEEP_NAME_LIMIT
    twice = kind_named("sweep").resubmit_manifest(
        {**again, "metadata": {**again["metadata"], "name": again["metadata"]["generateName"] + "abcde"}}
    )
    assert len(twice["metadata"]["generateName"]) + 5 <= jobs.SWEEP_NAME_LIMIT


def experiment(status: dict, spec: dict | None = None, conditions=None) -> dict:
    return {
        "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "9", "uid": "u"},
        "spec": {"maxTrialCount": 10, "parallelTrialCount": 3, **(spec or {})},
        "status": {**status, "conditions": conditions or [{"type": "Running", "status": "True"}]},
    }


@pytest.mark.parametrize(
    ("status", "spec"),
    [
        ({"trials": 5, "trialsRunning": 3, "trialsSucceeded": 2}, {}),
        ({"trials": 0}, {"parallelTrialCount": 4, "maxFailedTrialCount": 4}),
        ({"trials": 9, "trialsRunning": 3, "trialsSucceeded": 6}, {}),
    ],
)
def test_cancel_keeps_max_trials_above_the_trials_started(status, spec):
    """Katib's Experiment webhook refuses maxTrialCount <= status.trials, and parallel or
    failed counts above maxTrialCount; cancel asks for the least it accepts."""
    obj = experiment(status, spec)
    patch = kind_named("sweep").cancel_patch(obj)
    merged = {**obj["spec"], **patch.get("spec", {})}
    assert merged["maxTrialCount"] == status["trials"] + 1
    assert merged["parallelTrialCount"] <= merged["maxTrialCount"]
    assert merged.get("maxFailedTrialCount", 0) <= merged["maxTrialCount"]
    assert patch["metadata"]["resourceVersion"] == "9"
    assert jobs.CANCELLED_ANNOTATION in patch["metadata"]["annotations"]


def test_cancel_leaves_the_spec_alone_when_every_trial_exists_and_a_finished_sweep_alone():
    all_started = experiment({"trials": 10, "trialsRunning": 2, "trialsSucceeded": 8})
    assert "spec" not in kind_named("sweep").cancel_patch(all_started)
    finished = experiment({"trials": 10, "trialsSucceeded": 10}, conditions=[{"type": "Succeeded", "status": "True"}])
    assert kind_named("sweep").cancel_patch(finished) == {}


def test_a_cancelled_sweep_stays_cancelled_when_katib_ends_it_at_the_lowered_count():
    obj = experiment({"trials": 6, "trialsSucceeded": 6}, conditions=[{"type": "Succeeded", "status": "True"}])
    obj["metadata"]["annotations"] = {jobs.CANCELLED_ANNOTATION: "true"}
    assert jobs.SWEEP.state(obj)[0] == "Cancelled"
    running = experiment({"trials": 6, "trialsRunning": 2, "trialsSucceeded": 4})
    running["metadata"]["annotations"] = {jobs.CANCELLED_ANNOTATION: "true"}
    state, message = jobs.SWEEP.state(running)
    assert state == "Cancelled" and "2 trials still running" in message


def test_a_cancelled_sweep_between_its_trials_is_not_said_to_have_ended():
    """Katib counts the trials that just ended before it makes the one more the cancel
    allows: for that moment no trial runs, yet the sweep has not ended."""
    between = experiment({"trials": 2, "trialsSucceeded": 2}, spec={"maxTrialCount": 3})
    between["metadata"]["annotations"] = {jobs.CANCELLED_ANNOTATION: "true"}
    state, message = jobs.SWEEP.state(between)
    assert state == "Cancelled" and "ended" not in message and "one more trial" in message
    katib_ended = [{"type": "Succeeded", "status": "True"}]
    ended = experiment({"trials": 3, "trialsSucceeded": 3}, spec={"maxTrialCount": 3}, conditions=katib_ended)
    ended["metadata"]["annotations"] = {jobs.CANCELLED_ANNOTATION: "true"}
    assert jobs.SWEEP.state(ended) == ("Cancelled", "cancelled by the user; the trials that were running have ended")


def test_summary_counts_every_trial_katib_counts():
    status = {
        "trials": 8,
        "trialsSucceeded": 3,
        "trialsFailed": 1,
        "trialsRunning": 1,
        "trialsEarlyStopped": 2,
        "trialMetricsUnavailable": 1,
    }
    counts = kind_named("sweep").summary(experiment(status))["trials"]
    assert counts["early_stopped"] == 2 and counts["metrics_unavailable"] == 1
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    api.JobSummary.model_validate(
        kind_named("sweep").summary({**experiment(status), "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment"})
    )


def test_the_suggestion_pod_is_not_one_of_the_sweeps_pods():
    def pod(name, **labels):
        return {"metadata": {"name": name, "labels": {"katib.kubeflow.org/experiment": "s", **labels}}}

    pods = [
        pod("s-random-abc", **{jobs.SUGGESTION_POD_LABEL: "s"}),
        pod("s-x7-pod", **{"katib.kubeflow.org/trial": "s-x7"}),
    ]
    assert [p["metadata"]["name"] for p in kind_named("sweep").own_pods(pods)] == ["s-x7-pod"]


def test_rest_bodies_get_the_same_refusals():
    with pytest.raises(api.BodyError) as caught:
        api.validate_body(
            "sweep",
            '{"command": "x {a}", "objective_metric": "m", '
            '"parameters": [{"name": "a", "min": 0, "max": 1}], '
            '"algorithm": "hyperband"}',
        )
    assert caught.value.field == "algorithm" and "use tpe" in caught.value.reason
    with pytest.raises(api.BodyError) as caught:
        api.validate_body(
            "sweep", f'{{"command": "x", "objective_metric": "m", "parameters": [], "name": "{"s" * 41}"}}'
        )
    assert caught.value.field == "name"


def test_every_setting_named_is_one_goptuna_reads():
    """Names as Katib v0.19's goptuna converter reads them (random_state, n_startup_trials,
    n_ei_candidates, sigma, restart_strategy); anything else it silently ignores."""
    read = {
        "random": {"random_state"},
        "tpe": {"random_state", "n_startup_trials", "n_ei_candidates"},
        "cmaes": {"random_state", "sigma", "restart_strategy"},
        "sobol": set(),
    }
    assert {name: {s.name for s in a.settings} for name, a in SWEEP_ALGORITHMS.items()} == read
    assert setting_problem("cmaes", "sigma", "0") and not setting_problem("cmaes", "sigma", "0.3")
    assert setting_problem("random", "random_state", " 1")


@pytest.mark.skipif(os.name != "posix", reason="runs sh")
def test_katib_rewrite_helper_breaks_todays_wrapper(tmp_path):
    """The helper is faithful enough to show the old ``exec "$@"`` wrapper failing."""
    old = ["/bin/sh", "-c", 'exec "$@"', "mlops-entrypoint", "printf", "%s", "a b"]
    argv = [kubelet_expand(w) for w in katib_rewrite(old, str(tmp_path))]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0 or (tmp_path / "metrics.log").read_text() != "a b"
