"""The arithmetic of GPU availability, as pure functions over plain dicts.

Everything here takes Kubernetes objects as the JSON dicts the API server sends
(camelCase keys) and returns small immutable records, so the same code serves
the live inventory, the brute-force oracle in the tests and the benchmarks.

- ``pod_requests``: what a pod takes from its node, by the scheduler's formula.
- ``NodeRecord.from_node``: what a node could offer, and its GPU types.
- ``node_offers``: whether a node offers anything to a pod with given tolerations.
- ``fits_on_node`` / ``servers_that_fit``: how many servers of a shape fit now.
- ``queued_gpu_type``: the GPU type a pod waits for while Kueue holds it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mlops_contract.placement import GPU_PRODUCT_LABEL as PRODUCT_LABEL
from mlops_contract.placement import GPU_RESOURCE
from mlops_contract.queueing import is_gated

from .quantity import QuantityError, resource_amount

SHARED_GPU_RESOURCE = "nvidia.com/gpu.shared"
MIG_PREFIX = "nvidia.com/mig-"
MEMORY_LABEL = "nvidia.com/gpu.memory"
PODS = "pods"

Requests = tuple[tuple[str, int], ...]
"""A resource vector: sorted ``(resource, amount)`` pairs, cpu in millicores."""

_INTERNED: dict[Requests, Requests] = {}


def _intern(vector: dict[str, int]) -> Requests:
    """One shared tuple per distinct vector: 150,000 pods have a few dozen shapes."""
    key = tuple(sorted((r, a) for r, a in vector.items() if a))
    return _INTERNED.setdefault(key, key)


def is_gpu_resource(resource: str) -> bool:
    return resource in (GPU_RESOURCE, SHARED_GPU_RESOURCE) or resource.startswith(MIG_PREFIX)


# ----------------------------------------------------------------------- pods
def _container_requests(container: Mapping) -> dict[str, int]:
    resources = container.get("resources") or {}
    # The API server copies limits into missing requests; an object built by
    # hand may not have been defaulted, so do the same here.
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    out = {}
    for name, value in merged.items():
        try:
            out[name] = resource_amount(name, value)
        except QuantityError:
            continue  # the API server would have rejected it; count nothing
    return out


def _add(into: dict[str, int], vector: Mapping[str, int]) -> None:
    for name, amount in vector.items():
        into[name] = into.get(name, 0) + amount


_SINGLE_CONTAINER: dict[tuple, Requests] = {}
_SINGLE_CONTAINER_LIMIT = 65536


def pod_requests(spec: Mapping) -> Requests:
    """What a pod with this ``spec`` takes from its node while it is bound.

    Most pods have one container and no init containers or overhead: their
    answer depends only on that container's requests and limits, so it is
    computed once per distinct pair (a watch event then costs a dict lookup).
    """
    containers = spec.get("containers") or []
    if len(containers) == 1 and not spec.get("initContainers") and not spec.get("overhead"):
        resources = containers[0].get("resources") or {}
        key = (
            tuple((resources.get("requests") or {}).items()),
            tuple((resources.get("limits") or {}).items()),
        )
        try:
            cached = _SINGLE_CONTAINER.get(key)
        except TypeError:  # a malformed value that is not hashable
            return _pod_requests(spec)
        if cached is None:
            cached = _pod_requests(spec)
            if len(_SINGLE_CONTAINER) < _SINGLE_CONTAINER_LIMIT:
                _SINGLE_CONTAINER[key] = cached
        return cached
    return _pod_requests(spec)


def _pod_requests(spec: Mapping) -> Requests:
    """The full computation behind ``pod_requests``.

    The scheduler's formula (``resourcehelper.PodRequests``): the sum of the
    regular containers and the native sidecars (init containers with
    ``restartPolicy: Always``) against the largest moment of the init phase
    (each init container plus the sidecars started before it), per resource
    the larger of the two, plus the pod overhead, plus one pod slot.
    """
    total: dict[str, int] = {}
    for container in spec.get("containers") or ():
        _add(total, _container_requests(container))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for init in spec.get("initContainers") or ():
        own = _container_requests(init)
        if init.get("restartPolicy") == "Always":
            _add(total, own)
            _add(sidecars, own)
            moment = dict(sidecars)
        else:
            moment = dict(own)
            _add(moment, sidecars)
        for name, amount in moment.items():
            if amount > init_peak.get(name, 0):
                init_peak[name] = amount
    for name, amount in init_peak.items():
        if amount > total.get(name, 0):
            total[name] = amount
    overhead = spec.get("overhead") or {}
    _add(total, {n: resource_amount(n, v) for n, v in overhead.items()})
    total[PODS] = total.get(PODS, 0) + 1
    return _intern(total)


def pod_holds_resources(pod: Mapping) -> bool:
    """Bound to a node and not finished. Terminating pods still hold: the
    kubelet has not released their devices until the object is gone."""
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def queued_gpu_type(pod: Mapping, requests: Requests) -> str | None:
    """The GPU type id a pod waits in Kueue's line for, or None.

    A queued pod carries Kueue's admission scheduling gate until Kueue admits
    it; its type is the product its node selector names and the GPU resource it
    requests. A gated pod that names no product (Kueue picks the flavor at
    admission) or asks for no GPU waits for no type in particular: None.
    """
    if not is_gated(pod):
        return None
    spec = pod.get("spec") or {}
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    product = (spec.get("nodeSelector") or {}).get(PRODUCT_LABEL)
    resource = next((r for r, a in requests if a > 0 and is_gpu_resource(r)), None)
    if not product or resource is None:
        return None
    return gpu_type_id(resource, product)


# ---------------------------------------------------------------------- nodes
@dataclass(frozen=True, slots=True)
class GpuType:
    """One kind of GPU a pod can ask for: a resource name on nodes of a product.

    Whole GPUs of a product, each MIG slice size and time-sliced/MPS shared
    GPUs are distinct types: a pod asks for exactly one of them.
    """

    id: str
    resource: str
    product: str
    memory_mib: int | None
    kind: str  # "gpu" | "mig" | "shared"


def gpu_type_id(resource: str, product: str) -> str:
    """``NVIDIA-A100-SXM4-80GB`` for whole GPUs, ``NVIDIA-A100-SXM4-80GB/mig-1g.10gb``
    for a MIG slice, ``<product>/gpu.shared`` for shared GPUs."""
    if resource == GPU_RESOURCE:
        return product
    return f"{product}/{resource.removeprefix('nvidia.com/')}"


def _int_label(labels: Mapping[str, str], key: str) -> int | None:
    try:
        return int(labels[key])
    except (KeyError, ValueError):
        return None


def node_gpu_types(labels: Mapping[str, str], allocatable: Mapping[str, int]) -> tuple[GpuType, ...]:
    """The GPU types a node offers, from GPU Operator labels and its resources."""
    product = labels.get(PRODUCT_LABEL) or "unknown-gpu"
    types = []
    for resource in sorted(allocatable):
        if not is_gpu_resource(resource) or allocatable[resource] <= 0:
            continue
        if resource.startswith(MIG_PREFIX):
            profile = resource.removeprefix(MIG_PREFIX)
            memory = _int_label(labels, f"nvidia.com/mig-{profile}.memory")
            kind = "mig"
        else:
            memory = _int_label(labels, MEMORY_LABEL)
            kind = "shared" if resource == SHARED_GPU_RESOURCE else "gpu"
        types.append(GpuType(gpu_type_id(resource, product), resource, product, memory, kind))
    return tuple(types)


Taint = tuple[str, str, str]
"""``(key, value, effect)`` of a NoSchedule or NoExecute taint."""


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """What the inventory keeps of a Node: enough to answer, nothing more."""

    name: str
    labels: Mapping[str, str]
    allocatable: Mapping[str, int]
    taints: tuple[Taint, ...]
    ready: bool
    unschedulable: bool
    gpu_types: tuple[GpuType, ...]

    @classmethod
    def from_node(cls, node: Mapping) -> NodeRecord:
        meta, spec, status = (
            node.get("metadata") or {},
            node.get("spec") or {},
            node.get("status") or {},
        )
        labels = dict(meta.get("labels") or {})
        allocatable = {}
        for name, value in (status.get("allocatable") or {}).items():
            try:
                allocatable[name] = resource_amount(name, value)
            except QuantityError:
                continue
        taints = tuple(
            (t.get("key", ""), t.get("value", "") or "", t.get("effect", ""))
            for t in spec.get("taints") or ()
            if t.get("effect") in ("NoSchedule", "NoExecute")
        )
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        return cls(
            meta.get("name", ""),
            labels,
            allocatable,
            taints,
            ready,
            bool(spec.get("unschedulable")),
            node_gpu_types(labels, allocatable),
        )


def tolerates(tolerations: Iterable[Mapping], taint: Taint) -> bool:
    """Whether any toleration matches the taint (the API's matching rules)."""
    key, value, effect = taint
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != effect:
            continue
        operator = tol.get("operator", "Equal")
        if not tol.get("key"):
            if operator == "Exists":
                return True
            continue
        if tol["key"] != key:
            continue
        if operator == "Exists" or (tol.get("value") or "") == value:
            return True
    return False


def node_offers(
    node: NodeRecord,
    tolerations: Iterable[Mapping] = (),
    node_selector: Mapping[str, str] | None = None,
) -> str | None:
    """``None`` when the node offers its free resources to such a pod,
    otherwise the reason it offers nothing."""
    if not node.ready:
        return "not ready"
    if node.unschedulable:
        return "cordoned"
    tolerations = list(tolerations)
    for taint in node.taints:
        if not tolerates(tolerations, taint):
            return f"taint {taint[0]}={taint[1]}:{taint[2]} not tolerated"
    for key, value in (node_selector or {}).items():
        if node.labels.get(key) != value:
            return f"label {key}={value} missing"
    return None


def free_resources(node: NodeRecord, used: Mapping[str, int]) -> dict[str, int]:
    """allocatable − used, per resource the node has (never below zero)."""
    return {r: max(0, a - used.get(r, 0)) for r, a in node.allocatable.items()}


@dataclass(frozen=True, slots=True)
class Shape:
    """What one server asks of a node: GPUs of one resource, CPU (milli), memory (bytes)."""

    gpu_resource: str
    gpus: int
    cpu_milli: int = 0
    memory_bytes: int = 0

    def vector(self) -> dict[str, int]:
        vector = {"cpu": self.cpu_milli, "memory": self.memory_bytes, PODS: 1}
        if self.gpus:
            vector[self.gpu_resource] = self.gpus
        return vector


def fits_on_node(shape: Shape, free: Mapping[str, int]) -> int:
    """How many servers of ``shape`` fit in ``free`` at once (0 when none).

    k GPUs fit only when k GPUs, the CPU, the memory and a pod slot are all
    free on this one node: free GPUs summed across nodes start nothing.
    """
    count = None
    for resource, amount in shape.vector().items():
        if amount <= 0:
            continue
        here = free.get(resource, 0) // amount
        count = here if count is None else min(count, here)
        if count == 0:
            return 0
    return count or 0


def servers_that_fit(shape: Shape, free_by_node: Iterable[Mapping[str, int]]) -> int:
    return sum(fits_on_node(shape, free) for free in free_by_node)
