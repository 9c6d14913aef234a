"""Unit tests of the pure accounting functions (no cluster)."""

from __future__ import annotations

import pytest
from jupyterhub_mlops.inventory.accounting import (
    NodeRecord,
    Shape,
    fits_on_node,
    node_offers,
    pod_requests,
    servers_that_fit,
    tolerates,
)
from jupyterhub_mlops.inventory.quantity import QuantityError, parse_quantity
from jupyterhub_mlops.inventory.state import GpuInventory

GIB = 2**30


def c(cpu=None, memory=None, gpu=None, restart=None):
    res = {"requests": {}, "limits": {}}
    if cpu:
        res["requests"]["cpu"] = cpu
    if memory:
        res["requests"]["memory"] = memory
    if gpu:
        res["limits"]["nvidia.com/gpu"] = gpu
    out = {"name": "x", "resources": res}
    if restart:
        out["restartPolicy"] = restart
    return out


@pytest.mark.parametrize(
    "text,milli,expected",
    [
        ("500m", True, 500),
        ("1", True, 1000),
        ("2.5", True, 2500),
        ("1Gi", False, GIB),
        ("3G", False, 3 * 10**9),
        ("1e3", False, 1000),
        ("100Mi", False, 100 * 2**20),
        ("1m", False, 1),
    ],
)
def test_parse_quantity(text, milli, expected):
    assert parse_quantity(text, milli=milli) == expected


def test_parse_quantity_rejects_garbage():
    with pytest.raises(QuantityError):
        parse_quantity("lots")


def test_sum_of_containers_when_larger_than_any_init():
    spec = {"containers": [c("1", "1Gi", "2"), c("2", "1Gi")], "initContainers": [c("2", "1Gi")]}
    assert dict(pod_requests(spec)) == {
        "cpu": 3000,
        "memory": 2 * GIB,
        "nvidia.com/gpu": 2,
        "pods": 1,
    }


def test_largest_init_container_wins_when_larger():
    spec = {"containers": [c("1", gpu="1")], "initContainers": [c("4"), c("500m", gpu="4")]}
    assert dict(pod_requests(spec)) == {"cpu": 4000, "nvidia.com/gpu": 4, "pods": 1}


def test_native_sidecars_add_to_containers_and_to_later_init_containers():
    spec = {"containers": [c("1")], "initContainers": [c("500m", restart="Always"), c("3")]}
    # Running: 1 + 0.5 sidecar = 1.5; init phase: 3 + 0.5 started before = 3.5.
    assert dict(pod_requests(spec))["cpu"] == 3500
    spec["initContainers"] = [c("3"), c("500m", restart="Always")]
    # The sidecar starts after the 3-CPU init container: peak 3, running 1.5.
    assert dict(pod_requests(spec))["cpu"] == 3000


def test_overhead_is_added_once():
    spec = {"containers": [c("1", "1Gi")], "overhead": {"cpu": "250m", "memory": "160Mi"}}
    assert dict(pod_requests(spec)) == {"cpu": 1250, "memory": GIB + 160 * 2**20, "pods": 1}


def test_equal_shapes_share_one_tuple():
    assert pod_requests({"containers": [c("1")]}) is pod_requests({"containers": [c("1000m")]})


