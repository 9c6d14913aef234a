"""The simulated GPU fleet: a compact YAML description turned into Node objects.

``nodes_from_spec`` is a pure function (tested as dicts); the control plane
applies its output and KWOK then keeps the nodes Ready.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .paths import CLUSTER_DIR

DEFAULT_FLEET = CLUSTER_DIR / "fleet.yaml"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_ANNOTATION_VALUE = "fake"
GPU_RESOURCE = "nvidia.com/gpu"


def mig_resource(profile: str) -> str:
    """``1g.10gb`` -> ``nvidia.com/mig-1g.10gb`` (the mixed-strategy resource name)."""
    return f"nvidia.com/mig-{profile}"


def node_manifest(name: str, spec: dict, gpu_taint: dict | None) -> dict:
    """One Node object, labelled as the GPU Operator labels a real one."""
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        **spec.get("labels", {}),
    }
    resources = {
        "cpu": str(spec.get("cpu", "16")),
        "memory": str(spec.get("memory", "64Gi")),
        "pods": str(spec.get("pods", 110)),
        "ephemeral-storage": "1Ti",
    }
    taints = list(spec.get("taints", []))

    gpu = spec.get("gpu") or {}
    if gpu:
        labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": gpu["product"],
                "nvidia.com/gpu.count": str(gpu["count"]),
                "nvidia.com/gpu.memory": str(gpu["memory"]),
                "nvidia.com/gpu.family": gpu.get("family", "unknown"),
                "nvidia.com/cuda.driver.major": "550",
            }
        )
        # With MIG (mixed strategy) the partitioned GPUs are no longer offered whole.
        resources[GPU_RESOURCE] = str(gpu.get("fullGpusAllocatable", gpu["count"]))
        if gpu_taint:
            taints.append(dict(gpu_taint))
    mig = spec.get("mig") or {}
    if mig:
        labels["nvidia.com/mig.strategy"] = "mixed"
        for profile, slice_spec in mig.items():
            resources[mig_resource(profile)] = str(slice_spec["count"])
            labels[f"nvidia.com/mig-{profile}.count"] = str(slice_spec["count"])
            labels[f"nvidia.com/mig-{profile}.memory"] = str(slice_spec["memory"])
    sharing = spec.get("sharing")
    if sharing:
        # Time-slicing with renameByDefault: replicas appear as nvidia.com/gpu.shared.
        labels["nvidia.com/gpu.replicas"] = str(sharing["replicas"])
        labels["nvidia.com/gpu.sharing-strategy"] = sharing.get("strategy", "time-slicing")
        labels["nvidia.com/gpu.product"] = gpu["product"] + "-SHARED"
        resources["nvidia.com/gpu.shared"] = str(gpu["count"] * sharing["replicas"])
        resources.pop(GPU_RESOURCE, None)

    node: dict = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: KWOK_ANNOTATION_VALUE},
        },
        "spec": {},
        "status": {"capacity": dict(resources), "allocatable": dict(resources)},
    }
    if taints:
        node["spec"]["taints"] = taints
    if spec.get("unschedulable"):
        node["spec"]["unschedulable"] = True
    return node


def nodes_from_spec(fleet: dict) -> list[dict]:
    """All Node objects described by a parsed fleet file."""
    gpu_taint = fleet.get("gpuTaint")
    nodes = []
    for group in fleet.get("nodes", []):
        for i in range(int(group.get("count", 1))):
            nodes.append(node_manifest(f"{group['name']}-{i}", group, gpu_taint))
    names = [n["metadata"]["name"] for n in nodes]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ValueError(f"fleet defines these node names twice: {sorted(duplicated)}")
    return nodes


def load(path: Path = DEFAULT_FLEET) -> list[dict]:
    return nodes_from_spec(yaml.safe_load(Path(path).read_text()))


def render_yaml(nodes: list[dict]) -> str:
    return yaml.safe_dump_all(nodes, sort_keys=False)
