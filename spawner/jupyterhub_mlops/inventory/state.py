"""``GpuInventory``: per-node accounting kept up to date one watch event at a time.

The inventory holds a slim record per Node and per Pod and, per node, the sum
of the requests of the pods bound to it that hold resources. Each event costs
a dictionary lookup and a few additions; nothing is recomputed from scratch.
Readers take a ``snapshot()``: an immutable, versioned view that makes no
API-server call and is built once per version.

Not thread-safe: one asyncio loop owns it (see ``watch.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from mlops_contract.labels import OWNER_LABEL
from mlops_contract.placement import GPU_TOLERATION

from .accounting import (
    NodeRecord,
    Requests,
    free_resources,
    is_gpu_resource,
    node_offers,
    pod_holds_resources,
    pod_requests,
    queued_gpu_type,
)


class PodRecord:
    """What the inventory keeps of a Pod (``__slots__``: 150,000 of them must fit in
    a few dozen MB)."""

    __slots__ = ("node", "requests", "holds", "owner", "queued")

    def __init__(self, node: str, requests: Requests, holds: bool, owner: str | None, queued: str | None = None):
        self.node = node
        self.requests = requests
        self.holds = holds
        self.owner = owner
        self.queued = queued
        """The GPU type id the pod waits for in Kueue's line (``queued_gpu_type``)."""


class PendingPod(NamedTuple):
    """An owned pod (it carries the owner label) that no node holds yet: what
    it asks for and where it may go, so that it keeps its GPUs set aside
    until the scheduler binds it."""

    owner: str
    requests: Requests
    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Mapping, ...]


def pending_pod(pod: Mapping, owner: str, requests: Requests) -> PendingPod:
    spec = pod.get("spec") or {}
    return PendingPod(
        owner,
        requests,
        tuple(sorted((spec.get("nodeSelector") or {}).items())),
        tuple(dict(t) for t in spec.get("tolerations") or ()),
    )


def slim_pod(pod: Mapping) -> PodRecord:
    spec = pod.get("spec") or {}
    labels = (pod.get("metadata") or {}).get("labels") or {}
    requests = pod_requests(spec)
    return PodRecord(
        spec.get("nodeName") or "",
        requests,
        pod_holds_resources(pod),
        labels.get(OWNER_LABEL),
        queued_gpu_type(pod, requests),
    )


def pod_key(pod: Mapping) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


@dataclass(frozen=True)
class NodeView:
    """One node in a snapshot: its record, what it offers (reason when nothing)
    under the inventory's default tolerations, and its free resources."""

    record: NodeRecord
    unavailable_reason: str | None
    free: Mapping[str, int]
    used: Mapping[str, int]


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of the inventory at one ``version``.

    When ``in_sync`` is false the watch has lost the stream and the numbers
    must be reported as unknown (``gpu_types()`` returns ``None`` then).
    """

    version: int
    in_sync: bool
    taken_at: float
    nodes: tuple[NodeView, ...]
    pods_by_owner: Mapping[str, tuple[tuple[str, str, Requests, bool], ...]] = field(default_factory=dict)
    """owner label value -> ``(pod key, node, requests, holds)`` for every pod
    carrying the owner label that has not finished (bound or pending)."""
    pending: Mapping[str, PendingPod] = field(default_factory=dict)
    """pod key -> the owned pods no node holds yet (see ``PendingPod``)."""
    queued: Mapping[str, int] = field(default_factory=dict)
    """GPU type id -> pods waiting in Kueue's line for it (``queued_gpu_type``)."""

    def gpu_types(self) -> dict[str, dict] | None:
        """Per GPU type: total, free and held GPUs on the nodes that offer them,
        the largest number free on one node and the free count of every node
        that offers the type, the size of the largest node, GPUs on nodes that
        offer nothing now, the pods waiting in Kueue's line for the type
        (``queued``) and every node with the type (``servers``: its GPUs, how
        many are free, and why it offers nothing, or null). ``None`` when not
        in sync."""
        if not self.in_sync:
            return None
        out: dict[str, dict] = {}
        for view in self.nodes:
            for gpu in view.record.gpu_types:
                entry = out.setdefault(
                    gpu.id,
                    {
                        "id": gpu.id,
                        "resource": gpu.resource,
                        "product": gpu.product,
                        "memory_mib": gpu.memory_mib,
                        "kind": gpu.kind,
                        "total": 0,
                        "free": 0,
                        "held": 0,
                        "largest_free_on_node": 0,
                        "largest_node": 0,
                        "nodes": 0,
                        "unavailable": 0,
                        "free_per_node": [],
                        "queued": self.queued.get(gpu.id, 0),
                        "servers": [],
                    },
                )
                allocatable = view.record.allocatable.get(gpu.resource, 0)
                # Unavailable GPUs are listed with the reason, never counted as free.
                free = 0 if view.unavailable_reason is not None else view.free.get(gpu.resource, 0)
                server = {"node": view.record.name, "total": allocatable, "free": free}
                entry["servers"].append({**server, "unavailable": view.unavailable_reason})
                if view.unavailable_reason is not None:
                    entry["unavailable"] += allocatable
                    continue
                entry["nodes"] += 1
                entry["total"] += allocatable
                entry["free"] += free
                entry["held"] += min(allocatable, view.used.get(gpu.resource, 0))
                entry["largest_free_on_node"] = max(entry["largest_free_on_node"], free)
                # A pod's GPUs must all be on one node: clients pack shapes onto these.
                entry["free_per_node"].append(free)
                entry["largest_node"] = max(entry["largest_node"], allocatable)
        for entry in out.values():
            entry["free_per_node"].sort(reverse=True)  # the same document however built
            entry["servers"].sort(key=lambda server: server["node"])
        return out