def node(name="n", ready=True, unschedulable=False, taints=(), labels=None, alloc=None):
    return NodeRecord.from_node(
        {
            "metadata": {"name": name, "labels": labels or {"nvidia.com/gpu.product": "A100"}},
            "spec": {"unschedulable": unschedulable, "taints": list(taints)},
            "status": {
                "allocatable": alloc or {"cpu": "8", "memory": "64Gi", "pods": "10", "nvidia.com/gpu": "8"},
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
    )


GPU_TOL = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_node_offers_nothing_when_not_ready_cordoned_or_untolerated():
    assert node_offers(node(), GPU_TOL) is None
    assert node_offers(node(ready=False), GPU_TOL) == "not ready"
    assert node_offers(node(unschedulable=True), GPU_TOL) == "cordoned"
    tainted = node(taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    assert "not tolerated" in node_offers(tainted, GPU_TOL)
    soft = node(taints=[{"key": "soft", "value": "x", "effect": "PreferNoSchedule"}])
    assert node_offers(soft, []) is None
    gpu_tainted = node(taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    assert node_offers(gpu_tainted, GPU_TOL) is None
    assert node_offers(gpu_tainted, []) is not None
    assert "label" in node_offers(node(), GPU_TOL, {"zone": "a"})


def test_toleration_matching():
    taint = ("k", "v", "NoSchedule")
    assert tolerates([{"key": "k", "operator": "Equal", "value": "v"}], taint)
    assert not tolerates([{"key": "k", "operator": "Equal", "value": "w"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)


def test_gpu_types_whole_mig_and_shared():
    mig = node(
        labels={"nvidia.com/gpu.product": "A100", "nvidia.com/mig-1g.10gb.memory": "9728"},
        alloc={"cpu": "8", "nvidia.com/gpu": "0", "nvidia.com/mig-1g.10gb": "14"},
    )
    assert [(t.id, t.kind, t.memory_mib) for t in mig.gpu_types] == [("A100/mig-1g.10gb", "mig", 9728)]
    shared = node(labels={"nvidia.com/gpu.product": "T4-SHARED"}, alloc={"nvidia.com/gpu.shared": "8"})
    assert [(t.id, t.kind) for t in shared.gpu_types] == [("T4-SHARED/gpu.shared", "shared")]


def test_a_shape_fits_only_on_one_node_with_everything_free():
    shape = Shape("nvidia.com/gpu", 4, cpu_milli=2000, memory_bytes=8 * GIB)
    free = {"nvidia.com/gpu": 8, "cpu": 8000, "memory": 64 * GIB, "pods": 10}
    assert fits_on_node(shape, free) == 2
    assert fits_on_node(shape, {**free, "cpu": 3000}) == 1
    assert fits_on_node(shape, {**free, "pods": 0}) == 0
    # 3 + 3 free GPUs on two nodes do not make room for 4.
    assert servers_that_fit(shape, [{**free, "nvidia.com/gpu": 3}, {**free, "nvidia.com/gpu": 3}]) == 0


def pod(name, node_name, gpus, phase="Running", owner=None):
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "labels": {"jupyterhub-mlops/user": owner} if owner else {},
        },
        "spec": {"nodeName": node_name, "containers": [c("1", gpu=str(gpus))]},
        "status": {"phase": phase},
    }


def test_inventory_counts_bound_unfinished_pods_incrementally():
    inv = GpuInventory()
    inv.apply_node(
        "ADDED",
        {
            "metadata": {"name": "n", "labels": {"nvidia.com/gpu.product": "A100"}},
            "spec": {},
            "status": {
                "allocatable": {"nvidia.com/gpu": "8", "cpu": "8", "pods": "10"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    )
    for kind in ("nodes", "pods"):
        inv.set_in_sync(kind, True)
    inv.apply_pod("ADDED", pod("a", "n", 3, owner="alice"))
    inv.apply_pod("ADDED", pod("b", "", 2, phase="Pending", owner="bob"))  # pending: holds nothing
    assert inv.snapshot().gpu_types()["A100"]["free"] == 5
    inv.apply_pod("MODIFIED", pod("b", "n", 2, owner="bob"))
    assert inv.snapshot().gpu_types()["A100"]["free"] == 3
    inv.apply_pod("MODIFIED", pod("a", "n", 3, phase="Succeeded", owner="alice"))
    assert inv.snapshot().gpu_types()["A100"]["free"] == 6
    assert inv.gpus_held_by_owner() == {"bob": {"nvidia.com/gpu": 2}}
    inv.apply_pod("DELETED", pod("b", "n", 2))
    assert inv.snapshot().gpu_types()["A100"]["free"] == 8
    inv.set_in_sync("pods", False)
    assert inv.snapshot().gpu_types() is None  # unknown, never a stale number


def test_spawn_page_quantities_read_as_people_write_them():
    from jupyterhub_mlops.inventory.quantity import format_bytes, format_cpu

    assert [format_cpu(m) for m in (4000, 1500, 250)] == ["4", "1.5", "0.25"]
    assert format_bytes(16 << 30) == "16 GiB"
    assert format_bytes(9728 << 20) == "9.5 GiB"
    assert format_bytes(2 << 40) == "2 TiB"
    assert format_bytes(512) == "512 B"
