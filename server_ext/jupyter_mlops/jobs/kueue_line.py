"""Where a user's queued jobs stand in Kueue's line, and how a queued job leaves it.

When the hub queues GPUs with Kueue (``NotebookPod.kueue_queue``), a GPU job
waits Queued (``mlops_contract.jobs``) until Kueue admits it. Kueue keeps a
Workload per job (owned by it) whose ``QuotaReserved`` condition says why it
waits, and its visibility API ranks the pending ones of a LocalQueue
(``pendingworkloads``, an aggregated API of the API server). Both are read
with the notebook's own identity, which may read them in its namespace only
(the ClusterRole ``jupyterhub-mlops:user``): one list and one ranking per
listing that shows a queued job, nothing when none is queued.

Cancelling a job Kueue manages goes through its Workload too: Kueue starts an
admitted job again if someone else suspends it, so the cancel deactivates the
Workload (``spec.active: false``), Kueue's documented way to take a job out
of the line for good while keeping it.
"""

from __future__ import annotations

from mlops_contract.queueing import (
    JOB_UID_LABEL,
    KUEUE_GROUP,
    KUEUE_VERSION,
    LOCAL_QUEUE,
    QUEUE_NAME_LABEL,
    VISIBILITY_GROUP,
    place_phrase,
    ranks,
    waiting_reason,
)

from .errors import ComponentMissing, NotFound, PermissionDenied
from .resources import Resource

WORKLOADS = Resource(KUEUE_GROUP, KUEUE_VERSION, "workloads", "Workload", "Kueue")
LOCAL_QUEUE_VISIBILITY = Resource(VISIBILITY_GROUP, KUEUE_VERSION, "localqueues", "LocalQueue", "Kueue")


def in_line(obj: dict) -> bool:
    """Whether Kueue manages the job (it carries a queue's label)."""
    return QUEUE_NAME_LABEL in ((obj.get("metadata") or {}).get("labels") or {})


def _owner_uid(workload: dict) -> str | None:
    owners = (workload.get("metadata") or {}).get("ownerReferences") or []
    return owners[0].get("uid") if owners else None


def places(workloads: list[dict], pending: dict) -> dict[str, dict]:
    """Job UID -> ``{"position", "reason"}`` (``mlops_contract.api.QueuePlace``) for every
    workload not yet admitted; ``position`` counts from 1 in the group's queue."""
    ranked = ranks(pending)
    out: dict[str, dict] = {}
    for workload in workloads:
        uid = _owner_uid(workload)
        if uid is None or (workload.get("status") or {}).get("admission"):
            continue
        out[uid] = {"position": ranked.get(workload["metadata"]["name"]), "reason": waiting_reason(workload)}
    return out


def is_queued(summary: dict) -> bool:
    """Whether ``summary`` is of a job waiting in Kueue's line: one that has a place."""
    return summary["state"] == "Queued"


def any_queued(summaries: list[dict]) -> bool:
    """Whether ``with_places`` has anything to read for ``summaries``."""
    return any(is_queued(s) for s in summaries)


def with_places(summaries: list[dict], kube, namespace: str) -> list[dict]:
    """``summaries`` with each Queued job's place in line (``queue``) and a message
    that says it; read only when some job is Queued."""
    if not any_queued(summaries):
        return summaries
    try:
        workloads = kube.list(WORKLOADS, namespace)["items"]
        pending = kube.get(LOCAL_QUEUE_VISIBILITY, f"{LOCAL_QUEUE}/pendingworkloads", namespace)
    except (ComponentMissing, NotFound, PermissionDenied):
        return summaries  # Kueue away or not readable: the state still says Queued
    found = places(workloads, pending)
    out = []
    for summary in summaries:
        place = found.get(summary.get("uid") or "") if is_queued(summary) else None
        if place is not None:
            message = f"Queued: {place_phrase(place['position'])}"
            message += f". Kueue: {place['reason']}" if place["reason"] else ""
            summary = {**summary, "queue": place, "message": message}
        out.append(summary)
    return out


def deactivate(kube, namespace: str, job_uid: str) -> bool:
    """Take the job's Workload out of Kueue's line for good; False when it has none."""
    workloads = kube.list(WORKLOADS, namespace, label_selector=f"{JOB_UID_LABEL}={job_uid}")["items"]
    for workload in workloads:
        kube.patch(WORKLOADS, workload["metadata"]["name"], {"spec": {"active": False}}, namespace=namespace)
    return bool(workloads)
