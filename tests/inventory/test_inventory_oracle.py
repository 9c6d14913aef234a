"""The live inventory against a brute-force recomputation, on the real API server.

Randomised fleets and pod sets (init containers, native sidecars, pod
overhead from a RuntimeClass, terminating pods, finished pods, pending pods,
taints, cordons, NotReady nodes, MIG and shared GPUs) are applied in batches;
after each batch the inventory fed by its two watches must equal what
``oracle.recompute`` finds in a fresh list. The seed is printed so a failure
can be replayed with ORACLE_SEED.
"""

from __future__ import annotations

import asyncio
import os
import random

import kubernetes
import pytest
from jupyterhub_mlops.inventory import GpuInventory, InventoryWatcher
from kubernetes_asyncio import config as async_config
from mlops_cluster.fleet import node_manifest

from tests.inventory.gpu_oracle import recompute

pytestmark = pytest.mark.cluster

PRODUCTS = [("NVIDIA-H100-80GB-HBM3", 81559), ("NVIDIA-L40S", 46068), ("Tesla-T4", 15360)]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
HOLD = {"jupyterhub-mlops.local/simulate-terminating": "hold"}
RUNTIME_CLASS = "oracle-overhead"


def random_node(rng: random.Random, name: str) -> dict:
    kind = rng.choice(["cpu", "gpu", "gpu", "mig", "shared"])
    product, memory = rng.choice(PRODUCTS)
    spec: dict = {
        "cpu": str(rng.choice([8, 16, 64])),
        "memory": rng.choice(["32Gi", "256Gi"]),
        "pods": rng.choice([3, 20, 110]),
    }
    if kind != "cpu":
        spec["gpu"] = {"product": product, "count": rng.choice([1, 2, 4, 8]), "memory": memory}
    if kind == "mig":
        spec["gpu"]["fullGpusAllocatable"] = rng.choice([0, 1])
        spec["mig"] = {
            "1g.10gb": {"count": rng.choice([7, 14]), "memory": 9728},
            "3g.40gb": {"count": 2, "memory": 40192},
        }
    if kind == "shared":
        spec["sharing"] = {"replicas": rng.choice([2, 4])}
    taints = []
    if rng.random() < 0.25:
        taints.append(
            {
                "key": "dedicated",
                "value": "team-x",
                "effect": rng.choice(["NoSchedule", "NoExecute"]),
            }
        )
    if rng.random() < 0.2:
        taints.append({"key": "soft", "value": "yes", "effect": "PreferNoSchedule"})  # offers still
    spec["taints"] = taints
    spec["unschedulable"] = rng.random() < 0.15
    node = node_manifest(name, spec, GPU_TAINT if kind != "cpu" else None)
    if rng.random() < 0.2:
        # Not managed by KWOK: it never becomes Ready, so it offers nothing.
        node["metadata"]["annotations"] = {}
    return node


def gpu_resources(node: dict) -> list[str]:
    return [r for r in node["status"]["allocatable"] if r.startswith("nvidia.com/")]


def container(rng: random.Random, name: str, gpu: str | None) -> dict:
    requests = {
        "cpu": rng.choice(["100m", "250m", "1", "2.5"]),
        "memory": rng.choice(["128Mi", "1Gi", "3G"]),
    }
    limits = {}
    if gpu and rng.random() < 0.6:
        limits[gpu] = str(rng.choice([1, 1, 2, 3]))
    return {"name": name, "image": "busybox", "resources": {"requests": requests, "limits": limits}}


def random_pod(rng: random.Random, name: str, nodes: list[dict]) -> dict:
    node = rng.choice(nodes)
    gpus = gpu_resources(node)
    gpu = rng.choice(gpus) if gpus else None
    spec: dict = {
        "containers": [container(rng, f"c{i}", gpu) for i in range(rng.choice([1, 1, 2]))],
        "tolerations": [{"operator": "Exists"}],
        "terminationGracePeriodSeconds": 30,
    }
    inits = []
    for i in range(rng.choice([0, 0, 1, 2])):
        init = container(rng, f"init{i}", gpu)
        if rng.random() < 0.5:
            init["restartPolicy"] = "Always"  # a native sidecar
        inits.append(init)
    if inits:
        spec["initContainers"] = inits
    if rng.random() < 0.3:
        spec["runtimeClassName"] = RUNTIME_CLASS  # admission adds the overhead
    annotations = {}
    roll = rng.random()
    if roll < 0.15:
        # Pending: no node; the selector keeps the scheduler from binding it.
        spec["nodeSelector"] = {"oracle/never": "true"}
    else:
        spec["nodeName"] = node["metadata"]["name"]  # bound already, as the scheduler would
        if roll < 0.3:
            annotations["jupyterhub-mlops.local/simulate"] = "succeed"  # finishes after 1 s
        elif roll < 0.45:
            annotations.update(HOLD)  # stays Terminating when deleted
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }


def inventory_view(inventory: GpuInventory) -> tuple[dict, dict]:
    snap = inventory.snapshot()
    free = {v.record.name: dict(v.free) for v in snap.nodes if v.unavailable_reason is None}
    types = {t: {"total": e["total"], "free": e["free"]} for t, e in (snap.gpu_types() or {}).items() if e["total"] > 0}
    return free, types


