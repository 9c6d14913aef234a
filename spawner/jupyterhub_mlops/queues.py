"""The suite's Kueue objects, built from the same settings as the hub's GPU quotas.

One source of truth for who may use what: ``GpuProfiles.group_gpu_quotas``.
The same numbers become Kueue's quotas, so jobs, sweeps and notebooks wait in
one line under the same limits:

- a ResourceFlavor per GPU type of the cluster (``resource_flavor``), which
  Kueue pins to the nodes with that ``nvidia.com/gpu.product`` label, and the
  one Topology all of them name (``server_topology``): its only level is the
  server, so Kueue admits a workload only when each of its pods fits on one
  server, not merely in the quota (topology-aware scheduling; see below);
- per group with a quota, two ClusterQueues in one cohort
  (``cluster_queues``): the group's quota, where its notebooks run and which
  they never exceed (``borrowingLimit: 0``), and a batch queue with no quota of
  its own, where the group's jobs and sweep trials borrow whatever GPUs are
  idle in the cohort. The quota (GPUs of all types together) is split over
  the GPU types in proportion to the cluster's GPUs of each type
  (``split_quota``); ``SHARED_GROUP``'s queues hold the GPUs no quota covers;
- two LocalQueues in each user namespace (``local_queues``), pointing at the
  ClusterQueues of the user's group (``queue_group``);
- the three WorkloadPriorityClasses, notebooks above jobs above sweep trials.

Why notebooks never borrow: a notebook is never preempted (preemption only
ever takes a lower priority, and notebooks are the highest), so a GPU lent to
a notebook could not be taken back. Jobs and trials only ever run on lent
GPUs, and yield them (by preemption) when the lending group's notebook
arrives; a job also preempts its own group's trials.

Why a topology: without one, Kueue counts a flavor's GPUs as one pool. A 4-GPU
pod is admitted when 4 of the quota are free, even spread 1 + 1 + 2 over three
servers; it then waits as a Pending pod, holding quota that smaller workloads
could have run on. With every flavor naming the server topology, Kueue tracks
what each node has free (its own workloads and every other pod) and admits
only what a node can hold; it also picks that node, so the scheduler has no
second opinion to disagree with.

Quotas that promise more GPUs than the cluster has are refused
(``QuotaError``): Kueue would then admit notebooks no node can hold, and they
would wait as Pending pods, which is what the queue is there to prevent.
Pure functions, tested as dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mlops_contract.placement import GPU_PRODUCT_LABEL, GPU_RESOURCE
from mlops_contract.queueing import (
    COHORT,
    KUEUE_GROUP,
    KUEUE_VERSION,
    LOCAL_QUEUE,
    NOTEBOOK_QUEUE,
    SHARED_GROUP,
    WORKLOAD_PRIORITY_CLASSES,
    batch_queue_name,
    cluster_queue_name,
    resource_flavor_name,
)

from .profiles import quota_total

KUEUE_API = f"{KUEUE_GROUP}/{KUEUE_VERSION}"
SERVER_TOPOLOGY = "jupyterhub-mlops-servers"
SERVER_LEVEL = "kubernetes.io/hostname"
"""The node label that names a server; the topology's one level."""
MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyterhub-mlops"}
GROUP_ANNOTATION = "jupyterhub-mlops/group"
"""On a ClusterQueue: the JupyterHub group it serves (names are slugs, this is the name)."""


class QuotaError(ValueError):
    """Group quotas that cannot be turned into Kueue quotas; the message says what to change."""


def workload_priority_classes() -> list[dict]:
    return [
        {
            "apiVersion": KUEUE_API,
            "kind": "WorkloadPriorityClass",
            "metadata": {"name": c.name, "labels": dict(MANAGED_BY)},
            "value": c.value,
            "description": c.description,
        }
        for c in WORKLOAD_PRIORITY_CLASSES
    ]


def server_topology() -> dict:
    """Servers as Kueue's topology: a workload's pods must each fit on one node."""
    return {
        "apiVersion": KUEUE_API,
        "kind": "Topology",
        "metadata": {"name": SERVER_TOPOLOGY, "labels": dict(MANAGED_BY)},
        "spec": {"levels": [{"nodeLabel": SERVER_LEVEL}]},
    }


def resource_flavor(gpu_product: str) -> dict:
    """The flavor of one GPU type, placed server by server (``server_topology``).
    No tolerations: the suite's GPU pods carry them already."""
    return {
        "apiVersion": KUEUE_API,
        "kind": "ResourceFlavor",
        "metadata": {"name": resource_flavor_name(gpu_product), "labels": dict(MANAGED_BY)},
        "spec": {"nodeLabels": {GPU_PRODUCT_LABEL: gpu_product}, "topologyName": SERVER_TOPOLOGY},
    }


