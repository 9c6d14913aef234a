"""Where a queued notebook stands in Kueue's line, in a sentence for the progress page.

A GPU notebook pod carries the notebooks LocalQueue's label (``queue_labels``);
Kueue's pod webhook gates it (``ADMISSION_GATE``) and makes a Workload for it,
which waits in the ClusterQueue of the user's group until its GPUs are free.
While the gate is on, the spawner's progress page shows, live:

    Queued: 3rd in line in vision-lab for 2 × NVIDIA-A100-SXM4-80GB.
    Kueue: couldn't assign flavors to pod set main: insufficient unused quota ...

The place comes from Kueue's visibility API (``pendingworkloads`` of the
LocalQueue, an aggregated API of the API server); the reason is the message of
the Workload's ``QuotaReserved`` condition, as Kueue words it. Both are read
with the hub's own identity, which may read Workloads and pending workloads
in user namespaces (helm-values/rbac.yaml). The page's own Stop Server button
cancels: the pod goes, and with it its Workload (Kueue owns it by the pod).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

from mlops_contract.queueing import (
    JOB_UID_LABEL,
    KUEUE_GROUP,
    KUEUE_VERSION,
    NOTEBOOK,
    NOTEBOOK_QUEUE,
    PRIORITY_CLASS_LABEL,
    QUEUE_NAME_LABEL,
    VISIBILITY_GROUP,
    place_phrase,
    ranks,
    waiting_reason,
)


def queue_labels() -> dict[str, str]:
    """The labels that put a GPU notebook pod in its namespace's notebooks LocalQueue."""
    return {QUEUE_NAME_LABEL: NOTEBOOK_QUEUE, PRIORITY_CLASS_LABEL: NOTEBOOK.name}


@dataclass(frozen=True)
class QueuePlace:
    position: int | None
    """1 for first in line in the group's ClusterQueue; None while Kueue has not ranked it yet."""
    reason: str
    """Why Kueue holds it, in Kueue's words ("" when it gave none yet)."""


def place_of(workload: Mapping | None, pending: Mapping | None) -> QueuePlace:
    """The place of ``workload`` in the ``pendingworkloads`` document of its LocalQueue."""
    if workload is None:
        return QueuePlace(None, "")
    return QueuePlace(ranks(pending).get(workload["metadata"]["name"]), waiting_reason(workload))


def queue_message(place: QueuePlace, group: str, gpus: int, gpu_type: str) -> str:
    text = f"Queued: {place_phrase(place.position)} in {group} for {gpus} × {gpu_type}."
    if place.reason:
        text += f" Kueue: {place.reason}"
    return text


def queue_html_message(text: str) -> str:
    """``text`` with a Cancel button that presses the page's own Stop Server button."""
    return (
        f"{html.escape(text)} "
        '<button type="button" class="btn btn-outline-danger btn-sm" data-mlops-cancel-queued '
        "onclick=\"document.getElementById('stop-server-btn').click()\">Cancel</button>"
    )


async def read_place(api_client, namespace: str, pod_uid: str, timeout: float = 10) -> QueuePlace:
    """The pod's place in line, read from its Workload and the visibility API."""
    from kubernetes_asyncio import client as k8s

    custom = k8s.CustomObjectsApi(api_client)
    found = await custom.list_namespaced_custom_object(
        KUEUE_GROUP,
        KUEUE_VERSION,
        namespace,
        "workloads",
        label_selector=f"{JOB_UID_LABEL}={pod_uid}",
        _request_timeout=timeout,
    )
    items = found.get("items") or []
    if not items:
        return QueuePlace(None, "")
    # A subresource path: the generated clients would escape its slash.
    pending = await api_client.call_api(
        f"/apis/{VISIBILITY_GROUP}/{KUEUE_VERSION}/namespaces/{{namespace}}/localqueues/{NOTEBOOK_QUEUE}"
        "/pendingworkloads",
        "GET",
        path_params={"namespace": namespace},
        header_params={"Accept": "application/json"},
        response_types_map={200: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
        _request_timeout=timeout,
    )
    return place_of(items[0], pending)
