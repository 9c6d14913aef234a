"""``QueueSync``: Kueue's cluster objects kept in step with the group quotas and the GPUs.

With ``GpuProfiles.queue_with_kueue`` the availability service, which owns the
GPU inventory, is the one writer of the suite's cluster-scoped Kueue objects
(``jupyterhub_mlops.queues.cluster_objects``): a ResourceFlavor per GPU type
the cluster has, each group's ClusterQueues with its quota split over those
types, and the priority classes. It applies them (server-side apply, one
field manager) when it starts and whenever the GPUs per type change: a server
that joins, leaves, is cordoned or comes back.

Quotas that promise more GPUs than the cluster has are not applied, nor
quotas below what a group's running notebooks hold (``queues.stranded``): the
error says what to change, once per distinct error, and the objects last
applied stay. Objects the suite no longer wants (a GPU type that left) are not deleted:
Kueue refuses to drop a flavor a ClusterQueue still names, and a queue
emptied by the new quotas holds nothing anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from mlops_contract.placement import GPU_RESOURCE

from ..inventory.state import GpuInventory
from ..profiles import GpuProfiles
from ..queues import KUEUE_API, MANAGED_BY, QuotaError, cluster_objects, stranded

FIELD_MANAGER = "jupyterhub-mlops"
PLURALS = {
    "Topology": "topologies",
    "ResourceFlavor": "resourceflavors",
    "ClusterQueue": "clusterqueues",
    "WorkloadPriorityClass": "workloadpriorityclasses",
}
RETRY_SECONDS = 10

log = logging.getLogger(__name__)


def gpus_by_type(gpu_types: Mapping[str, dict] | None) -> dict[str, int] | None:
    """Whole GPUs per product on the servers that offer them now (MIG slices and
    shared GPUs are not queued); None while the inventory is not in sync."""
    if gpu_types is None:
        return None
    out: dict[str, int] = {}
    for entry in gpu_types.values():
        if entry["resource"] == GPU_RESOURCE and entry["kind"] == "gpu" and entry["total"]:
            out[entry["product"]] = out.get(entry["product"], 0) + entry["total"]
    return out


class QueueSync:
    def __init__(self, api_client, profiles: GpuProfiles, inventory: GpuInventory, *, timeout: float = 10):
        self.api_client = api_client
        self.profiles = profiles
        self.inventory = inventory
        self.timeout = timeout
        self.applied: list[dict] | None = None
        self.error: str | None = None
        """Why the wanted objects could not be applied (None when they are)."""
        self._changed = asyncio.Event()

    @property
    def on_change(self) -> Callable[[], None]:
        """For ``InventoryWatcher.on_change``: look again after every inventory change."""
        return self._changed.set

    def wanted(self) -> list[dict] | None:
        counts = gpus_by_type(self.inventory.snapshot().gpu_types())
        if not counts:
            return None
        return cluster_objects(self.profiles.group_gpu_quotas, counts)

    async def sync_once(self) -> None:
        try:
            wanted = self.wanted()
        except QuotaError as exc:
            if self.error != str(exc):
                log.error("Kueue's quotas left as they were: %s", exc)
            self.error = str(exc)
            return
        if wanted is None or wanted == self.applied:
            return
        refusals = stranded(wanted, await self.current_queues())
        if refusals:
            error = "quota edits refused: " + "; ".join(refusals) + "."
            if self.error != error:
                log.error("Kueue's quotas left as they were: %s", error)
            self.error = error
            return
        await self.apply(wanted)
        self.applied, self.error = wanted, None
        log.info("Kueue objects applied: %d (%s)", len(wanted), ", ".join(o["metadata"]["name"] for o in wanted))

    async def current_queues(self) -> list[dict]:
        """The suite's ClusterQueues as the cluster has them, with Kueue's usage."""
        from kubernetes_asyncio import client as k8s

        group, version = KUEUE_API.split("/")
        found = await k8s.CustomObjectsApi(self.api_client).list_cluster_custom_object(
            group,
            version,
            "clusterqueues",
            label_selector=",".join(f"{k}={v}" for k, v in MANAGED_BY.items()),
            _request_timeout=self.timeout,
        )
        return found.get("items") or []

    async def apply(self, objects: list[dict]) -> None:
        from kubernetes_asyncio import client as k8s

        custom = k8s.CustomObjectsApi(self.api_client)
        group, version = KUEUE_API.split("/")
        for obj in objects:
            await custom.patch_cluster_custom_object(
                group,
                version,
                PLURALS[obj["kind"]],
                obj["metadata"]["name"],
                obj,
                field_manager=FIELD_MANAGER,
                force=True,
                # Server-side apply; the generated client takes the content type at run
                # time, though its signature does not list it.
                _content_type="application/apply-patch+yaml",  # type: ignore[call-arg]
                _request_timeout=self.timeout,
            )

    async def run(self) -> None:
        """Sync now and after every change, until cancelled; an API error is retried."""
        self._changed.set()
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API server refused or was away: try again
                log.error("applying Kueue's objects failed, retrying in %ss: %s", RETRY_SECONDS, exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._changed.set()