class GpuInventory:
    """Nodes and pods, kept by ``apply_node``/``apply_pod`` (one watch event each).

    ``in_sync`` is maintained by the watcher: false until the first list has
    been applied and whenever a watch stream is lost.
    """

    def __init__(self, tolerations: Iterable[Mapping] = (GPU_TOLERATION,)):
        """``tolerations``: those of GPU pods (``GpuProfiles.gpu_tolerations``); a node
        whose NoSchedule/NoExecute taints they do not tolerate offers nothing."""
        self.tolerations = tuple(tolerations)
        self.nodes: dict[str, NodeRecord] = {}
        self.pods: dict[str, PodRecord] = {}
        self.used: dict[str, dict[str, int]] = {}
        """node name -> summed requests of the holding pods bound to it (also for
        nodes not seen yet: a pod's event may arrive before its node's)."""
        self.pending: dict[str, PendingPod] = {}
        """pod key -> owned pods waiting for a node (a few: the spawns in flight)."""
        self.queued: dict[str, str] = {}
        """pod key -> GPU type id of the pods Kueue holds back (the line, not the fleet)."""
        self.version = 0
        self._in_sync = {"nodes": False, "pods": False}
        self._snapshot: Snapshot | None = None

    # --------------------------------------------------------------- sync
    @property
    def in_sync(self) -> bool:
        return all(self._in_sync.values())

    def set_in_sync(self, kind: str, value: bool) -> None:
        if self._in_sync[kind] != value:
            self._in_sync[kind] = value
            self.version += 1

    # ------------------------------------------------------------- events
    def apply_node(self, event_type: str, node: Mapping) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        if event_type == "DELETED":
            if self.nodes.pop(name, None) is not None:
                self.version += 1
            return
        record = NodeRecord.from_node(node)
        if self.nodes.get(name) != record:
            self.nodes[name] = record
            self.version += 1

    def apply_pod(self, event_type: str, pod: Mapping) -> None:
        key = pod_key(pod)
        old = self.pods.get(key)
        if event_type == "DELETED":
            if old is not None:
                del self.pods[key]
                self._charge(old, -1)
                self.pending.pop(key, None)
                self.queued.pop(key, None)
                self.version += 1
            return
        new = slim_pod(pod)
        if old is not None:
            if (
                old.node == new.node
                and old.requests is new.requests
                and old.holds == new.holds
                and old.owner == new.owner
                and old.queued == new.queued
            ):
                return  # a status heartbeat: nothing the inventory counts changed
            self._charge(old, -1)
        self.pods[key] = new
        self._charge(new, +1)
        if new.owner is not None and not new.node and new.queued is None:
            # A pod waiting for a node claims its GPUs; one waiting in Kueue's line
            # holds none until Kueue admits it (then it claims, until it is bound).
            self.pending[key] = pending_pod(pod, new.owner, new.requests)
        elif self.pending:
            self.pending.pop(key, None)
        if new.queued is not None:
            self.queued[key] = new.queued
        elif self.queued:
            self.queued.pop(key, None)
        self.version += 1

    def _charge(self, record: PodRecord, sign: int) -> None:
        if not record.holds:
            return
        used = self.used.get(record.node)
        if used is None:
            used = self.used[record.node] = {}
        for resource, amount in record.requests:
            used[resource] = used.get(resource, 0) + sign * amount

    # -------------------------------------------------------------- relist
    def replace_nodes(self, nodes: Iterable[Mapping]) -> None:
        """A fresh list: forget nodes that are gone, take the listed ones."""
        seen = set()
        for node in nodes:
            seen.add((node.get("metadata") or {}).get("name", ""))
            self.apply_node("MODIFIED", node)
        for name in set(self.nodes) - seen:
            self.apply_node("DELETED", {"metadata": {"name": name}})

    def replace_pods(self, pods: Iterable[Mapping]) -> None:
        seen = set()
        for pod in pods:
            seen.add(pod_key(pod))
            self.apply_pod("MODIFIED", pod)
        for key in set(self.pods) - seen:
            namespace, _, name = key.partition("/")
            self.apply_pod("DELETED", {"metadata": {"namespace": namespace, "name": name}})

    # ------------------------------------------------------------ reading
    def snapshot(self) -> Snapshot:
        """The view at the current version (built once per version)."""
        if self._snapshot is not None and self._snapshot.version == self.version:
            return self._snapshot
        views = []
        for name, record in self.nodes.items():
            used = dict(self.used.get(name, {}))
            views.append(
                NodeView(
                    record,
                    node_offers(record, self.tolerations),
                    free_resources(record, used),
                    used,
                )
            )
        by_owner: dict[str, list] = {}
        for key, pod in self.pods.items():
            if pod.owner is not None and (pod.holds or not pod.node):
                by_owner.setdefault(pod.owner, []).append((key, pod.node, pod.requests, pod.holds))
        self._snapshot = Snapshot(
            self.version,
            self.in_sync,
            time.time(),
            tuple(views),
            {o: tuple(p) for o, p in by_owner.items()},
            dict(self.pending),
            dict(Counter(self.queued.values())),
        )
        return self._snapshot

    def gpus_held_by_owner(self) -> dict[str, dict[str, int]]:
        """owner -> GPU resource -> GPUs requested by their unfinished pods."""
        out: dict[str, dict[str, int]] = {}
        for owner, pods in self.snapshot().pods_by_owner.items():
            for _key, _node, requests, _holds in pods:
                for resource, amount in requests:
                    if is_gpu_resource(resource):
                        held = out.setdefault(owner, {})
                        held[resource] = held.get(resource, 0) + amount
        return out
