"""What the jobs API must know about each kind of job, and the state vocabulary they share.

Every kind reports one of ``STATES``; ``JobKind`` subclasses (one per kind,
next to its spec class) read that state, the job's parts (replicas, trials,
steps) and its pods from the objects the controllers write.
"""

from __future__ import annotations

import copy

from .gpus import requested_gpus
from .resources import Resource

STATES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
FINISHED = ("Succeeded", "Failed", "Cancelled")
CANCELLED = "jupyterhub-mlops/cancelled"
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
    name: str
    """Singular, as the Python API and REST bodies spell it: ``pytorchjob``."""
    collection: str
    """The REST path segment: ``pytorchjobs``."""
    resource: Resource
    pod_label: str
    """Label the controller puts on the job's pods, valued with the job's name."""
    primary_container: str
    part_noun: str
    """What a part is called: replica, trial, step."""

    # ---------------------------------------------------------------- state
    def state(self, obj: dict) -> tuple[str, str]:
        """(one of STATES, a human message)."""
        state, message = self.controller_state(obj)
        annotations = obj.get("metadata", {}).get("annotations") or {}
        if CANCELLED in annotations and state not in ("Succeeded", "Failed"):
            return "Cancelled", message or "cancelled by the user"
        return state, message

    def controller_state(self, obj: dict) -> tuple[str, str]:
        raise NotImplementedError

    @staticmethod
    def condition_state(obj: dict, mapping: dict[str, str]) -> tuple[str, str]:
        """State from the last true condition (the Kubeflow controllers' convention)."""
        conditions = [
            c
            for c in (obj.get("status") or {}).get("conditions") or []
            if c.get("status") == "True" and c.get("type") in mapping
        ]
        if not conditions:
            return "Pending", ""
        last = conditions[-1]
        return mapping[last["type"]], last.get("message") or last.get("reason") or ""

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
            **requested_gpus(self.name, obj),
        }

    # ---------------------------------------------------------------- parts
    def part_of_pod(self, pod: dict) -> str:
        """Which replica, trial or step a pod runs."""
        return pod["metadata"]["name"]

    def parts(self, obj: dict, pods: list[dict], client) -> list[dict]:
        """Replicas, trials or steps with their state; may read more objects through ``client``."""
        return [self.pod_part(pod) for pod in pods]

    def pod_part(self, pod: dict) -> dict:
        return {
            "name": self.part_of_pod(pod),
            "pod": pod["metadata"]["name"],
            "phase": (pod.get("status") or {}).get("phase", "Pending"),
            "node": (pod.get("spec") or {}).get("nodeName"),
        }

    # -------------------------------------------------------------- actions
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
        meta["generateName"] = f"{base.split('--', 1)[0][:40]}--"
        annotations = meta.get("annotations") or {}
        annotations.pop(CANCELLED, None)
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        meta["annotations"] = annotations
        return manifest