async def converge(inventory: GpuInventory, core_v1, what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        truth = await asyncio.to_thread(recompute, core_v1)
        ours = inventory_view(inventory)
        if inventory.in_sync and ours == truth:
            return
        if asyncio.get_running_loop().time() > deadline:
            diff_nodes = {
                n: (ours[0].get(n), truth[0].get(n))
                for n in set(ours[0]) | set(truth[0])
                if ours[0].get(n) != truth[0].get(n)
            }
            raise AssertionError(
                f"{what}: inventory != recomputation; in_sync={inventory.in_sync}; "
                f"nodes differing (ours, truth): {diff_nodes}; "
                f"types ours={ours[1]} truth={truth[1]}"
            )
        await asyncio.sleep(0.3)


@pytest.fixture
def runtime_class(control_plane):
    node_v1 = kubernetes.client.NodeV1Api(control_plane.api_client("admin"))
    body = {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": RUNTIME_CLASS},
        "handler": "kata",
        "overhead": {"podFixed": {"cpu": "250m", "memory": "160Mi"}},
    }
    try:
        node_v1.create_runtime_class(body)
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:
            raise
    yield RUNTIME_CLASS
    node_v1.delete_runtime_class(RUNTIME_CLASS)


async def test_inventory_equals_recomputation_after_every_random_batch(
    control_plane, core_v1, namespace, runtime_class
):
    seed = int(os.environ.get("ORACLE_SEED") or random.randrange(1 << 30))
    print(f"ORACLE_SEED={seed}")
    rng = random.Random(seed)
    api = await async_config.new_client_from_config(config_file=str(control_plane.kubeconfig("hub")))
    inventory = GpuInventory()
    watcher = InventoryWatcher(inventory, api)
    watcher.start()
    nodes: list[dict] = []
    pods: list[str] = []
    holding: set[str] = set()  # pods that stay Terminating once deleted
    deleted: set[str] = set()
    try:
        await watcher.wait_in_sync()
        await converge(inventory, core_v1, "initial fleet")
        for batch in range(4):
            for i in range(rng.randint(3, 6)):
                node = random_node(rng, f"orc-{seed % 100000}-{batch}-{i}")
                await asyncio.to_thread(core_v1.create_node, node)
                nodes.append(node)
            for i in range(rng.randint(10, 25)):
                name = f"p{batch}-{i}"
                pod = random_pod(rng, name, nodes)
                await asyncio.to_thread(core_v1.create_namespaced_pod, namespace, pod)
                pods.append(name)
                if pod["metadata"]["annotations"].get(next(iter(HOLD))):
                    holding.add(name)
            await mutate(rng, core_v1, namespace, nodes, pods, holding, deleted)
            await converge(inventory, core_v1, f"batch {batch} (seed {seed})")
        assert watcher.relists == {"nodes": 1, "pods": 1}, "a healthy watch must never relist"
        # The batches did exercise a pod that is Terminating while still bound.
        listed = await asyncio.to_thread(core_v1.list_namespaced_pod, namespace)
        assert any(p.metadata.deletion_timestamp and p.spec.node_name for p in listed.items)
    finally:
        await watcher.stop()
        await api.close()
        for name in pods:
            try:
                core_v1.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            except kubernetes.client.ApiException as exc:
                if exc.status != 404:
                    raise
        for node in nodes:
            try:
                core_v1.delete_node(node["metadata"]["name"])
            except kubernetes.client.ApiException as exc:
                if exc.status != 404:
                    raise


async def mutate(
    rng: random.Random,
    core_v1,
    namespace: str,
    nodes: list[dict],
    pods: list[str],
    holding: set[str],
    deleted: set[str],
) -> None:
    """Deletions (pods marked to hold stay Terminating: at least one per batch),
    cordons, taint and capacity changes."""
    alive = [p for p in pods if p not in deleted]
    doomed = set(rng.sample(alive, k=min(len(alive), rng.randint(2, 6))))
    doomed |= set(rng.sample(sorted(holding - deleted), k=min(1, len(holding - deleted))))
    for name in sorted(doomed):
        await asyncio.to_thread(core_v1.delete_namespaced_pod, name, namespace)
        deleted.add(name)
    for node in rng.sample(nodes, k=min(len(nodes), 2)):
        name = node["metadata"]["name"]
        action = rng.choice(["cordon", "uncordon", "taint", "untaint", "shrink", "delete"])
        if action in ("cordon", "uncordon"):
            body = {"spec": {"unschedulable": action == "cordon"}}
            await asyncio.to_thread(core_v1.patch_node, name, body)
        elif action in ("taint", "untaint"):
            taints = [] if action == "untaint" else [{"key": "maintenance", "value": "now", "effect": "NoSchedule"}]
            await asyncio.to_thread(core_v1.patch_node, name, {"spec": {"taints": taints}})
        elif action == "shrink":
            # A GPU falls off the bus: the device plugin lowers allocatable.
            status = {r: "1" for r in gpu_resources(node)} or {"cpu": "4"}
            await asyncio.to_thread(core_v1.patch_node_status, name, {"status": {"allocatable": status}})
        else:
            await asyncio.to_thread(core_v1.delete_node, name)
            nodes.remove(node)
