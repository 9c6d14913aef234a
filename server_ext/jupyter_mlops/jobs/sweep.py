"""``Sweep``: a Katib hyperparameter sweep (Experiment, kubeflow.org/v1beta1).

Each trial runs ``command`` with the trial's parameter values substituted
for ``{name}`` placeholders, as a PyTorchJob, a single pod (a batch Job) or
an Argo Workflow (Katib with Argo as its trial engine).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, fields

from mlops_contract import jobs
from mlops_contract.api import DISTRIBUTIONS, LOG_DISTRIBUTIONS, PARAMETER_TYPES

from . import podspec
from .entrypoint import attach_snapshot
from .errors import InvalidSpec
from .kind import CANCELLED, JobKind
from .pytorchjob import PyTorchJob
from .resources import EXPERIMENTS, TRIALS
from .settings import NotebookPod
from .snapshot import Snapshot, SnapshotRef
from .trial_plot import best_trial, sweep_plot_data
from .workflow import run_steps_as_executor
from .workload import Workload

TRIAL_KINDS = ("pytorchjob", "pod", "workflow")
PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
ALGORITHMS = (
    "random",
    "grid",
    "bayesianoptimization",
    "tpe",
    "multivariate-tpe",
    "cmaes",
    "hyperband",
    "sobol",
)
TRAINING_LABEL = "katib.kubeflow.org/model-training"
"""Marks the pod of a workflow trial whose stdout holds the metrics."""


@dataclass
class Parameter:
    """One dimension of the search space: a range (``min``/``max``/``step``) or ``values``.

    A range's ``distribution`` says how Katib draws from it (``uniform``,
    ``loguniform``, ``normal``, ``lognormal``); left out, the algorithm's own.
    """

    name: str
    type: str = "double"
    min: float | int | None = None
    max: float | int | None = None
    step: float | int | None = None
    values: list | None = None
    distribution: str | None = None

    def validate(self, field_name: str) -> None:
        if not isinstance(self.name, str) or not PARAMETER_NAME.match(self.name):
            raise InvalidSpec(
                f"{field_name}.name", "must be ASCII letters, digits or '_', starting with a letter"
            )
        if self.type not in PARAMETER_TYPES:
            raise InvalidSpec(f"{field_name}.type", f"must be one of {', '.join(PARAMETER_TYPES)}")
        if self.type in ("categorical", "discrete"):
            if not self.values:
                raise InvalidSpec(f"{field_name}.values", f"a {self.type} parameter needs values")
        else:
            if self.min is None or self.max is None:
                raise InvalidSpec(f"{field_name}.min", f"a {self.type} parameter needs min and max")
            if (
                not isinstance(self.min, (int, float))
                or not isinstance(self.max, (int, float))
                or isinstance(self.min, bool)
                or isinstance(self.max, bool)
            ):
                raise InvalidSpec(f"{field_name}.min", "min and max must be numbers")
            if self.min >= self.max:
                raise InvalidSpec(f"{field_name}.max", f"must be greater than min ({self.min})")
        if self.distribution is None:
            return
        if self.distribution not in DISTRIBUTIONS:
            raise InvalidSpec(
                f"{field_name}.distribution", f"must be one of {', '.join(DISTRIBUTIONS)}"
            )
        if self.type not in ("double", "int"):
            raise InvalidSpec(
                f"{field_name}.distribution",
                f"applies to double and int ranges, not to {self.type} values",
            )
        if self.distribution in LOG_DISTRIBUTIONS and (self.min is None or self.min <= 0):
            raise InvalidSpec(
                f"{field_name}.min", f"a {self.distribution} range needs min > 0 (got {self.min})"
            )

    def to_katib(self) -> dict:
        space: dict = {}
        if self.values:
            space["list"] = [str(v) for v in self.values]
        else:
            space["min"], space["max"] = str(self.min), str(self.max)
            if self.step is not None:
                space["step"] = str(self.step)
            if self.distribution is not None:
                space["distribution"] = DISTRIBUTIONS[self.distribution]
        return {"name": self.name, "parameterType": self.type, "feasibleSpace": space}


@dataclass
class Sweep(Workload):
    """A Katib Experiment over ``parameters``, optimising the ``objective_metric`` trials print.

    The pod fields (``gpus`` per pod, ``gpu_type``, ``cpu``, ``memory``,
    ``image``, ``env``) are ``Workload``'s and apply to every pod of every trial.

    ::

        sweep = Sweep(command="python train.py --lr {lr} --batch {batch}",
                      parameters=[Parameter("lr", "double", 1e-4, 1e-1),
                                  Parameter("batch", "categorical", values=[32, 64])],
                      objective_metric="accuracy", max_trials=8, parallel_trials=2,
                      trial_kind="pytorchjob", gpus=1)
        handle = client.submit(sweep)   # or sweep.submit() from jupyter_mlops.jobs

    Trials print ``accuracy=0.93`` lines on stdout; Katib's StdOut collector reads them.
    """

    command: list[str] | str
    parameters: list[Parameter]
    objective_metric: str
    name: str | None = None
    objective: str = "maximize"
    goal: float | None = None
    additional_metrics: list[str] = field(default_factory=list)
    algorithm: str = "random"
    parallel_trials: int = 1
    max_trials: int = 4
    max_failed_trials: int | None = None
    trial_kind: str = "pod"
    replicas: int = 1
    """Pods per trial (``pytorchjob`` trials only)."""
    snapshot: Snapshot | None = field(default_factory=Snapshot)

    kind = "sweep"

    def validate(self, notebook: NotebookPod | None = None) -> None:
        """Check and normalise the fields (``notebook``: what the trials' pods inherit)."""
        notebook = notebook or NotebookPod()
        podspec.check_name(self.name)
        self.command = podspec.check_command(self.command)
        if not isinstance(self.parameters, list) or not self.parameters:
            raise InvalidSpec("parameters", "a sweep needs at least one parameter")
        self.parameters = [
            p if isinstance(p, Parameter) else _parameter(p, f"parameters[{i}]")
            for i, p in enumerate(self.parameters)
        ]
        for i, parameter in enumerate(self.parameters):
            parameter.validate(f"parameters[{i}]")
            if not any("{" + parameter.name + "}" in arg for arg in self.command):
                raise InvalidSpec(
                    "command",
                    f"does not use parameter {parameter.name!r}: "
                    f"put {{{parameter.name}}} where its value goes",
                )
        if not self.objective_metric or not isinstance(self.objective_metric, str):
            raise InvalidSpec("objective_metric", "name the metric the trials print")
        if self.objective not in ("maximize", "minimize"):
            raise InvalidSpec("objective", "must be 'maximize' or 'minimize'")
        if self.algorithm not in ALGORITHMS:
            raise InvalidSpec("algorithm", f"must be one of {', '.join(ALGORITHMS)}")
        if self.trial_kind not in TRIAL_KINDS:
            raise InvalidSpec("trial_kind", f"must be one of {', '.join(TRIAL_KINDS)}")
        podspec.check_int(self.parallel_trials, "parallel_trials", 1, 1000)
        podspec.check_int(self.max_trials, "max_trials", 1, 100000)
        if self.parallel_trials > self.max_trials:
            raise InvalidSpec("parallel_trials", f"must not exceed max_trials ({self.max_trials})")
        if self.max_failed_trials is not None:
            podspec.check_int(self.max_failed_trials, "max_failed_trials", 0)
        if self.trial_kind != "pytorchjob" and self.replicas != 1:
            raise InvalidSpec("replicas", "only pytorchjob trials have more than one replica")
        self.validate_workload(notebook)
        self._trial_job().validate(notebook)  # the trial's own rules (replicas) on the same fields

    def gpu_request(self) -> tuple[str | None, int, int]:
        return self.gpu_type, self.gpus, self.replicas * self.parallel_trials

    def to_manifest(
        self,
        namespace: str,
        snapshot: SnapshotRef | None = None,
        notebook: NotebookPod | None = None,
    ) -> dict:
        spec: dict = {
            "objective": {"type": self.objective, "objectiveMetricName": self.objective_metric},
            "algorithm": {"algorithmName": self.algorithm},
            "parallelTrialCount": self.parallel_trials,
            "maxTrialCount": self.max_trials,
            "parameters": [p.to_katib() for p in self.parameters],
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "trialTemplate": self._trial_template(snapshot, notebook or NotebookPod()),
        }
        if self.goal is not None:
            spec["objective"]["goal"] = self.goal
        if self.additional_metrics:
            spec["objective"]["additionalMetricNames"] = list(self.additional_metrics)
        if self.max_failed_trials is not None:
            spec["maxFailedTrialCount"] = self.max_failed_trials
        return {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Experiment",
            "metadata": podspec.metadata(self.name, "sweep", namespace),
            "spec": spec,
        }

    # ------------------------------------------------------------ internals
    def _templated_command(self) -> list[str]:
        command = list(self.command)
        for parameter in self.parameters:
            command = [
                arg.replace("{" + parameter.name + "}", "${trialParameters." + parameter.name + "}")
                for arg in command
            ]
        return command

    def _trial_job(self) -> PyTorchJob:
        return PyTorchJob(
            command=self._templated_command() if self.parameters else self.command,
            replicas=self.replicas,
            snapshot=self.snapshot,
            **self.workload(),
        )

    def _trial_template(self, snapshot: SnapshotRef | None, notebook: NotebookPod) -> dict:
        job = self._trial_job()
        template: dict = {
            "trialParameters": [{"name": p.name, "reference": p.name} for p in self.parameters],
        }
        if self.trial_kind == "pytorchjob":
            template.update(
                primaryContainerName="pytorch",
                successCondition='status.conditions.#(type=="Succeeded")#|#(status=="True")#',
                failureCondition='status.conditions.#(type=="Failed")#|#(status=="True")#',
                trialSpec={
                    "apiVersion": "kubeflow.org/v1",
                    "kind": "PyTorchJob",
                    "spec": job.job_spec(snapshot, notebook),
                },
            )
            return template
        main = self.container(
            "training-container" if self.trial_kind == "pod" else "main", job.command, notebook
        )
        pod = self.pod_spec([main], notebook, restart_policy="Never")
        if snapshot is not None:
            pod = attach_snapshot(pod, snapshot)
        if self.trial_kind == "pod":
            template.update(
                primaryContainerName="training-container",
                trialSpec={
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "backoffLimit": 0,
                        "template": {"metadata": podspec.pod_metadata(notebook), "spec": pod},
                    },
                },
            )
            return template
        # An Argo Workflow trial: one step running the command; Katib reads the
        # metrics from the pod labelled TRAINING_LABEL.
        step = {
            "name": "main",
            "metadata": podspec.pod_metadata(notebook, {TRAINING_LABEL: "true"}),
            "container": copy.deepcopy(pod["containers"][0]),
        }
        step["container"].pop("name", None)
        for key in ("nodeSelector", "tolerations"):
            if key in pod:
                step[key] = pod[key]
        workflow_spec = run_steps_as_executor(
            {"entrypoint": "main", "templates": [step]}, notebook
        )
        if pod.get("volumes"):
            workflow_spec["volumes"] = pod["volumes"]
        template.update(
            primaryContainerName="main",
            primaryPodLabels={TRAINING_LABEL: "true"},
            successCondition='status.[@this].#(phase=="Succeeded")#',
            failureCondition='status.[@this].#(phase=="Failed")#',
            trialSpec={
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "spec": workflow_spec,
            },
        )
        return template


