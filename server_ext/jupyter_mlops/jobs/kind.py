"""What the jobs API must know about each kind of job.

A ``JobKind`` subclass (one per kind, next to its spec class) reads the job's
parts (replicas, trials, steps) and its pods from the objects the controllers
write. Its name, resource and state are the contract's (``mlops_contract.jobs``),
the same the hub counts in its metrics.
"""

from __future__ import annotations

import copy

from mlops_contract import jobs

from .resources import Resource

STATES = jobs.STATES
FINISHED = jobs.FINISHED
CANCELLED = jobs.CANCELLED_ANNOTATION
"""Annotation set by ``cancel``; a controller-independent record that the user stopped the job."""
SNAPSHOT_ANNOTATION = "jupyterhub-mlops/snapshot"
"""Annotation naming the job's snapshot ConfigMap (read by resubmit)."""
# Fields a controller or the API server sets; dropped when a job is resubmitted.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
)


class JobKind:
    contract: jobs.JobKind
    """Name, resource, state and requested GPUs, as both sides read them."""
    resource: Resource
    """The contract's resource, with the URL paths the client needs."""
    collection: str
    """The REST path segment: ``pytorchjobs``."""
    pod_label: str
    """Label the controller puts on the job's pods, valued with the job's name."""
    primary_container: str
    log_containers: tuple[str, ...] = ()
    """The containers whose log is a part's log, in order of preference (before
    ``primary_container``); e.g. where a controller moves the output."""
    part_noun: str
    """What a part is called: replica, trial, step."""
    name_limit: int = 47
    """The longest name a resubmitted copy may get (its controller's limit, or ours)."""

    @property
    def name(self) -> str:
        """Singular, as the Python API and REST bodies spell it: ``pytorchjob``."""
        return self.contract.name

    # ---------------------------------------------------------------- state
    def state(self, obj: dict) -> tuple[str, str]:
        """(one of STATES, a human message)."""
        return self.contract.state(obj)

    def summary(self, obj: dict) -> dict:
        """What a list shows: identity, state, times and GPUs asked for; no extra API calls."""
        meta, status = obj.get("metadata", {}), obj.get("status") or {}
        state, message = self.state(obj)
        return {
            "kind": self.name,
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "state": state,
            "message": message,
            "created": meta.get("creationTimestamp"),
            "started": status.get("startTime") or status.get("startedAt"),
            "finished": status.get("completionTime") or status.get("finishedAt"),
            **self.requested_gpus(obj),
        }

    # ---------------------------------------------------------------- parts
    def own_pods(self, pods: list[dict]) -> list[dict]:
        """Of the pods wearing ``pod_label``, those that run the job's parts."""
        return pods

    def part_of_pod(self, pod: dict) -> str:
        """Which replica, trial or step a pod runs."""
        return pod["metadata"]["name"]

    def parts(self, obj: dict, pods: list[dict], client) -> list[dict]:
        """Replicas, trials or steps with their state; may read more objects through ``client``
        (the ``JobsClient``)."""
        return [self.pod_part(pod) for pod in pods]

    def detail(self, obj: dict, pods: list[dict], client) -> dict:
        """What a job's detail adds to its summary: ``part_noun`` and ``parts``."""
        return {"part_noun": self.part_noun, "parts": self.parts(obj, pods, client)}

    def pod_part(self, pod: dict) -> dict:
        return {
            "name": self.part_of_pod(pod),
            "pod": pod["metadata"]["name"],
            "phase": (pod.get("status") or {}).get("phase", "Pending"),
            "node": (pod.get("spec") or {}).get("nodeName"),
        }

    def requested_gpus(self, obj: dict) -> dict:
        """``{"gpus", "gpu_type"}``: the GPUs the job holds at most at once and their
        product (``gpu_type`` None when it takes any type, or no GPU), counted as the
        hub counts them (``mlops_contract.jobs``)."""
        gpus, gpu_type = self.contract.requested_gpus(obj)
        return {"gpus": gpus, "gpu_type": gpu_type}

    def event_sources(self, handle, pods: list[dict]) -> set[str]:
        """Names of the objects whose Kubernetes events are the job's: the job and its pods."""
        return {handle.name} | {p["metadata"]["name"] for p in pods}

    # -------------------------------------------------------------- actions
    def create(self, client, manifest: dict) -> dict:
        """Create the job's object as ``client``'s identity; the object as the server answered."""
        return client.kube.create(self.resource, manifest)

    def cancel_patch(self, obj: dict) -> dict:
        """Merge patch that stops the job but keeps it (and its logs) around."""
        raise NotImplementedError

    def resubmit_manifest(self, obj: dict) -> dict:
        """A fresh copy of ``obj`` to create again: same spec, new name, no status."""
        manifest = {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "metadata": copy.deepcopy(obj["metadata"]),
            "spec": copy.deepcopy(obj["spec"]),
        }
        meta = manifest["metadata"]
        for key in _SERVER_METADATA:
            meta.pop(key, None)
        base = meta.pop("name")
        meta.pop("generateName", None)
        # The API server appends 5 random characters to generateName.
        meta["generateName"] = f"{base.split('--', 1)[0][: self.name_limit - 7]}--"
        annotations = meta.get("annotations") or {}
        annotations.pop(CANCELLED, None)
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        meta["annotations"] = annotations
        return manifest
