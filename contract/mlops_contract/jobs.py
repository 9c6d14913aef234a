"""The job kinds of the suite and the state each of their objects is in.

The hub counts every job in the cluster by kind and state for Prometheus; the
notebook side lists a user's jobs in the REST API, the sidebar and the magics.
Both read the same objects the controllers write and must call them the same:
one kind name (``pytorchjob``, ``sweep``, ``workflow``), one state vocabulary
(``STATES``, the one the REST API, the sidebar and the magics show), one rule
for conditions, one cancelled rule, one count of requested GPUs. Everything
here is a pure function of the object as the API server returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .placement import GPU_PRODUCT_LABEL, GPU_RESOURCE
from .queueing import QUEUE_NAME_LABEL, WAITING_IN_LINE
from .sweep_algorithms import SWEEP_ALGORITHMS as SWEEP_ALGORITHMS  # re-exported: one name

STATES = ("Pending", "Queued", "Running", "Succeeded", "Failed", "Cancelled")
"""Every state a job is in: the REST API's ``State`` and the sidebar's ``JobState``.
Queued: waiting in Kueue's line, holding no GPU (``queueing``)."""
FINISHED = ("Succeeded", "Failed", "Cancelled")
"""States a job does not leave by itself."""
CANCELLED_ANNOTATION = "jupyterhub-mlops/cancelled"
"""Set by the notebook side's cancel: a controller-independent record that the user
stopped the job (a Katib Experiment has no stop verb and no cancelled condition)."""


def condition_state(conditions: list[dict[str, Any]] | None, table: dict[str, str]) -> tuple[str, str]:
    """(state, the deciding condition's message) from Kubeflow-style ``conditions``.

    The rule: a true condition of a finished state outranks every other true
    condition; otherwise the last true condition wins; conditions ``table`` does
    not name are ignored; none at all is Pending. Why, from what the controllers
    write (Training Operator v1.9, Katib v0.19):

    - The Training Operator writes nothing after a true Failed (its ``setCondition``
      returns early), and its own ``IsFinished`` is "Succeeded or Failed is true"
      whatever follows: an elastic PyTorchJob whose first worker succeeded and
      another failed gets ``Succeeded`` and then ``Restarting`` appended, and the
      operator cleans it up as finished. "The last true condition wins" would call
      that job Running for ever.
    - Running and Restarting replace each other (each removes the other), and
      Suspended becomes False on resume before Running comes back, so among
      unfinished conditions the last true one is the current one.
    - Katib removes Succeeded and Failed before it marks an Experiment Restarting,
      so a restarted sweep is never held by an old final condition.
    """
    true = [c for c in conditions or [] if str(c.get("status")) == "True" and c.get("type") in table]
    if not true:
        return "Pending", ""
    finished = [c for c in true if table[c["type"]] in FINISHED]
    deciding = (finished or true)[-1]
    return table[deciding["type"]], deciding.get("message") or deciding.get("reason") or ""


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its name in both sides' APIs and metrics, and its Kubernetes resource."""

    name: str
    """The kind as the Python API, REST bodies and metric labels spell it."""
    group: str
    version: str
    plural: str
    kind: str
    """The Kubernetes ``kind`` of its objects."""
    component: str
    """What must be installed for the API server to serve it; named in errors and logs."""

    def state(self, obj: dict[str, Any]) -> tuple[str, str]:
        """(one of ``STATES``, the controller's message) for ``obj``.

        A job the user cancelled (``CANCELLED_ANNOTATION``) is Cancelled until
        its controller says it succeeded or failed: cancelling a sweep lets its
        running trials end, and what they reach is what the sweep reached.
        """
        state, message = self.controller_state(obj)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if CANCELLED_ANNOTATION in annotations and state not in ("Succeeded", "Failed"):
            return "Cancelled", message or "cancelled by the user"
        return state, message

    def controller_state(self, obj: dict[str, Any]) -> tuple[str, str]:
        raise NotImplementedError

    def requested_gpus(self, obj: dict[str, Any]) -> tuple[int, str | None]:
        """The GPUs the job holds at most at once, and the product it is pinned to
        (None: any type, or no GPU)."""
        raise NotImplementedError


KUBEFLOW_CONDITIONS = {
    "Created": "Pending",
    "Running": "Running",
    "Restarting": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
}
"""The job conditions the Kubeflow controllers (Training Operator, Katib) share."""