def split_quota(quota: int, gpus_by_type: Mapping[str, int]) -> dict[str, int]:
    """``quota`` GPUs of any type as a quota per type, in proportion to the cluster's
    GPUs of each type (largest remainders first; never more than a type has)."""
    total = sum(gpus_by_type.values())
    if quota <= 0 or total <= 0:
        return {t: 0 for t in gpus_by_type}
    quota = min(quota, total)
    exact = {t: quota * n / total for t, n in gpus_by_type.items()}
    shares = {t: int(v) for t, v in exact.items()}
    by_remainder = sorted(gpus_by_type, key=lambda t: (-(exact[t] - shares[t]), t))
    left = quota - sum(shares.values())
    for gpu_type in by_remainder:
        if left == 0:
            break
        if shares[gpu_type] < gpus_by_type[gpu_type]:
            shares[gpu_type] += 1
            left -= 1
    return shares


Quota = int | Mapping[str, int]
"""A group's quota: GPUs of any type, or GPUs per product (``GpuProfiles.group_gpu_quotas``)."""


def check_quotas(group_quotas: Mapping[str, Quota], gpus_by_type: Mapping[str, int]) -> None:
    """Refuse quotas that promise more GPUs than the cluster has, in all or of one
    type, or GPUs of a type it has none of (``QuotaError``)."""
    total = sum(gpus_by_type.values())
    promised = sum(quota_total(q) for q in group_quotas.values())
    if promised > total:
        listed = ", ".join(f"{g} {quota_total(q)}" for g, q in sorted(group_quotas.items()))
        raise QuotaError(
            f"GpuProfiles.group_gpu_quotas promise {promised} GPUs ({listed}) but the cluster has {total}: "
            f"lower the quotas by {promised - total} in all, or add GPUs. Idle quota is lent between groups, "
            "so quotas need not add up to the whole cluster."
        )
    by_type: dict[str, int] = {}
    for group, quota in sorted(group_quotas.items()):
        if isinstance(quota, int):
            continue
        for gpu_type, n in quota.items():
            if gpu_type not in gpus_by_type:
                known = ", ".join(sorted(gpus_by_type)) or "none"
                raise QuotaError(
                    f"GpuProfiles.group_gpu_quotas give {group} {n} {gpu_type} GPUs, a type the cluster does not "
                    f"have (its GPU types: {known}): name one of those, as its nodes' nvidia.com/gpu.product says."
                )
            by_type[gpu_type] = by_type.get(gpu_type, 0) + n
    for gpu_type, n in sorted(by_type.items()):
        if n > gpus_by_type[gpu_type]:
            raise QuotaError(
                f"GpuProfiles.group_gpu_quotas promise {n} {gpu_type} GPUs but the cluster has "
                f"{gpus_by_type[gpu_type]}: lower the groups' quotas of that type by {n - gpus_by_type[gpu_type]}."
            )


def _cluster_queue(name: str, group: str, quotas: Mapping[str, int], *, borrows: bool) -> dict:
    flavors = []
    for gpu_type, n in sorted(quotas.items()):
        quota: dict = {"name": GPU_RESOURCE, "nominalQuota": n}
        if not borrows:
            quota["borrowingLimit"] = 0
        flavors.append({"name": resource_flavor_name(gpu_type), "resources": [quota]})
    return {
        "apiVersion": KUEUE_API,
        "kind": "ClusterQueue",
        "metadata": {"name": name, "labels": dict(MANAGED_BY), "annotations": {GROUP_ANNOTATION: group}},
        "spec": {
            "cohortName": COHORT,
            "namespaceSelector": {},  # only the suite's LocalQueues point here
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [{"coveredResources": [GPU_RESOURCE], "flavors": flavors}],
            "preemption": {
                "reclaimWithinCohort": "LowerPriority",
                "withinClusterQueue": "LowerPriority",
                "borrowWithinCohort": {"policy": "Never"},
            },
        },
    }


def group_queues(group: str, quotas: Mapping[str, int]) -> list[dict]:
    """A group's two ClusterQueues: its quota (notebooks) and its batch queue (jobs, trials)."""
    return [
        _cluster_queue(cluster_queue_name(group), group, quotas, borrows=False),
        _cluster_queue(batch_queue_name(group), group, {t: 0 for t in quotas}, borrows=True),
    ]


