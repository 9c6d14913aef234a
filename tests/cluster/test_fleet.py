"""The fleet description turns into the Node objects the GPU Operator would label."""

from __future__ import annotations

import pytest
from mlops_cluster import fleet


def test_default_fleet_is_a_small_on_prem_cluster():
    nodes = {n["metadata"]["name"]: n for n in fleet.load()}
    gpus = {name: n["status"]["allocatable"].get("nvidia.com/gpu") for name, n in nodes.items()}
    products = {name: n["metadata"]["labels"].get("nvidia.com/gpu.product") for name, n in nodes.items()}

    assert [name for name, p in products.items() if p == "NVIDIA-A100-SXM4-80GB" and gpus[name] == "8"] == [
        "gpu-a100-0",
        "gpu-a100-1",
    ]
    assert sorted(name for name, g in gpus.items() if g == "4" and "RTX" in (products[name] or "")) == [
        "gpu-rtx-0",
        "gpu-rtx-1",
    ]
    mig = [n for n in nodes.values() if "nvidia.com/mig-1g.10gb" in n["status"]["allocatable"]]
    assert len(mig) == 1 and mig[0]["metadata"]["labels"]["nvidia.com/mig.strategy"] == "mixed"
    cordoned = [name for name, n in nodes.items() if n["spec"].get("unschedulable")]
    assert len(cordoned) == 1 and products[cordoned[0]]
    cpu_only = [name for name, n in nodes.items() if "nvidia.com/gpu.present" not in n["metadata"]["labels"]]
    assert cpu_only == ["cpu-0"]


def test_gpu_node_carries_gpu_operator_labels_resources_and_taint():
    node = fleet.node_manifest(
        "n",
        {"cpu": "8", "memory": "32Gi", "gpu": {"product": "NVIDIA-L4", "count": 2, "memory": 23034}},
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
    )
    assert node == {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "n",
            "labels": {
                "kubernetes.io/hostname": "n",
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": "NVIDIA-L4",
                "nvidia.com/gpu.count": "2",
                "nvidia.com/gpu.memory": "23034",
                "nvidia.com/gpu.family": "unknown",
                "nvidia.com/cuda.driver.major": "550",
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {
                "cpu": "8",
                "memory": "32Gi",
                "pods": "110",
                "ephemeral-storage": "1Ti",
                "nvidia.com/gpu": "2",
            },
            "allocatable": {
                "cpu": "8",
                "memory": "32Gi",
                "pods": "110",
                "ephemeral-storage": "1Ti",
                "nvidia.com/gpu": "2",
            },
        },
    }


def test_mig_slices_and_shared_gpus_are_resources_of_their_own():
    mig = fleet.node_manifest(
        "m",
        {
            "gpu": {"product": "A100", "count": 1, "memory": 1, "fullGpusAllocatable": 0},
            "mig": {"1g.10gb": {"count": 7, "memory": 9728}},
        },
        None,
    )
    assert mig["status"]["allocatable"]["nvidia.com/mig-1g.10gb"] == "7"
    assert mig["status"]["allocatable"]["nvidia.com/gpu"] == "0"
    assert mig["metadata"]["labels"]["nvidia.com/mig-1g.10gb.memory"] == "9728"

    shared = fleet.node_manifest(
        "s", {"gpu": {"product": "NVIDIA-L4", "count": 2, "memory": 1}, "sharing": {"replicas": 4}}, None
    )
    assert shared["status"]["allocatable"]["nvidia.com/gpu.shared"] == "8"
    assert "nvidia.com/gpu" not in shared["status"]["allocatable"]
    assert shared["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-L4-SHARED"
    assert shared["metadata"]["labels"]["nvidia.com/gpu.replicas"] == "4"


def test_duplicate_node_names_are_refused():
    with pytest.raises(ValueError, match="twice"):
        fleet.nodes_from_spec({"nodes": [{"name": "a", "count": 1}, {"name": "a", "count": 1}]})