@dataclass(frozen=True)
class ConditionsKind(JobKind):
    """A kind whose controller reports Kubeflow-style ``status.conditions``."""

    CONDITIONS: ClassVar[dict[str, str]] = KUBEFLOW_CONDITIONS

    def controller_state(self, obj: dict[str, Any]) -> tuple[str, str]:
        return condition_state((obj.get("status") or {}).get("conditions"), self.CONDITIONS)


@dataclass(frozen=True)
class PyTorchJobKind(ConditionsKind):
    CONDITIONS: ClassVar[dict[str, str]] = {
        **KUBEFLOW_CONDITIONS,
        # runPolicy.suspend (the notebook side's cancel) makes the operator delete
        # the pods, set Running False and Suspended True; the job stays to be read.
        "Suspended": "Cancelled",
    }

    def controller_state(self, obj: dict[str, Any]) -> tuple[str, str]:
        state, message = super().controller_state(obj)
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if state == "Cancelled" and QUEUE_NAME_LABEL in labels:
            # Kueue suspends a job in its line until it admits it; the user's cancel
            # is the annotation, which ``state`` reads above this.
            return "Queued", WAITING_IN_LINE
        return state, message

    def requested_gpus(self, obj: dict[str, Any]) -> tuple[int, str | None]:
        """Every replica's GPUs."""
        return _pytorchjob_gpus(obj.get("spec") or {})


SWEEP_NAME_LIMIT = 40
"""The longest Experiment name Katib v0.19's validating webhook accepts."""
TRIAL_COUNTS: dict[str, str] = {
    "total": "trials",
    "pending": "trialsPending",
    "running": "trialsRunning",
    "succeeded": "trialsSucceeded",
    "failed": "trialsFailed",
    "killed": "trialsKilled",
    "early_stopped": "trialsEarlyStopped",
    "metrics_unavailable": "trialMetricsUnavailable",
}
"""A sweep's trial counts as the REST API names them -> the Experiment status field Katib
v0.19 counts them in. Katib counts a trial in exactly one of the others; it ends the
sweep as failed when ``failed + metrics_unavailable`` reaches ``maxFailedTrialCount``."""
SUGGESTION_POD_LABEL = "katib.kubeflow.org/suggestion"
"""On the pod of a sweep's suggestion service (besides the experiment label its trials'
pods carry): a part of Katib, not of the sweep."""
METRICS_COLLECTOR_CONTAINER = "metrics-logger-and-collector"
"""The sidecar Katib's pod webhook adds to a trial's primary pod (StdOut collector): it
prints the training container's output, which goes to its metrics file."""


@dataclass(frozen=True)
class SweepKind(ConditionsKind):
    TRIAL_CONDITIONS: ClassVar[dict[str, str]] = {
        "Created": "Pending",
        "Running": "Running",
        "Succeeded": "Succeeded",
        "Failed": "Failed",
        "MetricsUnavailable": "Failed",
        "EarlyStopped": "Succeeded",
        "Killed": "Cancelled",
    }
    """A Katib Trial's conditions, read with the same rule (Katib's own ``IsCompleted``
    is any of the finished ones being true)."""

    def state(self, obj: dict[str, Any]) -> tuple[str, str]:
        """A cancelled sweep is Cancelled for good: Katib has no stop verb, so the
        notebook side's cancel lowers ``maxTrialCount`` as far as Katib allows and lets
        the running trials end; Katib then marks the Experiment Succeeded for reaching
        that count, which is the cancel's doing, not the sweep's. (Cancel leaves a sweep
        that had already finished as it was.)"""
        state, message = self.controller_state(obj)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if CANCELLED_ANNOTATION not in annotations:
            return state, message
        status = obj.get("status") or {}
        active = int(status.get("trialsRunning") or 0) + int(status.get("trialsPending") or 0)
        if state in FINISHED:
            return "Cancelled", "cancelled by the user; the trials that were running have ended"
        if active:
            return "Cancelled", (
                f"cancelled by the user; {active} trial{'s' if active != 1 else ''} still "
                "running to their end (Katib cannot stop a trial)"
            )
        # No trial active, but Katib has not ended the Experiment: it counts the ended
        # trials before it makes the next, so the one more trial the cancel allows may be
        # about to start, and "ended" would be premature.
        if int(status.get("trials") or 0) < int((obj.get("spec") or {}).get("maxTrialCount") or 0):
            return "Cancelled", "cancelled by the user; Katib may start the one more trial the cancel allows"
        return "Cancelled", "cancelled by the user; Katib is ending the sweep"

    def trial_state(self, trial: dict[str, Any]) -> tuple[str, str]:
        return condition_state((trial.get("status") or {}).get("conditions"), self.TRIAL_CONDITIONS)

    def requested_gpus(self, obj: dict[str, Any]) -> tuple[int, str | None]:
        """One trial's GPUs times the trials that run in parallel."""
        spec = obj.get("spec") or {}
        per_trial, gpu_type = _trial_gpus((spec.get("trialTemplate") or {}).get("trialSpec") or {})
        return per_trial * int(spec.get("parallelTrialCount") or 1), gpu_type


