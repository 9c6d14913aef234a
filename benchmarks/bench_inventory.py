"""In-process cost of the GPU inventory: 5,000 nodes and 150,000 pods fed as watch events.

``inventory.event_us``: mean CPU time of one pod watch event (process CPU time,
so that other work on a shared machine does not inflate it), from the JSON line
the API server sends to the updated per-node accounting (json decode + slim
record + accounting), as ``InventoryWatcher`` applies it. The comparison is
the cost of applying the same event without the slim path: recomputing the
node's usage from all its pods (what a non-incremental cache does per event).

``inventory.rss_mb_150k``: growth of the process's resident memory while the
inventory takes in 5,000 nodes and 150,000 pods (the events are generated on
the fly and dropped, so what remains is the inventory).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import random
import time

import orjson
from jupyterhub_mlops.inventory import GpuInventory
from jupyterhub_mlops.inventory.state import slim_pod

from .harness import BenchContext, Figure

PRODUCTS = ["NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3", "NVIDIA-L40S"]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 2**20


def node_event(i: int) -> bytes:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"node-{i:05d}",
            "resourceVersion": str(i),
            "labels": {
                "kubernetes.io/hostname": f"node-{i:05d}",
                "kubernetes.io/os": "linux",
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": PRODUCTS[i % len(PRODUCTS)],
                "nvidia.com/gpu.count": "8",
                "nvidia.com/gpu.memory": "81920",
            },
        },
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {
            "allocatable": {
                "cpu": "128",
                "memory": "1Ti",
                "pods": "110",
                "nvidia.com/gpu": "8",
                "ephemeral-storage": "1Ti",
            },
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }
    return json.dumps({"type": "ADDED", "object": node}).encode()


def pod_event(i: int, nodes: int, rng: random.Random, event_type: str = "ADDED", phase: str = "Running") -> bytes:
    gpus = rng.choice([0, 0, 1, 1, 2, 4])
    limits = {"nvidia.com/gpu": str(gpus)} if gpus else {}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"pod-{i:06d}",
            "namespace": f"team-{i % 40}",
            "uid": f"uid-{i:06d}",
            "resourceVersion": str(10_000 + i),
            "labels": {"app": "train", "jupyterhub-mlops/user": f"user{i % 300}"},
        },
        "spec": {
            "nodeName": f"node-{i % nodes:05d}",
            "containers": [
                {
                    "name": "main",
                    "image": "pytorch/pytorch:2.5.1",
                    "resources": {
                        "requests": {
                            "cpu": rng.choice(["500m", "2", "4"]),
                            "memory": rng.choice(["2Gi", "16Gi"]),
                        },
                        "limits": limits,
                    },
                }
            ],
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
        "status": {"phase": phase, "podIP": "10.0.0.1", "hostIP": "10.0.0.2"},
    }
    return json.dumps({"type": event_type, "object": pod}).encode()


def apply_line(inventory: GpuInventory, line: bytes) -> None:
    """What InventoryWatcher does with each line of the pod watch stream."""
    event = orjson.loads(line)
    inventory.apply_pod(event["type"], event["object"])


def naive_apply(pods_by_node: dict, used: dict, line: bytes) -> None:
    """A cache that recomputes the node's usage from all its pods on every event."""
    event = orjson.loads(line)
    pod = event["object"]
    node = pod["spec"]["nodeName"]
    bucket = pods_by_node.setdefault(node, {})
    bucket[pod["metadata"]["name"]] = slim_pod(pod)
    total: dict[str, int] = {}
    for record in bucket.values():
        if record.holds:
            for resource, amount in record.requests:
                total[resource] = total.get(resource, 0) + amount
    used[node] = total


def run(ctx: BenchContext) -> list[Figure]:
    nodes, pods = (500, 15_000) if ctx.quick else (5_000, 150_000)
    # A fresh process: the resident-memory baseline must not include what other
    # benchmarks of this run left in the heap.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        event_us, naive_us, resident, count = pool.apply(measure, (nodes, pods))
    scale = f"{nodes} nodes, {pods} pods"
    return [
        Figure(
            "inventory.event_us",
            event_us,
            "us",
            goal="<= 20",
            comparison=naive_us,
            comparison_label="recompute node per event",
            note=f"CPU time; {count} pod events (add/update/delete) as JSON lines, {scale}",
        ),
        Figure(
            "inventory.rss_mb_150k", resident, "MB", goal="<= 150", note=f"RSS growth with {scale} in the inventory"
        ),
    ]


def measure(nodes: int, pods: int) -> tuple[float, float, float, int]:
    """(mean µs per pod event, µs per event of the comparison, MB resident, events)."""
    rng = random.Random(7)
    gc.collect()
    base = rss_mb()
    inventory = GpuInventory()
    for i in range(nodes):
        event = json.loads(node_event(i))
        inventory.apply_node(event["type"], event["object"])
    elapsed = 0.0
    count = 0
    chunk = 10_000
    # Adds, then one status update for a third of the pods, then deletes of a tenth.
    plan = [
        ("ADDED", "Running", range(pods)),
        ("MODIFIED", "Succeeded", range(0, pods, 3)),
        ("DELETED", "Succeeded", range(1, pods, 10)),
    ]
    for event_type, phase, indices in plan:
        indices = list(indices)
        for start in range(0, len(indices), chunk):
            lines = [pod_event(i, nodes, rng, event_type, phase) for i in indices[start : start + chunk]]
            began = time.process_time()
            for line in lines:
                apply_line(inventory, line)
            elapsed += time.process_time() - began
            count += len(lines)
        if event_type == "ADDED":
            gc.collect()
            resident = rss_mb() - base  # the inventory with all pods in it
    inventory.snapshot()
    event_us = elapsed / count * 1e6

    # The comparison on a sample: per-event recomputation of the node's usage.
    sample = [pod_event(i, nodes, rng) for i in range(min(pods, 30_000))]
    pods_by_node: dict = {}
    used: dict = {}
    began = time.process_time()
    for line in sample:
        naive_apply(pods_by_node, used, line)
    naive_us = (time.process_time() - began) / len(sample) * 1e6

    return event_us, naive_us, resident, count
