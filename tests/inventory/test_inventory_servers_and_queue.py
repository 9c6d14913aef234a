"""The snapshot's per-server view of each GPU type (unavailable GPUs with their
reason) and the queue depth from pods held back by Kueue's admission gate (no
cluster; ``tests/spawner/test_gpu_spawn_cards.py`` does the same against the
real API server)."""

from __future__ import annotations

from jupyterhub_mlops.inventory.accounting import pod_requests, queued_gpu_type
from jupyterhub_mlops.inventory.state import GpuInventory
from mlops_contract.api import GpuType
from mlops_contract.queueing import ADMISSION_GATE

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def node(name, gpus=4, product="RTX", ready=True, unschedulable=False, taints=(GPU_TAINT,)):
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
        "spec": {"unschedulable": unschedulable, "taints": list(taints)},
        "status": {
            "allocatable": {"nvidia.com/gpu": str(gpus), "cpu": "16", "memory": "64Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(name, gpus, *, node_name="", product="RTX", gated=False, phase="Pending"):
    spec = {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if node_name:
        spec["nodeName"] = node_name
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    if gated:
        spec["schedulingGates"] = [{"name": "example.com/other"}, {"name": ADMISSION_GATE}]
    return {"metadata": {"namespace": "ns", "name": name}, "spec": spec, "status": {"phase": phase}}


def synced(*nodes) -> GpuInventory:
    inv = GpuInventory()
    for n in nodes:
        inv.apply_node("ADDED", n)
    inv.set_in_sync("nodes", True)
    inv.set_in_sync("pods", True)
    return inv


def test_unavailable_servers_keep_their_gpus_and_say_why_but_offer_none():
    inv = synced(
        node("ok"),
        node("cordoned", unschedulable=True),
        node("down", ready=False),
        node("tainted", taints=(GPU_TAINT, {"key": "maintenance", "value": "disk", "effect": "NoExecute"})),
    )
    inv.apply_pod("ADDED", pod("busy", 1, node_name="ok", phase="Running"))
    inv.apply_pod("ADDED", pod("leftover", 2, node_name="cordoned", phase="Running"))
    entry = inv.snapshot().gpu_types()["RTX"]
    # The availability numbers are those of the one node that offers GPUs.
    assert (entry["total"], entry["free"], entry["unavailable"], entry["nodes"]) == (4, 3, 12, 1)
    assert entry["free_per_node"] == [3]
    assert entry["servers"] == [
        {"node": "cordoned", "total": 4, "free": 0, "unavailable": "cordoned"},
        {"node": "down", "total": 4, "free": 0, "unavailable": "not ready"},
        {"node": "ok", "total": 4, "free": 3, "unavailable": None},
        {
            "node": "tainted",
            "total": 4,
            "free": 0,
            "unavailable": "taint maintenance=disk:NoExecute not tolerated",
        },
    ]
    # The document as the contract describes it (what GET /gpus relays to notebooks).
    served = GpuType.model_validate(entry)
    assert [(s.node, s.unavailable) for s in served.servers][:2] == [("cordoned", "cordoned"), ("down", "not ready")]
    assert served.queued == 0
    # Uncordoned: the same server offers its free GPUs again.
    inv.apply_node("MODIFIED", node("cordoned"))
    servers = {s["node"]: s for s in inv.snapshot().gpu_types()["RTX"]["servers"]}
    assert servers["cordoned"] == {"node": "cordoned", "total": 4, "free": 2, "unavailable": None}


def test_a_type_only_on_unavailable_servers_is_listed_with_nothing_free():
    inv = synced(node("v100-0", product="V100", unschedulable=True))
    entry = inv.snapshot().gpu_types()["V100"]
    assert (entry["total"], entry["free"], entry["unavailable"]) == (0, 0, 4)
    assert entry["servers"] == [{"node": "v100-0", "total": 4, "free": 0, "unavailable": "cordoned"}]


def test_the_queue_counts_gated_pods_per_gpu_type_until_admitted():
    inv = synced(node("rtx-0"), node("a100-0", gpus=8, product="A100"))
    assert inv.snapshot().gpu_types()["RTX"]["queued"] == 0
    inv.apply_pod("ADDED", pod("q1", 1, gated=True))
    inv.apply_pod("ADDED", pod("q2", 4, gated=True))
    inv.apply_pod("ADDED", pod("q3", 2, product="A100", gated=True))
    inv.apply_pod("ADDED", pod("plain-pending", 1))  # waits for the scheduler, not in line
    inv.apply_pod("ADDED", pod("cpu-only", 0, gated=True))  # no GPU: not in a GPU line
    inv.apply_pod("ADDED", pod("any-type", 1, product=None, gated=True))  # no type named
    types = inv.snapshot().gpu_types()
    assert (types["RTX"]["queued"], types["A100"]["queued"]) == (2, 1)
    # Kueue admits q1: it lifts the gate (the pod is otherwise unchanged).
    version = inv.version
    inv.apply_pod("MODIFIED", pod("q1", 1))
    assert inv.version > version
    assert inv.snapshot().gpu_types()["RTX"]["queued"] == 1
    inv.apply_pod("DELETED", pod("q2", 4, gated=True))
    assert inv.snapshot().gpu_types()["RTX"]["queued"] == 0
    assert inv.snapshot().gpu_types()["A100"]["queued"] == 1
    # Queued pods hold no GPUs: the free count is untouched by the line.
    assert inv.snapshot().gpu_types()["A100"]["free"] == 8


def test_queued_gpu_type_names_the_product_and_the_gpu_resource():
    mig = pod("m", 0, gated=True, product="A100")
    mig["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/mig-1g.10gb": "2"}}
    assert queued_gpu_type(mig, pod_requests(mig["spec"])) == "A100/mig-1g.10gb"
    whole = pod("w", 2, gated=True)
    assert queued_gpu_type(whole, pod_requests(whole["spec"])) == "RTX"
    finished = pod("f", 2, gated=True, phase="Failed")
    assert queued_gpu_type(finished, pod_requests(finished["spec"])) is None
    ungated = pod("u", 2)
    assert queued_gpu_type(ungated, pod_requests(ungated["spec"])) is None