@dataclass(frozen=True)
class WorkflowKind(JobKind):
    PHASES: ClassVar[dict[str, str]] = {
        "": "Pending",
        "Pending": "Pending",
        "Running": "Running",
        "Succeeded": "Succeeded",
        "Failed": "Failed",
        # Argo's failure of the workflow machinery itself (a bad spec, a lost pod).
        "Error": "Failed",
    }
    """A workflow's state from ``status.phase``; a phase not named here is Pending."""

    def controller_state(self, obj: dict[str, Any]) -> tuple[str, str]:
        status = obj.get("status") or {}
        state = self.PHASES.get(status.get("phase") or "", "Pending")
        # spec.shutdown (Argo's terminate or stop, the notebook side's cancel) ends
        # the workflow as Failed; the user stopped it, so it is Cancelled unless it
        # had already succeeded.
        if (obj.get("spec") or {}).get("shutdown") and state != "Succeeded":
            state = "Cancelled"
        return state, status.get("message") or ""

    def requested_gpus(self, obj: dict[str, Any]) -> tuple[int, str | None]:
        """Its largest step: steps run one pod each."""
        return _workflow_gpus(obj.get("spec") or {})


PYTORCHJOB = PyTorchJobKind(
    "pytorchjob", "kubeflow.org", "v1", "pytorchjobs", "PyTorchJob", "The Kubeflow Training Operator"
)
SWEEP = SweepKind("sweep", "kubeflow.org", "v1beta1", "experiments", "Experiment", "Katib")
"""A Katib Experiment: a hyperparameter sweep."""
WORKFLOW = WorkflowKind("workflow", "argoproj.io", "v1alpha1", "workflows", "Workflow", "Argo Workflows")
JOB_KINDS: tuple[JobKind, ...] = (PYTORCHJOB, SWEEP, WORKFLOW)
BY_NAME: dict[str, JobKind] = {k.name: k for k in JOB_KINDS}


def _pod_gpus(pod_spec: dict[str, Any]) -> tuple[int, str | None]:
    """GPUs of one pod (limits of its containers) and the product it is pinned to."""
    gpus = 0
    for container in pod_spec.get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        gpus += int(limits.get(GPU_RESOURCE, 0) or 0)
    return gpus, (pod_spec.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL)


def _pytorchjob_gpus(spec: dict[str, Any]) -> tuple[int, str | None]:
    total, gpu_type = 0, None
    for replica in (spec.get("pytorchReplicaSpecs") or {}).values():
        gpus, product = _pod_gpus(((replica.get("template") or {}).get("spec")) or {})
        total += gpus * int(replica.get("replicas", 1))
        gpu_type = gpu_type or product
    return total, gpu_type


def template_gpus(template: dict[str, Any]) -> tuple[int, str | None]:
    """GPUs of one Argo template's pod (its container or script) and the product it is pinned to."""
    body = template.get("container") or template.get("script") or {}
    gpus, _ = _pod_gpus({"containers": [body]})
    return gpus, (template.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL)


def _workflow_gpus(spec: dict[str, Any]) -> tuple[int, str | None]:
    best: tuple[int, str | None] = (0, None)
    for template in spec.get("templates") or []:
        found = template_gpus(template)
        if found[0] > best[0]:
            best = found
    return best


def _trial_gpus(trial_spec: dict[str, Any]) -> tuple[int, str | None]:
    kind, spec = trial_spec.get("kind"), trial_spec.get("spec") or {}
    if kind == "PyTorchJob":
        return _pytorchjob_gpus(spec)
    if kind == "Workflow":
        return _workflow_gpus(spec)
    if kind == "Job":
        return _pod_gpus(((spec.get("template") or {}).get("spec")) or {})
    return 0, None