def _parameter(value, field_name: str) -> Parameter:
    if not isinstance(value, dict):
        raise InvalidSpec(field_name, "must be an object with name, type and min/max or values")
    unknown = set(value) - {f.name for f in fields(Parameter)}
    if unknown:
        raise InvalidSpec(f"{field_name}.{sorted(unknown)[0]}", "unknown field")
    if "name" not in value:
        raise InvalidSpec(f"{field_name}.name", "is required")
    if value.get("values") is not None and not isinstance(value["values"], list):
        raise InvalidSpec(f"{field_name}.values", "must be a list")
    return Parameter(**value)


class SweepKind(JobKind):
    contract = jobs.SWEEP
    collection = "sweeps"
    resource = EXPERIMENTS
    pod_label = "katib.kubeflow.org/experiment"
    primary_container = "training-container"
    part_noun = "trial"

    def summary(self, obj: dict) -> dict:
        body = super().summary(obj)
        status = obj.get("status") or {}
        body["trials"] = {
            key: status.get(f"trials{key.capitalize()}" if key != "total" else "trials", 0)
            for key in ("total", "running", "succeeded", "failed", "pending", "killed")
        }
        optimal = status.get("currentOptimalTrial") or {}
        if optimal.get("bestTrialName"):
            body["best_trial"] = {
                "name": optimal["bestTrialName"],
                "parameters": {
                    a["name"]: a["value"] for a in optimal.get("parameterAssignments") or []
                },
                "metrics": {
                    m["name"]: m.get("latest")
                    for m in (optimal.get("observation") or {}).get("metrics") or []
                },
            }
        return body

    def detail(self, obj: dict, pods: list[dict], client) -> dict:
        """Besides the trials: the best trial (Katib's, else the best the trials reported so
        far) and the parallel-coordinates plot data (``trial_plot``)."""
        body = super().detail(obj, pods, client)
        spec = obj.get("spec") or {}
        objective = spec.get("objective") or {}
        best = self.summary(obj).get("best_trial") or best_trial(
            body["parts"], objective.get("objectiveMetricName", ""), objective.get("type", "maximize")
        )
        if best:
            body["best_trial"] = best
        body["plot"] = sweep_plot_data(spec, body["parts"], best and best["name"])
        return body

    def part_of_pod(self, pod: dict) -> str:
        return (pod["metadata"].get("labels") or {}).get("katib.kubeflow.org/trial") or pod[
            "metadata"
        ]["name"]

    def parts(self, obj: dict, pods: list[dict], client) -> list[dict]:
        name = obj["metadata"]["name"]
        trials = client.list(
            TRIALS,
            obj["metadata"]["namespace"],
            label_selector=f"katib.kubeflow.org/experiment={name}",
        )["items"]
        pods_by_trial: dict[str, list[str]] = {}
        for pod in pods:
            pods_by_trial.setdefault(self.part_of_pod(pod), []).append(pod["metadata"]["name"])
        parts = []
        for trial in sorted(trials, key=lambda t: t["metadata"].get("creationTimestamp") or ""):
            state, message = self.contract.trial_state(trial)
            metrics = ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []
            parts.append(
                {
                    "name": trial["metadata"]["name"],
                    "state": state,
                    "message": message,
                    "parameters": {
                        a["name"]: a["value"]
                        for a in trial.get("spec", {}).get("parameterAssignments") or []
                    },
                    "metrics": {m["name"]: m.get("latest") for m in metrics},
                    "pods": sorted(pods_by_trial.get(trial["metadata"]["name"], [])),
                }
            )
        return parts

    def cancel_patch(self, obj: dict) -> dict:
        # Katib has no stop verb: capping maxTrialCount at the trials already
        # created makes the controller start no new trial and finish the sweep.
        started = max(1, int((obj.get("status") or {}).get("trials") or 0))
        return {
            "metadata": {"annotations": {CANCELLED: "true"}},
            "spec": {
                "maxTrialCount": started,
                "parallelTrialCount": min(started, obj["spec"].get("parallelTrialCount", 1)),
            },
        }

    def event_sources(self, handle, pods: list[dict]) -> set[str]:
        # Katib writes events on the trials too (created, running, metrics unavailable).
        trials = {p["name"] for p in self.parts(handle.get(), pods, handle.client.kube)}
        return super().event_sources(handle, pods) | trials
