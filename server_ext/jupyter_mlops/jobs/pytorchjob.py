"""``PyTorchJob``: a distributed PyTorch training run (kubeflow.org/v1, Training Operator)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlops_contract import jobs
from mlops_contract.queueing import JOB

from . import podspec
from .entrypoint import attach_snapshot
from .errors import InvalidSpec
from .kind import CANCELLED, JobKind
from .resources import PYTORCHJOBS
from .settings import NotebookPod
from .snapshot import Snapshot, SnapshotRef
from .workload import Workload

CONTAINER = "pytorch"
"""The Training Operator requires this container name."""


@dataclass
class PyTorchJob(Workload):
    """A PyTorchJob: ``replicas`` pods (one Master, the rest Workers), each with ``gpus`` GPUs.

    ``command`` runs in ``snapshot``'s copy of the working directory on
    ``image`` (default: the notebook's own image); the pod fields (``gpus``,
    ``gpu_type``, ``cpu``, ``memory``, ``image``, ``env``) are ``Workload``'s::

        job = PyTorchJob(command="python train.py --epochs 3", replicas=2, gpus=1,
                         gpu_type="NVIDIA-A100-SXM4-80GB")
        handle = client.submit(job)   # or job.submit() from jupyter_mlops.jobs
    """

    command: list[str] | str
    name: str | None = None
    """Job name; a unique one is generated when omitted."""
    replicas: int = 1
    snapshot: Snapshot | None = field(default_factory=Snapshot)
    """The code to ship; ``None`` runs ``command`` on the image as is."""
    nproc_per_node: int | None = None
    """Processes per pod; above 1 only with a ``torchrun`` command, which starts them."""
    backoff_limit: int = 3
    """Restarts of crashed replicas (all together) after which the job fails."""

    kind = "pytorchjob"

    def validate(self, notebook: NotebookPod | None = None) -> None:
        """Check and normalise the fields (``notebook``: what the job's pods inherit)."""
        podspec.check_name(self.name)
        self.command = podspec.check_command(self.command)
        podspec.check_int(self.replicas, "replicas", 1, 1024)
        podspec.check_int(self.backoff_limit, "backoff_limit", 0, 100)
        if self.nproc_per_node is not None:
            podspec.check_int(self.nproc_per_node, "nproc_per_node", 1, 64)
            if self.nproc_per_node > 1 and not starts_torchrun(self.command):
                raise InvalidSpec(
                    "nproc_per_node",
                    f"{self.nproc_per_node} processes per pod are started only by torchrun: "
                    f"run the command with it (e.g. 'torchrun train.py'), or leave "
                    f"nproc_per_node unset; otherwise the job waits forever for "
                    f"{self.replicas * self.nproc_per_node} ranks of which only "
                    f"{self.replicas} start",
                )
        self.validate_workload(notebook or NotebookPod())

    def gpu_request(self) -> tuple[str | None, int, int]:
        """(GPU type, GPUs per pod, pods) for the availability check."""
        return self.gpu_type, self.gpus, self.replicas

    def to_manifest(
        self,
        namespace: str,
        snapshot: SnapshotRef | None = None,
        notebook: NotebookPod | None = None,
    ) -> dict:
        notebook = notebook or NotebookPod()
        # Kueue admits a PyTorchJob whole: no replica holds a GPU until all of them fit.
        labels = podspec.queue_labels(notebook, self.gpus, JOB)
        return {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": podspec.metadata(self.name, "pytorchjob", namespace, labels),
            "spec": self.job_spec(snapshot, notebook),
        }

    def job_spec(self, snapshot: SnapshotRef | None, notebook: NotebookPod, command: list[str] | None = None) -> dict:
        """The PyTorchJob ``spec`` (also the trial template of a sweep, whose ``command``
        replaces ours and unpacks the snapshot itself: ``trial_command``)."""
        container = self.container(CONTAINER, command or self.command, notebook)
        spec = self.pod_spec([container], notebook)
        if snapshot is not None:
            spec = attach_snapshot(spec, snapshot, wrap_commands=command is None)
        template = {"metadata": podspec.pod_metadata(notebook), "spec": spec}
        replica_specs = {"Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template}}
        if self.replicas > 1:
            replica_specs["Worker"] = {
                "replicas": self.replicas - 1,
                "restartPolicy": "OnFailure",
                "template": template,
            }
        # The kubelet restarts a crashed replica in place (OnFailure); without a
        # backoffLimit the operator never counts those restarts and the job would
        # run forever. Once it fails, "Running" deletes the pods still crash-looping
        # (freeing their GPUs) and keeps the finished ones with their logs.
        run_policy = {"cleanPodPolicy": "Running", "backoffLimit": self.backoff_limit}
        body: dict = {"pytorchReplicaSpecs": replica_specs, "runPolicy": run_policy}
        if self.nproc_per_node:
            body["nprocPerNode"] = str(self.nproc_per_node)
        return body


class PyTorchJobKind(JobKind):
    contract = jobs.PYTORCHJOB
    collection = "pytorchjobs"
    resource = PYTORCHJOBS
    pod_label = "training.kubeflow.org/job-name"
    primary_container = CONTAINER
    part_noun = "replica"

    def part_of_pod(self, pod: dict) -> str:
        labels = pod["metadata"].get("labels") or {}
        kind = labels.get("training.kubeflow.org/replica-type")
        index = labels.get("training.kubeflow.org/replica-index")
        if kind is None or index is None:
            return pod["metadata"]["name"]
        return f"{kind.lower()}-{index}"

    def parts(self, obj: dict, pods: list[dict], client) -> list[dict]:
        # Replicas without a pod (not created yet, or cleaned up once the job
        # ended) still show, with the phase the operator's replica counts give.
        by_name = {self.part_of_pod(p): self.pod_part(p) for p in pods}
        counts = (obj.get("status") or {}).get("replicaStatuses") or {}
        for replica_type, spec in (obj.get("spec", {}).get("pytorchReplicaSpecs") or {}).items():
            phases = phases_from_counts(counts.get(replica_type) or {}, int(spec.get("replicas", 1)))
            for index, phase in enumerate(phases):
                by_name.setdefault(
                    f"{replica_type.lower()}-{index}",
                    {
                        "name": f"{replica_type.lower()}-{index}",
                        "pod": None,
                        "phase": phase,
                        "node": None,
                    },
                )
        return sorted(by_name.values(), key=lambda p: (not p["name"].startswith("master"), p["name"]))

    def cancel_patch(self, obj: dict) -> dict:
        # runPolicy.suspend makes the Training Operator delete the pods and keep the job.
        return {
            "metadata": {"annotations": {CANCELLED: "true"}},
            "spec": {"runPolicy": {"suspend": True}},
        }

    def resubmit_manifest(self, obj: dict) -> dict:
        manifest = super().resubmit_manifest(obj)
        manifest["spec"].setdefault("runPolicy", {}).pop("suspend", None)
        return manifest


def starts_torchrun(command: list[str]) -> bool:
    """Whether ``command`` runs torchrun (directly, as ``python -m torch.distributed.run``,
    or inside a shell script)."""
    words = " ".join(command)
    return bool(re.search(r"(^|[\s/;&|])torchrun(\s|$)|-m\s+torch\.distributed\.run\b", words))


def phases_from_counts(counts: dict, replicas: int) -> list[str]:
    """A phase for each of ``replicas`` indices from a ``replicaStatuses`` entry
    (``succeeded``, ``failed``, ``active``). The counts say how many, not which
    index: finished replicas come first, the rest are Pending."""
    phases = (
        ["Succeeded"] * int(counts.get("succeeded") or 0)
        + ["Failed"] * int(counts.get("failed") or 0)
        + ["Running"] * int(counts.get("active") or 0)
    )
    return (phases + ["Pending"] * replicas)[:replicas]