def cluster_queues(group_quotas: Mapping[str, Quota], gpus_by_type: Mapping[str, int]) -> list[dict]:
    """The queues of every group with a quota, and ``SHARED_GROUP``'s with the rest.
    Quotas per type are taken first, as given; quotas of any type share what is left."""
    check_quotas(group_quotas, gpus_by_type)
    out = []
    left = dict(gpus_by_type)
    typed = {g: q for g, q in group_quotas.items() if not isinstance(q, int)}
    for group, per_type in sorted(typed.items()):
        shares = {t: per_type.get(t, 0) for t in gpus_by_type}
        for gpu_type, n in shares.items():
            left[gpu_type] -= n
        out += group_queues(group, shares)
    any_type = {g: q for g, q in group_quotas.items() if isinstance(q, int)}
    for group, total in sorted(any_type.items()):
        # A group's share of a type may take what an earlier group's rounding left.
        shares = _fit_shares(split_quota(total, left), left)
        for gpu_type, n in shares.items():
            left[gpu_type] -= n
        out += group_queues(group, shares)
    return out + group_queues(SHARED_GROUP, left)


def _fit_shares(shares: Mapping[str, int], left: Mapping[str, int]) -> dict[str, int]:
    """``shares`` moved, GPU by GPU, from types with too few left to types with room."""
    fitted = {t: min(n, left[t]) for t, n in shares.items()}
    missing = sum(shares.values()) - sum(fitted.values())
    for gpu_type in sorted(left, key=lambda t: -(left[t] - fitted[t])):
        room = left[gpu_type] - fitted[gpu_type]
        moved = min(room, missing)
        fitted[gpu_type] += moved
        missing -= moved
    return fitted


def queue_group(user_groups: Iterable[str], group_quotas: Mapping[str, Quota]) -> str:
    """The group whose ClusterQueue a user's LocalQueue points at: the first (by name)
    of their groups with a quota, else ``SHARED_GROUP``."""
    with_quota = sorted(g for g in user_groups if g in group_quotas)
    return with_quota[0] if with_quota else SHARED_GROUP


def local_queues(namespace: str, group: str, labels: Mapping[str, str] | None = None) -> list[dict]:
    """A user namespace's LocalQueues: notebooks to the group's quota, the rest to its batch queue."""
    return [
        {
            "apiVersion": KUEUE_API,
            "kind": "LocalQueue",
            "metadata": {"name": name, "namespace": namespace, "labels": {**(labels or {}), **MANAGED_BY}},
            "spec": {"clusterQueue": cluster_queue},
        }
        for name, cluster_queue in (
            (NOTEBOOK_QUEUE, cluster_queue_name(group)),
            (LOCAL_QUEUE, batch_queue_name(group)),
        )
    ]


def cluster_objects(group_quotas: Mapping[str, Quota], gpus_by_type: Mapping[str, int]) -> list[dict]:
    """Every cluster-scoped Kueue object of the suite, in the order to apply them."""
    return [
        *workload_priority_classes(),
        server_topology(),
        *(resource_flavor(t) for t in sorted(gpus_by_type)),
        *cluster_queues(group_quotas, gpus_by_type),
    ]


def stranded(wanted: list[dict], current_queues: list[dict]) -> list[str]:
    """Why ``wanted`` may not replace the cluster's objects now: a group's new quota of a
    GPU type below what its running notebooks hold (``status.flavorsUsage`` of its quota
    queue, as Kueue counts it). Kueue would let them run on and hand the difference to no
    one, and the group could start nothing until enough of them stop: say so instead."""
    product_of = {
        o["metadata"]["name"]: o["spec"]["nodeLabels"][GPU_PRODUCT_LABEL]
        for o in wanted
        if o["kind"] == "ResourceFlavor"
    }
    used: dict[str, dict[str, int]] = {}
    for queue in current_queues:
        for flavor in (queue.get("status") or {}).get("flavorsUsage") or []:
            for resource in flavor.get("resources") or []:
                if resource.get("name") == GPU_RESOURCE:
                    used.setdefault(queue["metadata"]["name"], {})[flavor["name"]] = int(str(resource["total"]))
    out = []
    for queue in wanted:
        if queue["kind"] != "ClusterQueue":
            continue
        group = queue["metadata"]["annotations"][GROUP_ANNOTATION]
        for flavor in queue["spec"]["resourceGroups"][0]["flavors"]:
            quota = flavor["resources"][0]
            if "borrowingLimit" not in quota:
                continue  # a batch queue: what runs there is borrowed, and preemptible
            held = used.get(queue["metadata"]["name"], {}).get(flavor["name"], 0)
            if held > quota["nominalQuota"]:
                gpu_type = product_of.get(flavor["name"], flavor["name"])
                out.append(
                    f"{group}'s quota of {gpu_type} GPUs would be {quota['nominalQuota']}, but its running "
                    f"notebooks hold {held}: keep it at {held} or more until notebooks holding "
                    f"{held - quota['nominalQuota']} of those GPUs have stopped"
                )
    return out
