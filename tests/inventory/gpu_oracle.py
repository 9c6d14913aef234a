"""A brute-force recomputation of GPU availability from a fresh list.

Written independently of ``jupyterhub_mlops.inventory`` (plain loops over the
client's model objects, the ``kubernetes`` package's own quantity parser) so
that a shared mistake is unlikely: the tests compare the two.
"""

from __future__ import annotations

import math

from kubernetes.utils import parse_quantity

GPU_TOLERATION_KEY = "nvidia.com/gpu"


def amount(resource: str, text: str) -> int:
    value = parse_quantity(text)
    return math.ceil(value * 1000) if resource == "cpu" else math.ceil(value)


def container_requests(container) -> dict[str, int]:
    res = container.resources
    merged = dict((res.limits or {}) if res else {})
    merged.update((res.requests or {}) if res else {})
    return {k: amount(k, v) for k, v in merged.items()}


def pod_total(pod) -> dict[str, int]:
    """kubernetes/pkg/api/v1/resource PodRequests, written out plainly."""
    spec = pod.spec
    names = set()
    regular = [container_requests(c) for c in spec.containers]
    inits = [(container_requests(c), c.restart_policy == "Always") for c in spec.init_containers or []]
    for r in regular + [r for r, _ in inits]:
        names |= set(r)
    overhead = {k: amount(k, v) for k, v in (spec.overhead or {}).items()}
    names |= set(overhead)
    total = {}
    for name in names:
        containers = sum(r.get(name, 0) for r in regular)
        sidecars_all = sum(r.get(name, 0) for r, always in inits if always)
        peak = 0
        sidecars_so_far = 0
        for r, always in inits:
            if always:
                sidecars_so_far += r.get(name, 0)
                moment = sidecars_so_far
            else:
                moment = r.get(name, 0) + sidecars_so_far
            peak = max(peak, moment)
        total[name] = max(containers + sidecars_all, peak) + overhead.get(name, 0)
    total["pods"] = total.get("pods", 0) + 1
    return total


def node_is_offering(node) -> bool:
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    if not ready or node.spec.unschedulable:
        return False
    for taint in node.spec.taints or []:
        # The inventory's default toleration: nvidia.com/gpu (any value) with NoSchedule.
        tolerated = taint.key == GPU_TOLERATION_KEY and taint.effect == "NoSchedule"
        if taint.effect in ("NoSchedule", "NoExecute") and not tolerated:
            return False
    return True


def gpu_type_of(resource: str, labels: dict) -> str | None:
    product = labels.get("nvidia.com/gpu.product") or "unknown-gpu"
    if resource == "nvidia.com/gpu":
        return product
    if resource == "nvidia.com/gpu.shared" or resource.startswith("nvidia.com/mig-"):
        return product + "/" + resource[len("nvidia.com/") :]
    return None


def recompute(core_v1) -> tuple[dict, dict]:
    """(free per offering node, per GPU type {total, free}) from fresh lists."""
    nodes = core_v1.list_node().items
    pods = core_v1.list_pod_for_all_namespaces().items
    used: dict[str, dict[str, int]] = {}
    for pod in pods:
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
            continue
        into = used.setdefault(pod.spec.node_name, {})
        for k, v in pod_total(pod).items():
            into[k] = into.get(k, 0) + v
    free_by_node = {}
    types: dict[str, dict[str, int]] = {}
    for node in nodes:
        if not node_is_offering(node):
            continue
        alloc = {k: amount(k, v) for k, v in (node.status.allocatable or {}).items()}
        node_used = used.get(node.metadata.name, {})
        free = {k: max(0, v - node_used.get(k, 0)) for k, v in alloc.items()}
        free_by_node[node.metadata.name] = free
        for resource, total in alloc.items():
            type_id = gpu_type_of(resource, node.metadata.labels or {})
            if type_id is None or total <= 0:
                continue
            entry = types.setdefault(type_id, {"total": 0, "free": 0})
            entry["total"] += total
            entry["free"] += free[resource]
    return free_by_node, types
