"""``Sweep``: a Katib hyperparameter sweep (Experiment, kubeflow.org/v1beta1).

Each trial runs ``command`` with the trial's parameter values substituted
for ``{name}`` placeholders, as a PyTorchJob, a single pod (a batch Job) or
an Argo Workflow (Katib with Argo as its trial engine). The command line is
built to survive Katib's metrics collector (``trial_command``); the search
algorithms and their settings are the cluster's (``mlops_contract.sweep_algorithms``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, fields

from mlops_contract import jobs
from mlops_contract.api import DISTRIBUTIONS, LOG_DISTRIBUTIONS, PARAMETER_TYPES
from mlops_contract.queueing import TRIAL
from mlops_contract.sweep_algorithms import (
    DEFAULT_ALGORITHM,
    SWEEP_ALGORITHMS,
    algorithm_problem,
    setting_problem,
    setting_text,
)

from . import podspec
from .entrypoint import attach_snapshot
from .errors import InvalidSpec
from .kind import CANCELLED, JobKind
from .pytorchjob import PyTorchJob
from .resources import EXPERIMENTS
from .settings import NotebookPod
from .snapshot import Snapshot, SnapshotRef
from .trial_command import trial_command
from .trial_plot import best_trial, sweep_plot_data
from .trials import EXPERIMENT_LABEL
from .workflow import run_steps_as_executor
from .workload import Workload

TRIAL_KINDS = ("pytorchjob", "pod", "workflow")
PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
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
        """Check the dimension on its own; ``Sweep.validate`` checks it against the algorithm."""
        if not isinstance(self.name, str) or not PARAMETER_NAME.match(self.name):
            raise InvalidSpec(f"{field_name}.name", "must be ASCII letters, digits or '_', starting with a letter")
        if self.type not in PARAMETER_TYPES:
            raise InvalidSpec(f"{field_name}.type", f"must be one of {', '.join(PARAMETER_TYPES)}")
        if self.type in ("categorical", "discrete"):
            if not self.values:
                raise InvalidSpec(f"{field_name}.values", f"a {self.type} parameter needs values")
            for value in self.values:
                # Katib puts the value into the trial's quoted command line verbatim.
                if "'" in str(value):
                    raise InvalidSpec(
                        f"{field_name}.values",
                        f"{value!r} holds a single quote, which would end the quoting of the "
                        "trial's command line; choose values without one",
                    )
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
            if self.type == "int":
                for bound in ("min", "max", "step"):
                    value = getattr(self, bound)
                    # Katib's suggestion services parse an int range with Atoi: 1.0 fails.
                    if value is not None and not float(value).is_integer():
                        raise InvalidSpec(
                            f"{field_name}.{bound}",
                            f"an int parameter's {bound} must be a whole number (got {value})",
                        )
        if self.distribution is None:
            return
        if self.distribution not in DISTRIBUTIONS:
            raise InvalidSpec(f"{field_name}.distribution", f"must be one of {', '.join(DISTRIBUTIONS)}")
        if self.type not in ("double", "int"):
            raise InvalidSpec(
                f"{field_name}.distribution",
                f"applies to double and int ranges, not to {self.type} values",
            )
        if self.distribution in LOG_DISTRIBUTIONS and (self.min is None or self.min <= 0):
            raise InvalidSpec(f"{field_name}.min", f"a {self.distribution} range needs min > 0 (got {self.min})")

    def to_katib(self) -> dict:
        space: dict = {}
        if self.values:
            space["list"] = [str(v) for v in self.values]
        else:
            number = (lambda v: str(int(v))) if self.type == "int" else str
            space["min"], space["max"] = number(self.min), number(self.max)
            if self.step is not None:
                space["step"] = number(self.step)
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
    algorithm: str = DEFAULT_ALGORITHM
    """One of ``mlops_contract.sweep_algorithms.SWEEP_ALGORITHMS`` (the cluster serves those)."""
    algorithm_settings: dict[str, str | int | float] = field(default_factory=dict)
    """Katib ``algorithmSettings``, e.g. ``{"random_state": 42}``; names and values are
    checked against what the algorithm accepts."""
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
        podspec.check_name(self.name, limit=jobs.SWEEP_NAME_LIMIT)
        self.command = podspec.check_command(self.command)
        if not isinstance(self.parameters, list) or not self.parameters:
            raise InvalidSpec("parameters", "a sweep needs at least one parameter")
        self.parameters = [
            p if isinstance(p, Parameter) else _parameter(p, f"parameters[{i}]") for i, p in enumerate(self.parameters)
        ]
        for i, parameter in enumerate(self.parameters):
            parameter.validate(f"parameters[{i}]")
            if not any("{" + parameter.name + "}" in arg for arg in self.command):
                raise InvalidSpec(
                    "command",
                    f"does not use parameter {parameter.name!r}: put {{{parameter.name}}} where its value goes",
                )
        if not self.objective_metric or not isinstance(self.objective_metric, str):
            raise InvalidSpec("objective_metric", "name the metric the trials print")
        if self.objective not in ("maximize", "minimize"):
            raise InvalidSpec("objective", "must be 'maximize' or 'minimize'")
        self._validate_algorithm()
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

    def _validate_algorithm(self) -> None:
        """The algorithm is served, its settings are its own, and the search space is one
        it samples as asked (refused here rather than by Katib once the sweep exists)."""
        problem = algorithm_problem(self.algorithm)
        if problem:
            raise InvalidSpec("algorithm", problem)
        algorithm = SWEEP_ALGORITHMS[self.algorithm]
        if not isinstance(self.algorithm_settings, dict):
            raise InvalidSpec("algorithm_settings", "must map setting names to values")
        settings = {}
        for name, value in self.algorithm_settings.items():
            try:
                settings[name] = setting_text(value)
            except TypeError:
                raise InvalidSpec(f"algorithm_settings.{name}", f"must be text or a number, got {value!r}") from None
            problem = setting_problem(self.algorithm, name, settings[name])
            if problem:
                raise InvalidSpec(f"algorithm_settings.{name}", problem)
        self.algorithm_settings = dict(settings)
        numeric = [p for p in self.parameters if p.type in ("double", "int")]
        if len(numeric) < algorithm.min_numeric_parameters:
            raise InvalidSpec(
                "algorithm",
                f"{self.algorithm} needs at least {algorithm.min_numeric_parameters} double or "
                f"int parameters (this sweep has {len(numeric)}); choose tpe or random",
            )
        if not algorithm.honours_distribution:
            for i, parameter in enumerate(self.parameters):
                if parameter.distribution not in (None, "uniform"):
                    raise InvalidSpec(
                        f"parameters[{i}].distribution",
                        f"{self.algorithm} ignores distribution and would sample "
                        f"{parameter.name} uniformly; leave distribution out, or search the "
                        f"logarithm (e.g. a range of exponents, 10**{{{parameter.name}}} in "
                        "the code) or list the values as a categorical parameter",
                    )

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
        if self.algorithm_settings:
            spec["algorithm"]["algorithmSettings"] = [
                {"name": k, "value": setting_text(v)} for k, v in sorted(self.algorithm_settings.items())
            ]
        return {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Experiment",
            "metadata": podspec.metadata(self.name, "sweep", namespace),
            "spec": spec,
        }

    # ------------------------------------------------------------ internals
    def _trial_command(self, unpack: bool) -> list[str]:
        """The primary container's command (``trial_command``): Katib rewrites it."""
        # validate() made it a list (podspec.check_command); the field also takes a string.
        return trial_command(podspec.check_command(self.command), [p.name for p in self.parameters], unpack)

    def _trial_job(self) -> PyTorchJob:
        return PyTorchJob(command=self.command, replicas=self.replicas, snapshot=self.snapshot, **self.workload())

    def _trial_template(self, snapshot: SnapshotRef | None, notebook: NotebookPod) -> dict:
        job = self._trial_job()
        command = self._trial_command(unpack=snapshot is not None)
        # Trials wait in the namespace's Kueue line as the lowest class: they run on
        # idle GPUs and are the first to give them back.
        queue = podspec.queue_labels(notebook, self.gpus, TRIAL)
        queue_metadata = {"metadata": {"labels": queue}} if queue else {}
        template: dict = {
            "trialParameters": [{"name": p.name, "reference": p.name} for p in self.parameters],
            # Finished trials keep their job and pods, so their logs stay readable.
            "retain": True,
        }
        if self.trial_kind == "pytorchjob":
            template.update(
                primaryContainerName="pytorch",
                # The master's metrics decide: only its pod gets Katib's collector, not
                # every worker's (which would report the trial's metrics once each).
                primaryPodLabels={"training.kubeflow.org/replica-type": "master"},
                successCondition='status.conditions.#(type=="Succeeded")#|#(status=="True")#',
                failureCondition='status.conditions.#(type=="Failed")#|#(status=="True")#',
                trialSpec={
                    "apiVersion": "kubeflow.org/v1",
                    "kind": "PyTorchJob",
                    **queue_metadata,
                    "spec": job.job_spec(snapshot, notebook, command),
                },
            )
            return template
        main = self.container("training-container" if self.trial_kind == "pod" else "main", command, notebook)
        pod = self.pod_spec([main], notebook, restart_policy="Never")
        if snapshot is not None:
            pod = attach_snapshot(pod, snapshot, wrap_commands=False)
        if self.trial_kind == "pod":
            template.update(
                primaryContainerName="training-container",
                trialSpec={
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    **queue_metadata,
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
            # A workflow trial's step pod is the workload Kueue queues (its pod integration).
            "metadata": podspec.pod_metadata(notebook, {TRAINING_LABEL: "true", **queue}),
            "container": copy.deepcopy(pod["containers"][0]),
        }
        step["container"].pop("name", None)
        for key in ("nodeSelector", "tolerations"):
            if key in pod:
                step[key] = pod[key]
        workflow_spec = run_steps_as_executor({"entrypoint": "main", "templates": [step]}, notebook)
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


def in_spec_order(experiment: dict, assignments: list[dict] | None) -> dict[str, str]:
    """Parameter name -> value, in the order the sweep declares its parameters. Katib's
    assignments come in no fixed order (its suggestion services fill them from maps), and
    tables, the best trial's line and the plot must not reorder from trial to trial."""
    declared = [p.get("name") for p in (experiment.get("spec") or {}).get("parameters") or []]
    rank = {name: i for i, name in enumerate(declared)}
    ordered = sorted(assignments or [], key=lambda a: rank.get(a["name"], len(rank)))
    return {a["name"]: a["value"] for a in ordered}


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
    pod_label = EXPERIMENT_LABEL
    primary_container = "training-container"
    log_containers = (jobs.METRICS_COLLECTOR_CONTAINER,)
    """Katib's StdOut collector sends the training container's output to a file and
    prints it (as log lines of its own) in its sidecar: a trial's log is there."""
    part_noun = "trial"
    name_limit = jobs.SWEEP_NAME_LIMIT

    def summary(self, obj: dict) -> dict:
        body = super().summary(obj)
        status = obj.get("status") or {}
        body["trials"] = {key: int(status.get(field) or 0) for key, field in jobs.TRIAL_COUNTS.items()}
        optimal = status.get("currentOptimalTrial") or {}
        if optimal.get("bestTrialName"):
            body["best_trial"] = {
                "name": optimal["bestTrialName"],
                "parameters": in_spec_order(obj, optimal.get("parameterAssignments")),
                "metrics": {
                    m["name"]: m.get("latest") for m in (optimal.get("observation") or {}).get("metrics") or []
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
        body["plot"] = sweep_plot_data(spec, body["parts"], best["name"] if best else None)
        return body

    def own_pods(self, pods: list[dict]) -> list[dict]:
        """The trials' pods: the suggestion service's pod wears the experiment label too."""
        return [p for p in pods if jobs.SUGGESTION_POD_LABEL not in (p["metadata"].get("labels") or {})]

    def part_of_pod(self, pod: dict) -> str:
        return (pod["metadata"].get("labels") or {}).get("katib.kubeflow.org/trial") or pod["metadata"]["name"]

    def parts(self, obj: dict, pods: list[dict], client) -> list[dict]:
        """The trials, oldest first; from the server's watch of Trials where it has one
        (``JobsClient.trials``), so a detail lists nothing from the API server."""
        trials = client.trials(obj["metadata"]["name"], obj["metadata"]["namespace"])
        pods_by_trial: dict[str, list[str]] = {}
        for pod in self.own_pods(pods):
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
                    "parameters": in_spec_order(obj, trial.get("spec", {}).get("parameterAssignments")),
                    "metrics": {m["name"]: m.get("latest") for m in metrics},
                    "pods": sorted(pods_by_trial.get(trial["metadata"]["name"], [])),
                }
            )
        return parts

    def cancel_patch(self, obj: dict) -> dict:
        """Start no trial beyond the next one, let the running ones end, keep everything.

        Katib v0.19 has no stop verb, and its Experiment webhook allows an edit of a
        running Experiment's spec only to ``parallelTrialCount``, ``maxTrialCount`` and
        ``maxFailedTrialCount``, with ``maxTrialCount`` still greater than
        ``status.trials``; it allows none to a finished one (or restarts it). So:

        - ``maxTrialCount`` becomes ``status.trials + 1``, the least Katib accepts: at most
          one more trial starts (when a running one ends), then Katib ends the Experiment
          for reaching that count. Where all trials already exist (``maxTrialCount`` at
          ``status.trials``) the spec is left alone: Katib starts none anyway and would
          refuse any edit.
        - ``parallelTrialCount`` is left alone: lowering it below the running trials makes
          Katib delete the newest trials, finished ones with their results among them.
        - Running trials run to their end: Katib cannot stop one (deleting a Trial loses
          its results and Katib starts another in its place).
        - The annotation records the cancel: the sweep is Cancelled from now on
          (``mlops_contract.jobs.SweepKind.state``), its trials, metrics, best trial and
          logs (``retain``) stay to be read. A finished sweep is left as it was.
        """
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if self.contract.controller_state(obj)[0] in jobs.FINISHED:
            return {}
        patch: dict = {"metadata": {"annotations": {CANCELLED: "true"}}}
        started = int(status.get("trials") or 0)
        maximum = spec.get("maxTrialCount")
        if maximum is None or int(maximum) > started:
            cap = started + 1
            patch["spec"] = {"maxTrialCount": cap}
            # The webhook also wants parallel and failed counts within the new cap.
            if int(spec.get("parallelTrialCount") or 1) > cap:
                patch["spec"]["parallelTrialCount"] = cap
            failed = spec.get("maxFailedTrialCount")
            if failed is not None and int(failed) > cap:
                patch["spec"]["maxFailedTrialCount"] = cap
        # A stale read (more trials started since) must not slip past the webhook's
        # check: the API server refuses the patch with 409 unless nothing changed.
        if obj["metadata"].get("resourceVersion"):
            patch["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
        return patch

    def event_sources(self, handle, pods: list[dict]) -> set[str]:
        # Katib writes events on the trials too (created, running, metrics unavailable);
        # their names are all this needs (from the watch, else a metadata-only list).
        return super().event_sources(handle, pods) | handle.client.trial_names(handle.name, handle.namespace)
