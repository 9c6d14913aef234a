"""Where GPU pods may go: the toleration of tainted GPU nodes.

GPU nodes are usually tainted so that only pods asking for GPUs land there
(the NVIDIA GPU Operator's convention: ``nvidia.com/gpu=present:NoSchedule``).
The same tolerations decide where the hub counts GPUs as free (a node whose
taints a pod cannot tolerate offers nothing), where notebook pods may be
scheduled, and where the notebook side's job pods may: written once here,
configured once (``GpuProfiles.gpu_tolerations``). Pure and stdlib-only.
"""

from __future__ import annotations

GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource of a whole NVIDIA GPU, and the key of the GPU nodes' taint."""

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
"""The GPU Operator's node label naming the GPU model; a GPU pod's node selector uses it."""

GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
"""Tolerates the GPU Operator's taint whatever its value. Copy before changing it."""


def default_gpu_tolerations() -> list[dict[str, str]]:
    """The default tolerations of GPU pods, as a fresh list of fresh dicts."""
    return [dict(GPU_TOLERATION)]
