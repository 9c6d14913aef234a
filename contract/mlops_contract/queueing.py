"""Kueue's names as the suite uses them, for the hub side and the notebook side.

GPUs are handed out in line by Kueue. Each JupyterHub group has two
ClusterQueues in one cohort, ``COHORT``: the group's quota
(``cluster_queue_name``), which notebooks use and never exceed, and a batch
queue (``batch_queue_name``) with no quota of its own, where jobs and sweep
trials borrow whatever GPUs are idle in the cohort and give them back, by
preemption, when their owner's notebook or job arrives. Every user namespace
has a LocalQueue for each: ``NOTEBOOK_QUEUE`` and ``LOCAL_QUEUE``. A workload
joins a line by carrying ``QUEUE_NAME_LABEL``, and its class by
``PRIORITY_CLASS_LABEL``: notebooks above jobs above sweep trials
(``WORKLOAD_PRIORITY_CLASSES``). Only
GPUs are queued: CPU and memory are the scheduler's business (the Kueue
configuration excludes them), so a workload without GPUs is never labelled.

A GPU type is a ResourceFlavor named by ``resource_flavor_name`` whose node
label is the GPU Operator's product label. Pure and stdlib-only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_VERSION = "v1beta2"
"""The Kueue API both sides read and write (Kueue v0.19's storage version)."""
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
"""Kueue's visibility API (an aggregated API), same version: where a workload stands in line."""
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
"""Kueue's label on a Workload: the UID of the pod or job it stands for."""
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
"""The label that puts a workload (a pod, a Job, a PyTorchJob) in a LocalQueue."""
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
"""The label naming a workload's WorkloadPriorityClass."""
ADMISSION_GATE = "kueue.x-k8s.io/admission"
"""The scheduling gate Kueue puts on a queued pod and lifts when it admits it."""
WAITING_IN_LINE = "waiting in Kueue's line for its GPUs"
"""What a Queued job or workflow step says before Kueue says why."""

LOCAL_QUEUE = "gpus"
"""The LocalQueue of jobs, workflow steps and sweep trials in every user namespace."""
NOTEBOOK_QUEUE = "notebooks"
"""The LocalQueue of notebook servers in every user namespace."""
COHORT = "jupyterhub-mlops"
"""The cohort of every group's ClusterQueue: idle quota is lent within it."""
SHARED_GROUP = "everyone"
"""The ClusterQueue of users in no group with a quota (its quota: the GPUs no group holds)."""


@dataclass(frozen=True)
class WorkloadClass:
    name: str
    """The WorkloadPriorityClass's name (value of ``PRIORITY_CLASS_LABEL``)."""
    value: int
    description: str


NOTEBOOK = WorkloadClass("jupyterhub-mlops-notebook", 1000, "Interactive notebook servers: never preempted.")
JOB = WorkloadClass("jupyterhub-mlops-job", 100, "Training jobs and workflow steps.")
TRIAL = WorkloadClass("jupyterhub-mlops-trial", 10, "Hyperparameter sweep trials: the first to yield.")
WORKLOAD_PRIORITY_CLASSES = (NOTEBOOK, JOB, TRIAL)
"""Highest first. Every ClusterQueue preempts only lower priorities, so the
highest class, notebooks, is never preempted."""

_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_MAX_NAME = 63


def _dns_name(prefix: str, raw: str) -> str:
    """``prefix-raw`` when that is a DNS label, else a readable stem and a hash of ``raw``."""
    plain = f"{prefix}-{raw}"
    if len(plain) <= _MAX_NAME and _DNS_LABEL.fullmatch(plain) and "--" not in raw:
        return plain
    digest = hashlib.sha256(raw.encode("utf8")).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    stem = stem[: _MAX_NAME - len(prefix) - len(digest) - 4].rstrip("-")
    return f"{prefix}-{stem}--{digest}" if stem else f"{prefix}--{digest}"


def cluster_queue_name(group: str) -> str:
    """The ClusterQueue holding a JupyterHub group's quota (``SHARED_GROUP``: users in none)."""
    return _dns_name("jupyterhub-mlops", group)


def batch_queue_name(group: str) -> str:
    """The ClusterQueue of a group's jobs and trials, which borrow idle GPUs of the cohort."""
    return _dns_name("jupyterhub-mlops-batch", group)


def resource_flavor_name(gpu_product: str) -> str:
    """The ResourceFlavor of a GPU type, given its ``nvidia.com/gpu.product`` value."""
    return _dns_name("gpu", gpu_product)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def place_phrase(position: int | None) -> str:
    """ "3rd in line", or what is said before Kueue has ranked a workload."""
    return f"{ordinal(position)} in line" if position else "waiting for its place in line"


def is_gated(pod: Mapping | None) -> bool:
    """Whether Kueue still holds the pod back (its admission gate is on)."""
    gates = ((pod or {}).get("spec") or {}).get("schedulingGates") or ()
    return any(gate.get("name") == ADMISSION_GATE for gate in gates)


def waiting_reason(workload: Mapping) -> str:
    """Why Kueue holds a Workload, in Kueue's words: its ``QuotaReserved`` condition while
    false ("" when Kueue has said nothing yet)."""
    for condition in (workload.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "QuotaReserved" and condition.get("status") == "False":
            return condition.get("message") or condition.get("reason") or ""
    return ""


def ranks(pending: Mapping | None) -> dict[str, int | None]:
    """Workload name -> its place in its ClusterQueue's line, counted from 1, from a
    ``pendingworkloads`` document of the visibility API (None where Kueue gave none)."""
    out: dict[str, int | None] = {}
    for item in (pending or {}).get("items") or []:
        name = (item.get("metadata") or {}).get("name")
        position = item.get("positionInClusterQueue")
        if name:
            out[name] = position + 1 if isinstance(position, int) else None
    return out
